// Support: small helpers for the engine tests: random states and weights, error measures.

import Testing
@testable import RevNet
@testable import Tensor

func randomTensor(_ shape: [Int], seed: UInt64, std: Float = 1) -> Tensor {
    var rng = SeededGenerator(seed: seed)
    return Tensor.randomNormal(shape, std: std, using: &rng)
}

/// Block parameters with He-initialised weights (std sqrt(2/(9·C_out))) and small random biases.
func heParameters(_ arch: any ReversibleArchitecture, width: Int, seed: UInt64) -> [Tensor] {
    arch.blockParameters(width: width).enumerated().map { k, spec in
        spec.role == .convolutionWeight
            ? randomTensor(spec.shape, seed: seed &+ UInt64(k), std: (2 / Float(9 * spec.shape[0])).squareRoot())
            : randomTensor(spec.shape, seed: seed &+ UInt64(k), std: 0.1)
    }
}

/// max|a − b| / max|b| over all parts.
func relativeMaxError(_ a: BlockState, _ b: BlockState) -> Float {
    var diff: Float = 0, scale: Float = 0
    for (x, y) in zip(a.parts, b.parts) {
        for i in 0..<x.count { diff = max(diff, abs(x.data[i] - y.data[i])) }
        scale = max(scale, y.maxAbs())
    }
    return diff / scale
}

/// ‖a − b‖₂ / ‖b‖₂.
func relativeL2(_ a: Tensor, _ b: Tensor) -> Double {
    var num = 0.0, den = 0.0
    for i in 0..<a.count {
        let d = Double(a.data[i]) - Double(b.data[i])
        num += d * d
        den += Double(b.data[i]) * Double(b.data[i])
    }
    return (num / max(den, 1e-300)).squareRoot()
}

let architectures: [any ReversibleArchitecture] = [Hamiltonian(), Midpoint(), Leapfrog()]

/// A small network config for an architecture (widths chosen to be valid for all three).
func smallConfig(_ arch: String, blocks: [Int], widths: [Int] = [4, 8], input: [Int] = [3, 8, 8],
                 classes: Int = 5, h: Float = 0.1) -> NetworkConfig {
    NetworkConfig(architecture: arch, inputShape: input, numClasses: classes,
                  unitChannels: widths, unitBlocks: blocks, h: h)
}

/// A random batch and labels for a config.
func batch(_ config: NetworkConfig, n: Int, seed: UInt64) -> (Tensor, [Int]) {
    let x = randomTensor([n] + config.inputShape, seed: seed)
    var rng = SeededGenerator(seed: seed &+ 1)
    return (x, (0..<n).map { _ in Int(rng.next() % UInt64(config.numClasses)) })
}
