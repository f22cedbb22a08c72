// Locked: a value guarded by a pthread mutex, with Synchronization.Mutex's `withLock` shape.
//
// Why not Mutex itself: on Linux, Mutex locks with futex calls inside the (uninstrumented) Swift
// runtime, so ThreadSanitizer sees none of its happens-before edges and reports every access
// made under it as a race. TSan intercepts pthread mutexes, so with this type its reports mean
// something. Uncontended cost is of the same order, and no lock here is held across more than a
// few instructions of bookkeeping.

#if canImport(Glibc)
import Glibc
#endif

public final class Locked<Value>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value.
    @inline(__always)
    public func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
