// TwoStepScheme: the machinery Midpoint and Leapfrog share. Both are two-step schemes
//
//   start-up (block 1):  Y₁ = Y₀ + γ₀·f(Y₀)
//   block j ≥ 2:         Y_j = α·Y_{j−1} + β·Y_{j−2} + γ·f(Y_{j−1})
//   inverse of j ≥ 2:    Y_{j−2} = (Y_j − α·Y_{j−1} − γ·f(Y_{j−1})) / β      (β = ±1)
//
// and differ only in f and the coefficients, which each architecture's file states next to
// docs/spec/NETWORKS.md's formula. State: [Y₀] entering a unit, [Y_{j−1}, Y_j] after block j; the unit
// output is the last part. Tape: [V, a] of the one evaluation of f.
//
// Backward, with output gradient [a, b] for (Y_{j−1}, Y_j):
//   block j ≥ 2:  dY_{j−2} = β·b;  dY_{j−1} = a + α·b + J_fᵀ(γ·b)
//   start-up:     dY₀ = a + b + J_fᵀ(γ₀·b)      (Y₀ is both kept and stepped from)

import Tensor

public struct TwoStepCoefficients: Sendable {
    var alpha: Float, beta: Float, gamma: Float, startGamma: Float
}

/// A two-step architecture: its residual function and coefficients; the rest is shared below.
protocol TwoStepArchitecture: ReversibleArchitecture {
    associatedtype Function: ResidualFunction
    func coefficients(_ h: Float) -> TwoStepCoefficients
}

extension TwoStepArchitecture {
    public var functionsPerBlock: Int { 1 }
    public var transitionGroups: Int { 1 }

    public func blockParameters(width: Int) -> [ParameterSpec] {
        [ParameterSpec("K", [width, width, 3, 3], .convolutionWeight), ParameterSpec("b", [width], .bias)]
    }

    /// The transition pads zero channels symmetrically around the whole state.
    public func widthProblem(_ unitChannels: [Int]) -> String? {
        for u in 1..<unitChannels.count where (unitChannels[u] - unitChannels[u - 1]) % 2 != 0 {
            return "widths \(unitChannels[u - 1]) → \(unitChannels[u]) differ by \(unitChannels[u] - unitChannels[u - 1]); the transition pads zero channels symmetrically, so the difference must be even"
        }
        return nil
    }

    public func enter(_ x: Tensor, _ ctx: EngineContext) throws(TensorError) -> BlockState { BlockState([x]) }
    public func exit(_ state: BlockState, _ ctx: EngineContext) throws(TensorError) -> Tensor { state.parts[state.parts.count - 1] }

    public func exitGradient(_ dx: Tensor, finalState: BlockState, _ ctx: EngineContext) throws(TensorError) -> BlockState {
        finalState.parts.count == 1
            ? BlockState([dx])
            : BlockState([Tensor(zeros: finalState.parts[0].shape), dx])
    }

    public func enterGradient(_ dState: BlockState, _ ctx: EngineContext) throws(TensorError) -> Tensor {
        try expectParts(dState, 1, block: 0, "unit input gradient")
        return dState.parts[0]
    }

    public func forward(block j: Int, parameters p: [Tensor], state: BlockState, h: Float,
                        _ ctx: EngineContext) throws(TensorError) -> (BlockState, BlockTape) {
        try twoStepForward(Function.self, coefficients(h), block: j, parameters: p, state: state, ctx)
    }

    public func reconstruct(block j: Int, parameters p: [Tensor], output: BlockState, h: Float,
                            _ ctx: EngineContext) throws(TensorError) -> (BlockState, BlockTape) {
        try twoStepReconstruct(Function.self, coefficients(h), block: j, parameters: p, output: output, ctx)
    }

    public func backward(block j: Int, parameters p: [Tensor], tape: BlockTape, outputGradient: BlockState,
                         gradients: inout [Tensor], h: Float, _ ctx: EngineContext) throws(TensorError) -> BlockState {
        try twoStepBackward(Function.self, coefficients(h), block: j, parameters: p, tape: tape,
                            outputGradient: outputGradient, gradients: &gradients, ctx)
    }
}


extension TwoStepArchitecture {
    func twoStepForward<F: ResidualFunction>(_ f: F.Type, _ c: TwoStepCoefficients, block j: Int, parameters p: [Tensor],
                        state: BlockState, _ ctx: EngineContext) throws(TensorError) -> (BlockState, BlockTape) {
        try expectParts(state, j == 0 ? 1 : 2, block: j, "input state")
        let current = state.parts[state.parts.count - 1]
        try expectParameters(p, width: current.shape[1], block: j)
        let (fy, tape) = try f.evaluate(current, weight: p[0], bias: p[1], ctx)
        let next = j == 0
            ? try combine(c.startGamma, fy, 1, current)
            : try combine(c.gamma, fy, c.beta, state.parts[0], c.alpha, current)
        return (BlockState([current, next]), BlockTape(tape))
    }

    func twoStepReconstruct<F: ResidualFunction>(_ f: F.Type, _ c: TwoStepCoefficients, block j: Int, parameters p: [Tensor],
                            output: BlockState, _ ctx: EngineContext) throws(TensorError) -> (BlockState, BlockTape) {
        try expectParts(output, 2, block: j, "output state")
        let (current, next) = (output.parts[0], output.parts[1])
        try expectParameters(p, width: current.shape[1], block: j)
        // f is evaluated at Y_{j−1} both ways, so the start-up block re-evaluates it at Y₀ too:
        // its tape is what backward needs, and Y₀ itself was kept in the state.
        let (fy, tape) = try f.evaluate(current, weight: p[0], bias: p[1], ctx)
        if j == 0 { return (BlockState([current]), BlockTape(tape)) }
        let inv = 1 / c.beta
        let previous = try combine(-c.gamma * inv, fy, inv, next, -c.alpha * inv, current)
        return (BlockState([previous, current]), BlockTape(tape))
    }

    func twoStepBackward<F: ResidualFunction>(_ f: F.Type, _ c: TwoStepCoefficients, block j: Int, parameters p: [Tensor],
                         tape: BlockTape, outputGradient: BlockState, gradients g: inout [Tensor],
                         _ ctx: EngineContext) throws(TensorError) -> BlockState {
        try expectParts(outputGradient, 2, block: j, "output gradient")
        let (da, db) = (outputGradient.parts[0], outputGradient.parts[1])
        let v = db.scaled(by: j == 0 ? c.startGamma : c.gamma)
        let jt = try g.withPair(0, 1) { dK, dBias throws(TensorError) in
            try f.vjp(v, tape: tape.tensors[0...], weight: p[0], dK: &dK, db: &dBias, ctx)
        }
        if j == 0 { return BlockState([try combine(1, da, 1, db, 1, jt)]) }
        return BlockState([db.scaled(by: c.beta), try combine(1, da, c.alpha, db, 1, jt)])
    }
}
