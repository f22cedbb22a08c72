// ReferenceSgemm: the machine's GEMM rate on given threads, a yardstick the benchmarks
// interleave with what they measure.

/// The machine's GEMM rate on given threads: a square sgemm split by rows over the worker pool,
/// one single-threaded OpenBLAS call per slice. Benchmarks interleave it with what they measure.
public final class ReferenceSgemm: @unchecked Sendable {   // c is written only inside run()
    public let size: Int
    public let threads: ComputeThreads
    private let a: Tensor, b: Tensor
    private let c: UnsafeMutablePointer<Float>

    public init(size: Int = 2048, threads: ComputeThreads) {
        self.size = size
        self.threads = threads
        var rng = SeededGenerator(seed: 1)
        a = Tensor.randomUniform([size, size], using: &rng)
        b = Tensor.randomUniform([size, size], using: &rng)
        c = .allocate(capacity: size * size)
        c.initialize(repeating: 0, count: size * size)
    }

    deinit { c.deallocate() }

    /// FLOPs of one run.
    public var flops: Double { 2 * Double(size) * Double(size) * Double(size) }

    public func run() {
        let size = size, c = c
        a.data.withUnsafeBufferPointer { ap in
            b.data.withUnsafeBufferPointer { bp in
                threads.forEachChunk(of: size) { _, rows in
                    BLAS.sgemm(m: rows.count, n: size, k: size, a: ap.baseAddress! + rows.lowerBound * size,
                               lda: size, b: bp.baseAddress!, ldb: size, beta: 0,
                               c: c + rows.lowerBound * size, ldc: size)
                }
            }
        }
    }
}
