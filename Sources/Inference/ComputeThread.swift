// ComputeThread: a dedicated thread that runs jobs one at a time (model batches; on threads of
// their own, model loads), so that compute never runs on an event loop or a Swift concurrency
// pool thread. Callers await the result.

import CShims
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public final class ComputeThread: @unchecked Sendable {   // state guarded by `mutex`
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var jobs: [() -> Void] = []

    private let name: String

    /// A thread named `name` (as top -H and perf show it).
    public init(name: String = "revserve-compute") {
        self.name = name
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        let box = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let compute = Unmanaged<ComputeThread>.fromOpaque(raw!).takeRetainedValue()
            rs_thread_set_name(compute.name)
            compute.loop()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed with \(rc)")
        pthread_detach(thread)
    }

    /// Runs `work` on the compute thread and returns its result.
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            enqueue {
                do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
            }
        }
    }

    private func enqueue(_ job: @escaping () -> Void) {
        pthread_mutex_lock(mutex)
        jobs.append(job)
        pthread_cond_signal(wake)
        pthread_mutex_unlock(mutex)
    }

    private func loop() {
        while true {
            pthread_mutex_lock(mutex)
            while jobs.isEmpty { pthread_cond_wait(wake, mutex) }
            let job = jobs.removeFirst()
            pthread_mutex_unlock(mutex)
            job()
        }
    }
}
