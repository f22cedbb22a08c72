// ResidualFunctions: the two nonlinear maps the reversible blocks are built from, each with its
// evaluation and vector-Jacobian product side by side.
//
//   symmetric      G(V) = Kᵀ σ(K V + b)      (Hamiltonian's f₁ and f₂, Leapfrog's G)
//   antisymmetric  F(V) = σ(K V − Kᵀ V + b)  (Midpoint's F)
//
// Shapes: V (N, C_in, H, W); K (C_out, C_in, 3, 3); b (C_out). G maps C_in → C_in; F needs a
// square K and maps C → C. Evaluation returns the tape [V, a] with a = σ(…), the activation:
// its sign pattern is σ's derivative, so the pre-activation need not be kept.

import Tensor

/// A residual function's evaluation and vector-Jacobian product for one parameter pair (K, b).
protocol ResidualFunction {
    static func evaluate(_ v: Tensor, weight k: Tensor, bias b: Tensor,
                         _ ctx: EngineContext) throws(TensorError) -> (Tensor, [Tensor])
    static func vjp(_ g: Tensor, tape: ArraySlice<Tensor>, weight k: Tensor,
                    dK: inout Tensor, db: inout Tensor, _ ctx: EngineContext) throws(TensorError) -> Tensor
}

enum SymmetricResidual: ResidualFunction {
    /// G(V) and its tape [V, a], a = σ(K V + b).
    static func evaluate(_ v: Tensor, weight k: Tensor, bias b: Tensor,
                         _ ctx: EngineContext) throws(TensorError) -> (Tensor, [Tensor]) {
        ctx.counter?.increment()
        let a = try Conv3x3.forward(v, weight: k, bias: b, relu: true, threads: ctx.threads, workspace: ctx.workspace)
        let out = try ConvTranspose3x3.forward(a, weight: k, threads: ctx.threads, workspace: ctx.workspace)
        return (out, [v, a])
    }

    /// Returns J_G(V)ᵀ g; accumulates ∂⟨G(V), g⟩/∂K into dK and /∂b into db.
    static func vjp(_ g: Tensor, tape: ArraySlice<Tensor>, weight k: Tensor,
                    dK: inout Tensor, db: inout Tensor, _ ctx: EngineContext) throws(TensorError) -> Tensor {
        let v = tape[tape.startIndex], a = tape[tape.startIndex + 1]
        // Through the outer Kᵀ: its input gradient is K g, its weight gradient pairs a with g.
        let da = try Conv3x3.forward(g, weight: k, threads: ctx.threads, workspace: ctx.workspace)
        try ConvTranspose3x3.accumulateWeightGradient(&dK, input: a, outputGradient: g, threads: ctx.threads)
        // Through σ and the inner K.
        let du = try ReLU.backward(da, input: a)
        try Conv3x3.accumulateBiasGradient(&db, outputGradient: du)
        try Conv3x3.accumulateWeightGradient(&dK, input: v, outputGradient: du, threads: ctx.threads)
        return try Conv3x3.inputGradient(du, weight: k, threads: ctx.threads, workspace: ctx.workspace)
    }
}

enum AntisymmetricResidual: ResidualFunction {
    /// The operator K − Kᵀ as one convolution weight: K − flipT(K) (see Conv3x3.flippedTransposed).
    static func operatorWeight(_ k: Tensor) throws(TensorError) -> Tensor {
        var a = k
        try a.add(Conv3x3.flippedTransposed(k), scaledBy: -1)
        return a
    }

    /// F(V) and its tape [V, a], a = F(V) itself.
    static func evaluate(_ v: Tensor, weight k: Tensor, bias b: Tensor,
                         _ ctx: EngineContext) throws(TensorError) -> (Tensor, [Tensor]) {
        ctx.counter?.increment()
        let a = try Conv3x3.forward(v, weight: operatorWeight(k), bias: b, relu: true, threads: ctx.threads,
                                    workspace: ctx.workspace)
        return (a, [v, a])
    }

    /// Returns J_F(V)ᵀ g; accumulates the gradients of ⟨F(V), g⟩ into dK and db. With
    /// A = K − flipT(K), ∂/∂K = dA − flipT(dA) because flipT is its own adjoint.
    static func vjp(_ g: Tensor, tape: ArraySlice<Tensor>, weight k: Tensor,
                    dK: inout Tensor, db: inout Tensor, _ ctx: EngineContext) throws(TensorError) -> Tensor {
        let v = tape[tape.startIndex], a = tape[tape.startIndex + 1]
        let du = try ReLU.backward(g, input: a)
        try Conv3x3.accumulateBiasGradient(&db, outputGradient: du)
        var dA = Tensor(zeros: k.shape)
        try Conv3x3.accumulateWeightGradient(&dA, input: v, outputGradient: du, threads: ctx.threads)
        try dK.add(dA)
        try dK.add(Conv3x3.flippedTransposed(dA), scaledBy: -1)
        return try Conv3x3.inputGradient(du, weight: operatorWeight(k), threads: ctx.threads, workspace: ctx.workspace)
    }
}

/// α·x + β·y (+ γ·z), elementwise, in one pass into a fresh tensor. Shapes must match.
func combine(_ alpha: Float, _ x: Tensor, _ beta: Float, _ y: Tensor,
             _ gamma: Float = 0, _ z: Tensor? = nil) throws(TensorError) -> Tensor {
    guard x.shape == y.shape, z.map({ $0.shape == x.shape }) ?? true else {
        throw .shapeMismatch(op: "combine", detail: "\(x.shape), \(y.shape)\(z.map { ", \($0.shape)" } ?? "")")
    }
    return x.data.withUnsafeBufferPointer { xp in
        y.data.withUnsafeBufferPointer { yp in
            Tensor(uninitializedShape: x.shape) { o in
                if let z {
                    z.data.withUnsafeBufferPointer { zp in
                        for i in o.indices { o[i] = alpha * xp[i] + beta * yp[i] + gamma * zp[i] }
                    }
                } else {
                    for i in o.indices { o[i] = alpha * xp[i] + beta * yp[i] }
                }
            }
        }
    }
}
