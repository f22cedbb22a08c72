// WorkerPool: long-lived compute threads for fork-join loops over chunks of a batch.
//
// Dispatch's concurrentPerform measured badly here: a worker that wakes late leaves the caller to
// run its chunks serially, so a 2-thread convolution took anywhere from 1× to 2× the ideal time.
// This pool keeps `count − 1` threads parked on a condition variable; a job hands out chunk
// indices from a shared counter, the calling thread works too, and the call returns once every
// chunk is done. The threads are dedicated to compute: never an event loop, never a Dispatch queue.

#if canImport(Glibc)
import Glibc
#endif
import Synchronization

final class WorkerPool: @unchecked Sendable {
    // All mutable state below is guarded by `mutex`, except `next`, which is atomic.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var generation = 0
    private var job: ((Int) -> Void)?
    private var chunks = 0
    private var busyWorkers = 0
    private let next = Atomic<Int>(0)
    /// Held for a whole job: one job at a time; a caller that finds it held runs inline instead.
    private let inUse = Mutex<Bool>(false)
    let workers: Int

    private static let pools = Mutex<[Int: WorkerPool]>([:])

    /// The process-wide pool that runs jobs on `threads` threads (the caller plus threads − 1 workers).
    static func shared(threads: Int) -> WorkerPool {
        pools.withLock { pools in
            if let pool = pools[threads] { return pool }
            let pool = WorkerPool(workers: threads - 1)
            pools[threads] = pool
            return pool
        }
    }

    private init(workers: Int) {
        self.workers = workers
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(done, nil)
        for _ in 0..<workers { spawn() }
    }

    /// Runs `body(i)` for every i in 0..<count across the pool; returns when all are done.
    func run(chunks count: Int, _ body: (Int) -> Void) {
        let acquired = inUse.withLock { busy in busy ? false : { busy = true; return true }() }
        guard acquired, workers > 0, count > 1 else {
            for i in 0..<count { body(i) }   // nested or concurrent use: run here, still correct
            if acquired { inUse.withLock { $0 = false } }
            return
        }
        defer { inUse.withLock { $0 = false } }
        withoutActuallyEscaping(body) { body in
            pthread_mutex_lock(mutex)
            job = body
            chunks = count
            next.store(0, ordering: .relaxed)
            busyWorkers = workers
            generation &+= 1
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)

            drain(body, count)

            pthread_mutex_lock(mutex)
            while busyWorkers > 0 { pthread_cond_wait(done, mutex) }
            job = nil
            pthread_mutex_unlock(mutex)
        }
    }

    /// Takes chunk indices until none are left.
    private func drain(_ body: (Int) -> Void, _ count: Int) {
        while true {
            let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
            guard i < count else { return }
            body(i)
        }
    }

    private func workerLoop() {
        var seen = 0
        pthread_mutex_lock(mutex)
        while true {
            while generation == seen { pthread_cond_wait(wake, mutex) }
            seen = generation
            let body = job!, count = chunks
            pthread_mutex_unlock(mutex)
            drain(body, count)
            pthread_mutex_lock(mutex)
            busyWorkers -= 1
            if busyWorkers == 0 { pthread_cond_signal(done) }
        }
    }

    private func spawn() {
        let box = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let pool = Unmanaged<WorkerPool>.fromOpaque(raw!).takeRetainedValue()
            pool.workerLoop()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed with \(rc)")
        pthread_detach(thread)
    }
}
