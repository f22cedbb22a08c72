// Leapfrog: the Leapfrog reversible block (docs/spec/NETWORKS.md §2) on the shared two-step machinery
// (TwoStepScheme.swift), which supplies forward, reconstruction and backward.
//
//   G_j(Y) = K_jᵀ σ(K_j Y + b_j)
//   start-up (zero velocity):  Y₁ = Y₀ − h²·G₁(Y₀)                        (γ₀ = −h²)
//   block j ≥ 2:               Y_j = 2Y_{j−1} − Y_{j−2} − h²·G_j(Y_{j−1})  (α = 2, β = −1, γ = −h²)
//   inverse j ≥ 2:             Y_{j−2} = 2Y_{j−1} − Y_j − h²·G_j(Y_{j−1})
//
// Parameters, in order: K (C, C, 3, 3), b (C).

import Tensor

public struct Leapfrog: TwoStepArchitecture {
    typealias Function = SymmetricResidual

    public init() {}
    public var name: String { "leapfrog" }

    func coefficients(_ h: Float) -> TwoStepCoefficients {
        TwoStepCoefficients(alpha: 2, beta: -1, gamma: -h * h, startGamma: -h * h)
    }

    /// K and Kᵀ: two convolutions of C × C.
    public func blockFlops(width: Int, pixels: Int) -> Double { 2 * 2 * Double(width * width) * 9 * Double(pixels) }
}
