// BatchNorm: per-channel batch normalisation over (N, H, W) for NCHW tensors, in training mode
// (batch statistics, running-statistics update) and eval mode (running statistics), with backward.
//
// Running statistics follow PyTorch: running ← (1 − momentum)·running + momentum·batch, with the
// *unbiased* batch variance (divided by M − 1, M = N·H·W) for the running value, while the
// normalisation itself uses the biased variance (divided by M).

/// What the backward pass needs from a training-mode forward: per-channel mean and 1/sqrt(var + eps).
public struct BatchNormCache: Sendable {
    /// (C) batch mean.
    public var mean: [Float]
    /// (C) 1 / sqrt(biased batch variance + eps).
    public var invStd: [Float]
}

public enum BatchNorm {
    /// Training mode: y = γ·(x − μ_B)/sqrt(σ²_B + eps) + β, and updates the running statistics.
    /// - Parameters:
    ///   - x: (N, C, H, W); gamma, beta, runningMean, runningVar: (C)
    /// - Returns: y (N, C, H, W) and the cache for `backward`.
    public static func forwardTraining(_ x: Tensor, gamma: Tensor, beta: Tensor,
                                       runningMean: inout Tensor, runningVar: inout Tensor,
                                       momentum: Float = 0.1, eps: Float = 1e-5) throws(TensorError) -> (Tensor, BatchNormCache) {
        let op = "BatchNorm.forwardTraining"
        let (n, c, h, w) = try checkParameters(x, gamma, beta, runningMean, runningVar, op: op)
        let m = n * h * w, hw = h * w
        guard m > 1 else {
            throw .invalidArgument(op: op, detail: "training needs more than one value per channel, input is \(x.shape)")
        }
        guard momentum >= 0, momentum <= 1 else {
            throw .invalidArgument(op: op, detail: "momentum must be in [0, 1], got \(momentum)")
        }
        var cache = BatchNormCache(mean: [Float](repeating: 0, count: c), invStd: [Float](repeating: 0, count: c))
        x.data.withUnsafeBufferPointer { xp in
            for ch in 0..<c {
                // Two passes in double: the mean first, then the centred sum of squares (stable).
                var s = 0.0
                for i in 0..<n { let b = (i * c + ch) * hw; for j in 0..<hw { s += Double(xp[b + j]) } }
                let mean = s / Double(m)
                var ss = 0.0
                for i in 0..<n {
                    let b = (i * c + ch) * hw
                    for j in 0..<hw { let d = Double(xp[b + j]) - mean; ss += d * d }
                }
                let biased = ss / Double(m), unbiased = ss / Double(m - 1)
                cache.mean[ch] = Float(mean)
                cache.invStd[ch] = Float(1 / (biased + Double(eps)).squareRoot())
                runningMean.data[ch] = (1 - momentum) * runningMean.data[ch] + momentum * Float(mean)
                runningVar.data[ch] = (1 - momentum) * runningVar.data[ch] + momentum * Float(unbiased)
            }
        }
        let y = normalise(x, mean: cache.mean, invStd: cache.invStd, gamma: gamma, beta: beta)
        return (y, cache)
    }

    /// Eval mode: y = γ·(x − running mean)/sqrt(running var + eps) + β, or σ(y) with `relu`
    /// (fused: one pass over the data instead of two). Shapes as in training.
    public static func forwardInference(_ x: Tensor, gamma: Tensor, beta: Tensor,
                                        runningMean: Tensor, runningVar: Tensor,
                                        eps: Float = 1e-5, relu: Bool = false) throws(TensorError) -> Tensor {
        _ = try checkParameters(x, gamma, beta, runningMean, runningVar, op: "BatchNorm.forwardInference")
        let invStd = runningVar.data.map { 1 / ($0 + eps).squareRoot() }
        return normalise(x, mean: runningMean.data, invStd: invStd, gamma: gamma, beta: beta, relu: relu)
    }

    /// Backward of training mode. Returns dx; accumulates dγ += Σ dy·x̂ and dβ += Σ dy.
    /// - Parameters: dy, x: (N, C, H, W); gamma, dGamma, dBeta: (C); cache from forwardTraining.
    public static func backward(_ dy: Tensor, input x: Tensor, gamma: Tensor, cache: BatchNormCache,
                                dGamma: inout Tensor, dBeta: inout Tensor) throws(TensorError) -> Tensor {
        let op = "BatchNorm.backward"
        try requireSameShape(dy, x, op: op)
        let (n, c, h, w) = try nchw(x, "input", op: op)
        for (t, name) in [(gamma, "gamma"), (dGamma, "gamma gradient"), (dBeta, "beta gradient")] {
            try requireShape(t, [c], name, op: op)
        }
        guard cache.mean.count == c, cache.invStd.count == c else {
            throw .shapeMismatch(op: op, detail: "cache holds \(cache.mean.count) channels, input has \(c)")
        }
        let hw = h * w, m = Double(n * hw)
        var dx = Tensor(zeros: x.shape)
        x.data.withUnsafeBufferPointer { xp in
            dy.data.withUnsafeBufferPointer { gp in
                dx.data.withUnsafeMutableBufferPointer { dp in
                    for ch in 0..<c {
                        let mu = cache.mean[ch], inv = cache.invStd[ch]
                        var sumDy = 0.0, sumDyXhat = 0.0
                        for i in 0..<n {
                            let b = (i * c + ch) * hw
                            for j in 0..<hw {
                                let g = Double(gp[b + j])
                                sumDy += g
                                sumDyXhat += g * Double((xp[b + j] - mu) * inv)
                            }
                        }
                        dGamma.data[ch] += Float(sumDyXhat)
                        dBeta.data[ch] += Float(sumDy)
                        // dx = γ·inv/M · (M·dy − Σdy − x̂·Σ(dy·x̂))
                        let k = Float(Double(gamma.data[ch] * inv) / m)
                        let a = Float(sumDy), bcoef = Float(sumDyXhat), mf = Float(m)
                        for i in 0..<n {
                            let b = (i * c + ch) * hw
                            for j in 0..<hw {
                                let xhat = (xp[b + j] - mu) * inv
                                dp[b + j] = k * (mf * gp[b + j] - a - xhat * bcoef)
                            }
                        }
                    }
                }
            }
        }
        return dx
    }

    private static func normalise(_ x: Tensor, mean: [Float], invStd: [Float],
                                  gamma: Tensor, beta: Tensor, relu: Bool = false) -> Tensor {
        let (n, c) = (x.shape[0], x.shape[1])
        let hw = x.shape[2] * x.shape[3]
        return Tensor(uninitializedShape: x.shape) { yp in
            x.data.withUnsafeBufferPointer { xp in
                for i in 0..<n {
                    for ch in 0..<c {
                        let scale = gamma.data[ch] * invStd[ch]
                        let shift = beta.data[ch] - mean[ch] * scale
                        let b = (i * c + ch) * hw
                        if relu {
                            for j in 0..<hw { yp[b + j] = Swift.max(xp[b + j] * scale + shift, 0) }
                        } else {
                            for j in 0..<hw { yp[b + j] = xp[b + j] * scale + shift }
                        }
                    }
                }
            }
        }
    }

    private static func checkParameters(_ x: Tensor, _ gamma: Tensor, _ beta: Tensor, _ mean: Tensor,
                                        _ variance: Tensor, op: String) throws(TensorError) -> (Int, Int, Int, Int) {
        let dims = try nchw(x, "input", op: op)
        for (t, name) in [(gamma, "gamma"), (beta, "beta"), (mean, "running mean"), (variance, "running variance")] {
            try requireShape(t, [dims.c], name, op: op)
        }
        return dims
    }
}
