// ReLU: σ(x) = max(x, 0) and its backward. Input gradients are returned; nothing is cached.
//
// Both are branch-free SIMD selects: signs of activations are random, so a branchy loop would
// mispredict half its elements.

public enum ReLU {
    /// σ(x), any shape (NaN → 0, as !(NaN > 0)).
    public static func forward(_ x: Tensor) -> Tensor {
        Tensor(uninitializedShape: x.shape) { y in
            x.data.withUnsafeBufferPointer { xp in
                select(y.baseAddress!, keep: xp.baseAddress!, where: xp.baseAddress!, count: y.count)
            }
        }
    }

    /// dx = dy ⊙ [x > 0]. `x` is the forward input (or output: both have the same sign pattern).
    public static func backward(_ dy: Tensor, input x: Tensor) throws(TensorError) -> Tensor {
        try requireSameShape(dy, x, op: "ReLU.backward")
        return Tensor(uninitializedShape: dy.shape) { dx in
            dy.data.withUnsafeBufferPointer { g in
                x.data.withUnsafeBufferPointer { xp in
                    select(dx.baseAddress!, keep: g.baseAddress!, where: xp.baseAddress!, count: dx.count)
                }
            }
        }
    }

    /// out[i] = value[i] where sign[i] > 0, else 0.
    @inline(__always)
    private static func select(_ out: UnsafeMutablePointer<Float>, keep value: UnsafePointer<Float>,
                               where sign: UnsafePointer<Float>, count: Int) {
        let zero = SIMD8<Float>()
        var i = 0
        while i + 8 <= count {
            let s = UnsafeRawPointer(sign + i).loadUnaligned(as: SIMD8<Float>.self)
            let v = UnsafeRawPointer(value + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: v.replacing(with: zero, where: .!(s .> zero)), as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            out[i] = sign[i] > 0 ? value[i] : 0
            i += 1
        }
    }
}
