// TestSupport: comparison and finite-difference helpers shared by the kernel tests.

import Testing
@testable import Tensor

/// max|a − b| / max|b|: the error measure the issues state tolerances in.
func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "compare \(a.shape) with \(b.shape)")
    var diff: Float = 0
    for i in 0..<a.count { diff = max(diff, abs(a.data[i] - b.data[i])) }
    return diff / max(b.maxAbs(), .leastNormalMagnitude)
}

/// A random direction with the same shape as `t`.
func randomLike(_ t: Tensor, seed: UInt64, range: ClosedRange<Float> = -1...1) -> Tensor {
    var rng = SeededGenerator(seed: seed)
    return Tensor.randomUniform(t.shape, in: range, using: &rng)
}

/// x + alpha · d.
func shifted(_ x: Tensor, _ d: Tensor, by alpha: Float) -> Tensor {
    var y = x
    try! y.add(d, scaledBy: alpha)
    return y
}

/// Central finite difference of `loss` at `x` along a random direction d, compared with the
/// analytic directional derivative ⟨gradient, d⟩. Returns |fd − analytic| / max(|analytic|, 1e-3·‖g‖₁).
func directionalGradientError(at x: Tensor, gradient: Tensor, eps: Float = 1e-2, seed: UInt64 = 99,
                              loss: (Tensor) throws -> Double) rethrows -> Double {
    let d = randomLike(x, seed: seed)
    let plus = try loss(shifted(x, d, by: eps))
    let minus = try loss(shifted(x, d, by: -eps))
    let fd = (plus - minus) / (2 * Double(eps))
    let analytic = try! gradient.dot(d)
    let l1 = gradient.data.reduce(0.0) { $0 + Double(abs($1)) }
    return abs(fd - analytic) / max(abs(analytic), 1e-3 * l1, 1e-12)
}

/// A fixed random tensor for a test.
func random(_ shape: [Int], seed: UInt64, std: Float = 1) -> Tensor {
    var rng = SeededGenerator(seed: seed)
    return Tensor.randomNormal(shape, std: std, using: &rng)
}

/// Asserts that `body` throws a TensorError whose message contains every string in `mentions`.
func expectTensorError(mentioning mentions: [String], sourceLocation: SourceLocation = #_sourceLocation,
                       _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected a TensorError", sourceLocation: sourceLocation)
    } catch let error as TensorError {
        for m in mentions {
            #expect(error.description.contains(m), "\(error.description) should mention \(m)",
                    sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected a TensorError, got \(error)", sourceLocation: sourceLocation)
    }
}
