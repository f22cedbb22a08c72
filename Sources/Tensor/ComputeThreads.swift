// ComputeThreads: how many cores a kernel may use, and the fork-join loop that spreads work over them.
//
// Kernels parallelise over the batch: each worker takes a contiguous slice of images and calls a
// single-threaded sgemm on it. OpenBLAS's own threading is switched off (see BLAS.swift) so the two
// never oversubscribe the cores. Work is split the same way for a given thread count, which keeps
// results bit-identical run to run.

import Dispatch
#if canImport(Glibc)
import Glibc
#endif

public struct ComputeThreads: Sendable, Equatable, CustomStringConvertible {
    /// Number of workers, at least 1.
    public let count: Int

    /// `count` workers; values below 1 mean one worker.
    public init(_ count: Int) { self.count = Swift.max(1, count) }

    /// One worker per online core.
    public static var all: ComputeThreads { ComputeThreads(onlineCores) }
    /// A single worker (the calling thread).
    public static let one = ComputeThreads(1)

    /// Cores the OS reports online.
    public static var onlineCores: Int {
        #if canImport(Glibc)
        return Swift.max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        #else
        return 1
        #endif
    }

    public var description: String { "\(count) thread\(count == 1 ? "" : "s")" }

    /// The contiguous ranges that `0..<total` is split into: at most `count` of them, never empty.
    public func chunks(of total: Int) -> [Range<Int>] {
        let k = Swift.min(count, total)
        guard k > 0 else { return [] }
        return (0..<k).map { i in (i * total / k)..<((i + 1) * total / k) }
    }

    /// Runs `body(chunkIndex, range)` for every chunk of `0..<total`, in parallel, and returns
    /// when all have finished. With one chunk the body runs on the calling thread.
    public func forEachChunk(of total: Int, _ body: (Int, Range<Int>) -> Void) {
        let parts = chunks(of: total)
        if parts.count <= 1 {
            if let only = parts.first { body(0, only) }
            return
        }
        // Dispatch wants a @Sendable closure. The kernels' bodies capture raw pointers into
        // disjoint slices of their outputs and all chunks finish before this returns, so handing
        // the body across threads is safe even though the compiler cannot prove it.
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: parts.count) { i in shared.value(i, parts[i]) }
        }
    }
}

/// Carries a value the compiler cannot prove Sendable across a fork-join boundary (see above).
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
