// KernelBenchmark: measures the convolution kernels' GFLOP/s on given shapes next to a large
// sgemm on the same threads, so kernel efficiency is read as a fraction of what the machine's
// GEMM reaches in the same run. The executable prints the results.

public struct KernelMeasurement: Sendable, Codable {
    public var kernel: String
    /// (N, C, H, W) of the convolution input; empty for the sgemm reference.
    public var shape: [Int]
    public var medianSeconds: Double
    public var gflops: Double
}

public enum KernelBenchmark {
    /// Median wall time of `repeats` runs of `body` after `warmup` untimed runs.
    public static func medianSeconds<E: Error>(repeats: Int, warmup: Int = 1,
                                               _ body: () throws(E) -> Void) throws(E) -> Double {
        for _ in 0..<warmup { try body() }
        var times: [Double] = []
        for _ in 0..<Swift.max(1, repeats) {
            let start = ContinuousClock.now
            try body()
            let d = ContinuousClock.now - start
            times.append(Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
        }
        times.sort()
        return times[times.count / 2]
    }

    /// A square sgemm of size `size` using OpenBLAS's own threading on `threads` cores.
    public static func largeSgemm(size: Int, threads: ComputeThreads, repeats: Int) -> KernelMeasurement {
        var rng = SeededGenerator(seed: 1)
        let a = Tensor.randomUniform([size, size], using: &rng)
        let b = Tensor.randomUniform([size, size], using: &rng)
        var c = Tensor(zeros: [size, size])
        let t = BLAS.withInternalThreads(threads.count) {
            medianSeconds(repeats: repeats) {
                a.data.withUnsafeBufferPointer { ap in
                    b.data.withUnsafeBufferPointer { bp in
                        c.data.withUnsafeMutableBufferPointer { cp in
                            BLAS.sgemm(m: size, n: size, k: size, a: ap.baseAddress!, lda: size,
                                       b: bp.baseAddress!, ldb: size, beta: 0, c: cp.baseAddress!, ldc: size)
                        }
                    }
                }
            }
        }
        return KernelMeasurement(kernel: "sgemm \(size)³", shape: [], medianSeconds: t,
                                 gflops: 2 * pow3(size) / t / 1e9)
    }

    /// Conv, transposed conv and conv weight gradient on (N, C, H, W) with a C→C 3×3 weight.
    public static func convolutions(batch n: Int, channels c: Int, size hw: Int,
                                    threads: ComputeThreads, repeats: Int) throws(TensorError) -> [KernelMeasurement] {
        var rng = SeededGenerator(seed: 2)
        let x = Tensor.randomNormal([n, c, hw, hw], using: &rng)
        let w = Tensor.randomNormal([c, c, 3, 3], std: 0.1, using: &rng)
        let b = Tensor.randomNormal([c], using: &rng)
        var dW = Tensor(zeros: [c, c, 3, 3])
        let flops = 2.0 * Double(n * c * c * 9 * hw * hw)
        let shape = [n, c, hw, hw]
        func measure(_ name: String, _ body: () throws(TensorError) -> Void) throws(TensorError) -> KernelMeasurement {
            let t = try medianSeconds(repeats: repeats, body)
            return KernelMeasurement(kernel: name, shape: shape, medianSeconds: t, gflops: flops / t / 1e9)
        }
        return [
            try measure("conv") { () throws(TensorError) in _ = try Conv3x3.forward(x, weight: w, bias: b, threads: threads) },
            try measure("conv transposed") { () throws(TensorError) in _ = try ConvTranspose3x3.forward(x, weight: w, threads: threads) },
            try measure("conv weight grad") { () throws(TensorError) in
                try Conv3x3.accumulateWeightGradient(&dW, input: x, outputGradient: x, threads: threads)
            },
        ]
    }

    private static func pow3(_ n: Int) -> Double { Double(n) * Double(n) * Double(n) }
}
