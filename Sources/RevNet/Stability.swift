// Stability: the numbers `revserve inspect` reports per unit: the largest h·‖K‖ over the unit's
// convolution weights (the step's size relative to the ODE's stiffness; the paper's stability
// argument needs it small), and the measured forward/inverse round-trip error on a random input.

import Tensor

public struct UnitStability: Sendable, Equatable, Codable {
    public var unit: Int
    /// max over the unit's convolution weights K of h·‖K‖₂, ‖K‖₂ the operator norm of the 3×3
    /// convolution on the unit's C×H×W inputs, estimated by power iteration.
    public var maxStepNorm: Float
    /// max|inverse(forward(x)) − x| / max|x| through the whole unit for x ~ N(0, 1).
    public var roundTripError: Float
}

extension Network {
    /// Per-unit stability figures; `iterations` power-iteration steps per weight.
    public func stabilityReport(iterations: Int = 20, seed: UInt64 = 0,
                                _ ctx: EngineContext = EngineContext()) throws(TensorError) -> [UnitStability] {
        var rng = SeededGenerator(seed: seed)
        var report: [UnitStability] = []
        for u in 0..<config.units {
            let (h, w) = config.resolution(unit: u), width = config.unitChannels[u]
            var largest: Float = 0
            for j in 0..<config.unitBlocks[u] {
                let specs = architecture.blockParameters(width: width)
                for (spec, k) in zip(specs, blockParameters(unit: u, block: j)) where spec.role == .convolutionWeight {
                    let norm = try Self.operatorNorm(k, height: h, width: w, iterations: iterations, &rng, ctx)
                    largest = max(largest, config.h * norm)
                }
            }
            let x = Tensor.randomNormal([2, width, h, w], using: &rng)
            let error = try roundTripError(unit: u, x, ctx)
            report.append(UnitStability(unit: u, maxStepNorm: largest, roundTripError: error))
        }
        return report
    }

    /// max|inverse(forward(x)) − x| / max|x| through unit `u` (all its blocks forward, then all
    /// inverse) for an input x of the unit's shape (N, C, H, W).
    public func roundTripError(unit u: Int, _ x: Tensor, _ ctx: EngineContext = EngineContext()) throws(TensorError) -> Float {
        var ctx = within(ctx)
        ctx.unit = u
        var state = try architecture.enter(x, ctx)
        for j in 0..<config.unitBlocks[u] {
            state = try architecture.forward(block: j, parameters: blockParameters(unit: u, block: j),
                                             state: state, h: config.h, ctx).0
        }
        for j in stride(from: config.unitBlocks[u] - 1, through: 0, by: -1) {
            state = try architecture.inverse(block: j, parameters: blockParameters(unit: u, block: j),
                                             output: state, h: config.h, ctx)
        }
        var back = try architecture.exit(state, ctx)
        try back.add(x, scaledBy: -1)
        let scale = x.maxAbs()
        return scale > 0 ? back.maxAbs() / scale : back.maxAbs()
    }

    /// The largest unit round-trip error on a random N(0, 1) probe batch of `images` images.
    public func reversibilityError(images: Int = 2, seed: UInt64 = 0, _ ctx: EngineContext = EngineContext()) throws(TensorError) -> Float {
        var rng = SeededGenerator(seed: seed)
        var worst: Float = 0
        for u in 0..<config.units {
            let (h, w) = config.resolution(unit: u)
            let e = try roundTripError(unit: u, Tensor.randomNormal([images, config.unitChannels[u], h, w], using: &rng), ctx)
            worst = e.isNaN ? .nan : max(worst, e)
            if worst.isNaN { break }
        }
        return worst
    }

    /// ‖K‖₂ of conv(·, K) on (C_in, H, W) inputs: power iteration on KᵀK.
    static func operatorNorm(_ k: Tensor, height: Int, width: Int, iterations: Int,
                             _ rng: inout SeededGenerator, _ ctx: EngineContext) throws(TensorError) -> Float {
        var v = Tensor.randomNormal([1, k.shape[1], height, width], using: &rng)
        var sigma: Float = 0
        for _ in 0..<max(1, iterations) {
            let norm = Float(try v.dot(v).squareRoot())
            guard norm > 0 else { return 0 }
            v.scale(by: 1 / norm)
            let kv = try Conv3x3.forward(v, weight: k, threads: ctx.threads)
            sigma = Float(try kv.dot(kv).squareRoot())
            v = try ConvTranspose3x3.forward(kv, weight: k, threads: ctx.threads)
        }
        return sigma
    }
}
