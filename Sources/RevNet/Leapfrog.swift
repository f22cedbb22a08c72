// Leapfrog: the Leapfrog reversible block (NETWORKS.md §2) on the shared two-step machinery.
//
//   G_j(Y) = K_jᵀ σ(K_j Y + b_j)
//   start-up (zero velocity):  Y₁ = Y₀ − h²·G₁(Y₀)                        (γ₀ = −h²)
//   block j ≥ 2:               Y_j = 2Y_{j−1} − Y_{j−2} − h²·G_j(Y_{j−1})  (α = 2, β = −1, γ = −h²)
//   inverse j ≥ 2:             Y_{j−2} = 2Y_{j−1} − Y_j − h²·G_j(Y_{j−1})
//
// Parameters, in order: K (C, C, 3, 3), b (C).

import Tensor

public struct Leapfrog: ReversibleArchitecture {
    public init() {}
    public var name: String { "leapfrog" }
    public var functionsPerBlock: Int { 1 }
    public var transitionGroups: Int { 1 }

    private typealias F = SymmetricResidual
    private func coefficients(_ h: Float) -> TwoStepCoefficients {
        TwoStepCoefficients(alpha: 2, beta: -1, gamma: -h * h, startGamma: -h * h)
    }

    public func blockParameters(width: Int) -> [ParameterSpec] {
        [ParameterSpec("K", [width, width, 3, 3], .convolutionWeight), ParameterSpec("b", [width], .bias)]
    }

    public func widthProblem(_ unitChannels: [Int]) -> String? { twoStepWidthProblem(unitChannels) }

    /// K and Kᵀ: two convolutions of C × C.
    public func blockFlops(width: Int, pixels: Int) -> Double { 2 * 2 * Double(width * width) * 9 * Double(pixels) }

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
