// ComputeThreads: how many cores a kernel may use, and the fork-join loop that spreads work over them.
//
// Kernels parallelise over the batch: the batch is cut into contiguous slices of images, each
// worker of a WorkerPool takes slices and calls a single-threaded sgemm on them. OpenBLAS's own threading is switched off (see BLAS.swift) so the two
// never oversubscribe the cores. Work is split the same way for a given thread count, which keeps
// results bit-identical run to run.

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

    /// The contiguous ranges that `0..<total` is split into, never empty. With several workers
    /// there are a few chunks per worker, so that a worker that starts late or runs slower
    /// (a busy core) does not leave the others idle at the end.
    public func chunks(of total: Int) -> [Range<Int>] {
        let k = Swift.min(count == 1 ? 1 : count * 4, total)
        guard k > 0 else { return [] }
        return (0..<k).map { i in (i * total / k)..<((i + 1) * total / k) }
    }

    /// Runs `body(accumulator, range)` for every chunk of `0..<total`, in parallel, each chunk
    /// adding into its own `size` floats (zero to start), and returns those, chunk after chunk:
    /// summed in that order, a reduction is the same run to run for a thread count.
    public func forEachChunk(of total: Int, accumulatingInto size: Int,
                             _ body: (UnsafeMutablePointer<Float>, Range<Int>) -> Void) -> [Float] {
        var partials = [Float](repeating: 0, count: chunks(of: total).count * size)
        partials.withUnsafeMutableBufferPointer { pp in
            guard let base = pp.baseAddress else { return }
            forEachChunk(of: total) { chunk, range in body(base + chunk * size, range) }
        }
        return partials
    }

    /// Runs `body(chunkIndex, range)` for every chunk of `0..<total`, in parallel, and returns
    /// when all have finished. With one chunk the body runs on the calling thread. Chunks write
    /// disjoint memory, which is why the body may capture raw pointers into shared outputs.
    public func forEachChunk(of total: Int, _ body: (Int, Range<Int>) -> Void) {
        let parts = chunks(of: total)
        if parts.count <= 1 {
            if let only = parts.first { body(0, only) }
            return
        }
        WorkerPool.shared(threads: count).run(chunks: parts.count) { i in body(i, parts[i]) }
    }
}
