// Linear: the fully connected layer y = x·Wᵀ + b (PyTorch's weight layout) with backward, fast
// (sgemm) beside a naive reference.

public enum Linear {
    /// y = x·Wᵀ + b. x: (N, In); weight: (Out, In); bias: (Out). Returns (N, Out).
    public static func forward(_ x: Tensor, weight: Tensor, bias: Tensor) throws(TensorError) -> Tensor {
        let (n, fin, fout) = try dims(x, weight, bias, op: "Linear.forward")
        var y = Tensor(zeros: [n, fout])
        for i in 0..<n { for o in 0..<fout { y.data[i * fout + o] = bias.data[o] } }
        guard n > 0, fin > 0, fout > 0 else { return y }
        x.data.withUnsafeBufferPointer { xp in
            weight.data.withUnsafeBufferPointer { wp in
                y.data.withUnsafeMutableBufferPointer { yp in
                    BLAS.sgemm(transB: true, m: n, n: fout, k: fin, a: xp.baseAddress!, lda: fin,
                               b: wp.baseAddress!, ldb: fin, beta: 1, c: yp.baseAddress!, ldc: fout)
                }
            }
        }
        return y
    }

    /// Returns dx = dy·W and accumulates dW += dyᵀ·x, db += Σₙ dy.
    /// - Parameters: dy: (N, Out); x: (N, In); weight, dWeight: (Out, In); dBias: (Out).
    public static func backward(_ dy: Tensor, input x: Tensor, weight: Tensor,
                                dWeight: inout Tensor, dBias: inout Tensor) throws(TensorError) -> Tensor {
        let op = "Linear.backward"
        let (n, fin, fout) = try dims(x, weight, dBias, op: op)
        try requireShape(dy, [n, fout], "output gradient", op: op)
        try requireShape(dWeight, [fout, fin], "weight gradient", op: op)
        var dx = Tensor(zeros: [n, fin])
        guard n > 0, fin > 0, fout > 0 else { return dx }
        dy.data.withUnsafeBufferPointer { gp in
            let g = gp.baseAddress!
            x.data.withUnsafeBufferPointer { xp in
                weight.data.withUnsafeBufferPointer { wp in
                    dx.data.withUnsafeMutableBufferPointer { dxp in
                        BLAS.sgemm(m: n, n: fin, k: fout, a: g, lda: fout, b: wp.baseAddress!, ldb: fin,
                                   beta: 0, c: dxp.baseAddress!, ldc: fin)
                    }
                    dWeight.data.withUnsafeMutableBufferPointer { dwp in
                        BLAS.sgemm(transA: true, m: fout, n: fin, k: n, a: g, lda: fout, b: xp.baseAddress!, ldb: fin,
                                   beta: 1, c: dwp.baseAddress!, ldc: fin)
                    }
                }
            }
            for o in 0..<fout {
                var s: Float = 0
                for i in 0..<n { s += g[i * fout + o] }
                dBias.data[o] += s
            }
        }
        return dx
    }

    /// Naive reference of forward: double-precision dot products.
    public static func referenceForward(_ x: Tensor, weight: Tensor, bias: Tensor) -> Tensor {
        let (n, fin, fout) = (x.shape[0], x.shape[1], weight.shape[0])
        var y = Tensor(zeros: [n, fout])
        for i in 0..<n {
            for o in 0..<fout {
                var s = Double(bias.data[o])
                for k in 0..<fin { s += Double(x.data[i * fin + k]) * Double(weight.data[o * fin + k]) }
                y.data[i * fout + o] = Float(s)
            }
        }
        return y
    }

    private static func dims(_ x: Tensor, _ weight: Tensor, _ bias: Tensor, op: String) throws(TensorError) -> (Int, Int, Int) {
        guard x.rank == 2 else { throw .shapeMismatch(op: op, detail: "input must be (N, In), got \(x.shape)") }
        guard weight.rank == 2, weight.shape[1] == x.shape[1] else {
            throw .shapeMismatch(op: op, detail: "weight must be (Out, \(x.shape[1])) for input \(x.shape), got \(weight.shape)")
        }
        try requireShape(bias, [weight.shape[0]], "bias", op: op)
        return (x.shape[0], x.shape[1], weight.shape[0])
    }
}
