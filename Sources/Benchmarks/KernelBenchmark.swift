// KernelBenchmark: measures the convolution kernels' GFLOP/s on given shapes next to a large
// sgemm on the same threads, so kernel efficiency is read as a fraction of what the machine's
// GEMM reaches in the same run. The executable prints the results.
//
// The machine is shared and its speed drifts over seconds, so the contenders are interleaved:
// each round times the reference sgemm once and every kernel once, and medians are taken over
// rounds. A slow period then hurts the reference and the kernels alike.

import Tensor

public struct KernelMeasurement: Sendable, Codable {
    public var kernel: String
    /// (N, C, H, W) of the convolution input; empty for the sgemm reference.
    public var shape: [Int]
    public var medianSeconds: Double
    public var gflops: Double
}

public struct KernelBenchmarkReport: Sendable, Codable {
    public var threads: Int
    public var rounds: Int
    public var sgemm: KernelMeasurement
    public var kernels: [KernelMeasurement]
}

public enum KernelBenchmark {
    /// The (C, H = W) convolution shapes of hamiltonian-74: C per half of 32, 64, 112 channels.
    public static let hamiltonian74Shapes = [(16, 32), (32, 16), (56, 8)]

    /// Times, over `rounds` interleaved rounds after one warm-up round, a `sgemmSize`³ sgemm
    /// split over `threads` and conv, transposed conv and conv weight gradient on every
    /// (C, H = W) shape at batch `batch` with a C → C weight.
    public static func run(shapes: [(channels: Int, size: Int)], batch: Int, sgemmSize: Int,
                           threads: ComputeThreads, rounds: Int) throws(TensorError) -> KernelBenchmarkReport {
        var cases: [(name: String, shape: [Int], flops: Double, body: () throws(TensorError) -> Void)] = []
        cases.append(sgemmCase(size: sgemmSize, threads: threads))
        var rng = SeededGenerator(seed: 2)
        for (c, hw) in shapes {
            let x = Tensor.randomNormal([batch, c, hw, hw], using: &rng)
            let w = Tensor.randomNormal([c, c, 3, 3], std: 0.1, using: &rng)
            let b = Tensor.randomNormal([c], using: &rng)
            var dW = Tensor(zeros: [c, c, 3, 3])
            let flops = 2.0 * Double(batch * c * c * 9 * hw * hw), shape = [batch, c, hw, hw]
            cases.append(("conv", shape, flops, { () throws(TensorError) in
                _ = try Conv3x3.forward(x, weight: w, bias: b, threads: threads) }))
            cases.append(("conv transposed", shape, flops, { () throws(TensorError) in
                _ = try ConvTranspose3x3.forward(x, weight: w, threads: threads) }))
            // Both algorithms by name, whichever Conv3x3.forward picks for the shape (GFLOP/s
            // count a direct convolution's multiply-adds, so Winograd's read as effective).
            cases.append(("conv nine-tap", shape, flops, {
                _ = ConvolutionAlgorithms.nineTap(x, weight: w, bias: b, threads: threads) }))
            cases.append(("conv winograd", shape, flops, {
                _ = ConvolutionAlgorithms.winograd(x, weight: w, bias: b, threads: threads) }))
            cases.append(("conv weight grad", shape, flops, { () throws(TensorError) in
                try Conv3x3.accumulateWeightGradient(&dW, input: x, outputGradient: x, threads: threads) }))
            cases.append(("weight grad nine-tap", shape, flops, {
                ConvolutionAlgorithms.nineTapWeightGradient(&dW, input: x, outputGradient: x, threads: threads) }))
            cases.append(("weight grad winograd", shape, flops, {
                ConvolutionAlgorithms.winogradWeightGradient(&dW, input: x, outputGradient: x, threads: threads) }))
        }
        var times = [[Double]](repeating: [], count: cases.count)
        for round in 0...Swift.max(1, rounds) {
            for (i, c) in cases.enumerated() {
                let start = ContinuousClock.now
                try c.body()
                if round > 0 { times[i].append(seconds(ContinuousClock.now - start)) }
            }
        }
        let rows = cases.indices.map { i in
            let t = times[i].sorted()[times[i].count / 2]
            return KernelMeasurement(kernel: cases[i].name, shape: cases[i].shape, medianSeconds: t,
                                     gflops: cases[i].flops / t / 1e9)
        }
        return KernelBenchmarkReport(threads: threads.count, rounds: Swift.max(1, rounds),
                                     sgemm: rows[0], kernels: Array(rows.dropFirst()))
    }

    /// A square sgemm split by rows over the same worker threads the kernels use: the
    /// machine's GEMM rate on these cores, without OpenBLAS's own thread pool.
    private static func sgemmCase(size: Int, threads: ComputeThreads)
        -> (name: String, shape: [Int], flops: Double, body: () throws(TensorError) -> Void) {
        let reference = ReferenceSgemm(size: size, threads: threads)
        return ("sgemm \(size)³", [], reference.flops, { () throws(TensorError) in reference.run() })
    }

    private static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
