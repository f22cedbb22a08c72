// Midpoint: the Midpoint reversible block (docs/spec/NETWORKS.md §2) on the shared two-step machinery
// (TwoStepScheme.swift), which supplies forward, reconstruction and backward.
//
//   F_j(Y) = σ(K_j Y − K_jᵀ Y + b_j)
//   start-up:        Y₁ = Y₀ + h·F₁(Y₀)                  (γ₀ = h)
//   block j ≥ 2:     Y_j = Y_{j−2} + 2h·F_j(Y_{j−1})     (α = 0, β = 1, γ = 2h)
//   inverse j ≥ 2:   Y_{j−2} = Y_j − 2h·F_j(Y_{j−1})
//
// Parameters, in order: K (C, C, 3, 3), b (C).

import Tensor

public struct Midpoint: TwoStepArchitecture {
    typealias Function = AntisymmetricResidual

    public init() {}
    public var name: String { "midpoint" }

    func coefficients(_ h: Float) -> TwoStepCoefficients {
        TwoStepCoefficients(alpha: 0, beta: 1, gamma: 2 * h, startGamma: h)
    }

    /// K − Kᵀ is applied as one convolution (weight K − flipT(K)).
    public func blockFlops(width: Int, pixels: Int) -> Double { 2 * Double(width * width) * 9 * Double(pixels) }
}
