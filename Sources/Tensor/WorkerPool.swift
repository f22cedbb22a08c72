// WorkerPool: long-lived compute threads for fork-join loops over chunks of a batch.
//
// Not Dispatch's concurrentPerform: there a worker that wakes late leaves the caller to run its
// chunks serially, so a parallel loop can take as long as a serial one.
// This pool keeps `count − 1` threads parked on a condition variable; a job hands out chunk
// indices from a shared counter, the calling thread works too, and the call returns once every
// chunk is done. The threads are dedicated to compute: never an event loop, never a Dispatch queue.
//
// Both sides spin briefly before sleeping, but only while jobs are short: a batch of one image
// makes calls so short that a futex wake-up (costly under a hypervisor) would eat what a second
// thread gains. Jobs of a large batch are long enough that a wake-up is noise, and a spinning
// core would only be taken from the event loops of a loaded daemon. Spins yield between polls
// and end after `spinNanoseconds`, so an idle process parks.

#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Locking
import Synchronization

final class WorkerPool: @unchecked Sendable {
    // All mutable state below is guarded by `mutex`, except `next`, which is atomic.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // `job` and `chunks` are written under `mutex` before `generation` is bumped (release) and
    // read by workers after they see the new generation (acquire).
    private let generation = Atomic<Int>(0)
    private var job: ((Int) -> Void)?
    private var chunks = 0
    /// Workers that have not finished the current job.
    private let busyWorkers = Atomic<Int>(0)
    private let next = Atomic<Int>(0)
    /// How long a worker (and a caller waiting for workers) spins before sleeping.
    private let spinNanoseconds: UInt64 = 50_000
    /// Jobs shorter than this are "short": after one, workers spin for the next.
    private let shortJobNanoseconds: UInt64 = 500_000
    /// Whether the last job was short (written by the caller, read by workers).
    private let lastJobWasShort = Atomic<Bool>(false)
    /// Held for a whole job: one job at a time; a caller that finds it held runs inline instead.
    private let inUse = Locked<Bool>(false)
    let workers: Int

    private static let pools = Locked<[Int: WorkerPool]>([:])

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
            let started = DispatchTime.now().uptimeNanoseconds
            pthread_mutex_lock(mutex)
            job = body
            chunks = count
            next.store(0, ordering: .relaxed)
            busyWorkers.store(workers, ordering: .relaxed)
            generation.add(1, ordering: .releasing)
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)

            drain(body, count)

            if !spin(until: { busyWorkers.load(ordering: .acquiring) == 0 }) {
                pthread_mutex_lock(mutex)
                while busyWorkers.load(ordering: .acquiring) > 0 { pthread_cond_wait(done, mutex) }
                pthread_mutex_unlock(mutex)
            }
            job = nil
            lastJobWasShort.store(DispatchTime.now().uptimeNanoseconds - started < shortJobNanoseconds, ordering: .relaxed)
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
        while true {
            let spun = lastJobWasShort.load(ordering: .relaxed)
                && spin(until: { generation.load(ordering: .acquiring) != seen })
            if !spun {
                pthread_mutex_lock(mutex)
                while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(wake, mutex) }
                pthread_mutex_unlock(mutex)
            }
            seen = generation.load(ordering: .acquiring)
            runCurrentJob()
            if busyWorkers.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                pthread_mutex_lock(mutex)      // the caller may be about to wait: signal under the lock
                pthread_cond_signal(done)
                pthread_mutex_unlock(mutex)
            }
        }
    }

    /// Drains the current job. A function of its own so that the worker's reference to the job's
    /// closure is released before it reports done (the caller checks that nothing kept it).
    @inline(never)
    private func runCurrentJob() {
        drain(job!, chunks)
    }

    /// Polls `condition` for up to `spinNanoseconds`; true as soon as it holds. Yields between
    /// rounds of polls, so that on a busy machine the spin gives its core to runnable threads
    /// (an event loop, another process) instead of taking it from them.
    @inline(__always)
    private func spin(until condition: () -> Bool) -> Bool {
        let start = DispatchTime.now().uptimeNanoseconds
        while true {
            for _ in 0..<128 where condition() { return true }
            if DispatchTime.now().uptimeNanoseconds - start > spinNanoseconds { return condition() }
            sched_yield()
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
