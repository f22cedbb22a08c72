// ConvolutionAlgorithms: each 3×3 convolution algorithm by name, whichever Conv3x3 would pick
// for the shape, so that benchmarks and tests can compare them. Shapes as Conv3x3's.

public enum ConvolutionAlgorithms {
    /// conv(x, W) + b through Winograd tiles (Winograd.swift). x (N, Cin, H, W), W (Cout, Cin, 3, 3).
    public static func winograd(_ x: Tensor, weight: Tensor, bias: Tensor?, threads: ComputeThreads) -> Tensor {
        Winograd.convolve(x: x, weight: weight, transposed: false, bias: bias, relu: false, threads: threads)
    }

    /// conv(x, W) + b as nine shifted sgemms on a padded grid (ConvLowering.swift).
    public static func nineTap(_ x: Tensor, weight: Tensor, bias: Tensor?, threads: ComputeThreads) -> Tensor {
        Conv3x3.lowered(x: x, weight: weight, bias: bias, threads: threads)
    }

    /// dW += Σₙ dy ⋆ x through Winograd tiles. dW (Cout, Cin, 3, 3), x (N, Cin, H, W), dy (N, Cout, H, W).
    public static func winogradWeightGradient(_ dW: inout Tensor, input x: Tensor, outputGradient dy: Tensor, threads: ComputeThreads) {
        Winograd.accumulateWeightGradient(&dW, input: x, outputGradient: dy, threads: threads)
    }

    /// dW += Σₙ dy ⋆ x as nine tap sums.
    public static func nineTapWeightGradient(_ dW: inout Tensor, input x: Tensor, outputGradient dy: Tensor, threads: ComputeThreads) {
        Conv3x3.loweredWeightGradient(&dW, input: x, outputGradient: dy, threads: threads)
    }
}
