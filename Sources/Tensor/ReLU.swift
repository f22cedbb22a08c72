// ReLU: σ(x) = max(x, 0) and its backward. Input gradients are returned; nothing is cached.

public enum ReLU {
    /// σ(x), any shape.
    public static func forward(_ x: Tensor) -> Tensor {
        var y = x
        y.data.withUnsafeMutableBufferPointer { p in
            for i in p.indices where !(p[i] > 0) { p[i] = 0 }
        }
        return y
    }

    /// dx = dy ⊙ [x > 0]. `x` is the forward input (or output: both have the same sign pattern).
    public static func backward(_ dy: Tensor, input x: Tensor) throws(TensorError) -> Tensor {
        try requireSameShape(dy, x, op: "ReLU.backward")
        var dx = dy
        dx.data.withUnsafeMutableBufferPointer { d in
            x.data.withUnsafeBufferPointer { xp in
                for i in d.indices where !(xp[i] > 0) { d[i] = 0 }
            }
        }
        return dx
    }
}
