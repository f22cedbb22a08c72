// Midpoint: the Midpoint reversible block (NETWORKS.md §2) on the shared two-step machinery.
//
//   F_j(Y) = σ(K_j Y − K_jᵀ Y + b_j)
//   start-up:        Y₁ = Y₀ + h·F₁(Y₀)                  (γ₀ = h)
//   block j ≥ 2:     Y_j = Y_{j−2} + 2h·F_j(Y_{j−1})     (α = 0, β = 1, γ = 2h)
//   inverse j ≥ 2:   Y_{j−2} = Y_j − 2h·F_j(Y_{j−1})
//
// Parameters, in order: K (C, C, 3, 3), b (C).

import Tensor

public struct Midpoint: ReversibleArchitecture {
    public init() {}
    public var name: String { "midpoint" }
    public var functionsPerBlock: Int { 1 }
    public var transitionGroups: Int { 1 }

    private typealias F = AntisymmetricResidual
    private func coefficients(_ h: Float) -> TwoStepCoefficients {
        TwoStepCoefficients(alpha: 0, beta: 1, gamma: 2 * h, startGamma: h)
    }

    public func blockParameters(width: Int) -> [ParameterSpec] {
        [ParameterSpec("K", [width, width, 3, 3], .convolutionWeight), ParameterSpec("b", [width], .bias)]
    }

    public func widthProblem(_ unitChannels: [Int]) -> String? {
        twoStepWidthProblem(unitChannels)
    }

    /// K − Kᵀ is applied as one convolution (weight K − flipT(K)).
    public func blockFlops(width: Int, pixels: Int) -> Double { 2 * Double(width * width) * 9 * Double(pixels) }

    public func enter(_ x: Tensor) throws(TensorError) -> BlockState { BlockState([x]) }
    public func exit(_ state: BlockState) throws(TensorError) -> Tensor { state.parts[state.parts.count - 1] }
    public func exitGradient(_ dx: Tensor, finalState: BlockState) throws(TensorError) -> BlockState {
        twoStepExitGradient(dx, finalState: finalState)
    }
    public func enterGradient(_ dState: BlockState) throws(TensorError) -> Tensor { try twoStepEnterGradient(dState) }

    public func forward(block j: Int, parameters p: [Tensor], state: BlockState, h: Float,
                        _ ctx: EngineContext) throws(TensorError) -> (BlockState, BlockTape) {
        try twoStepForward(F.self, coefficients(h), block: j, parameters: p, state: state, ctx)
    }

    public func reconstruct(block j: Int, parameters p: [Tensor], output: BlockState, h: Float,
                            _ ctx: EngineContext) throws(TensorError) -> (BlockState, BlockTape) {
        try twoStepReconstruct(F.self, coefficients(h), block: j, parameters: p, output: output, ctx)
    }

    public func backward(block j: Int, parameters p: [Tensor], tape: BlockTape, outputGradient: BlockState,
                         gradients: inout [Tensor], h: Float, _ ctx: EngineContext) throws(TensorError) -> BlockState {
        try twoStepBackward(F.self, coefficients(h), block: j, parameters: p, tape: tape,
                            outputGradient: outputGradient, gradients: &gradients, ctx)
    }
}

/// Midpoint and Leapfrog pad the whole state symmetrically at a transition.
func twoStepWidthProblem(_ unitChannels: [Int]) -> String? {
    for u in 1..<unitChannels.count where (unitChannels[u] - unitChannels[u - 1]) % 2 != 0 {
        return "widths \(unitChannels[u - 1]) → \(unitChannels[u]) differ by \(unitChannels[u] - unitChannels[u - 1]); the transition pads zero channels symmetrically, so the difference must be even"
    }
    return nil
}
