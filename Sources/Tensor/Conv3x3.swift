// Conv3x3 and ConvTranspose3x3: the fast convolution kernels (im2col + OpenBLAS sgemm, threaded
// over the batch) with their input, weight and bias gradients. Naive references: ConvReference.swift.
//
// conv(x, W): x (N, Cin, H, W), W (Cout, Cin, 3, 3) → (N, Cout, H, W); stride 1, zero padding 1,
// PyTorch's cross-correlation convention. convT(u, W) with the same W maps (N, Cout, H, W) →
// (N, Cin, H, W) and is the exact adjoint of conv: ⟨conv(x, W), u⟩ = ⟨x, convT(u, W)⟩.
// Gradients use that duality: the input gradient of each is the other one.

public enum Conv3x3 {
    /// y = conv(x, W) + b, or σ(conv(x, W) + b) with `relu` (fused: applied block by block).
    /// - Parameters:
    ///   - x: (N, Cin, H, W)
    ///   - weight: (Cout, Cin, 3, 3)
    ///   - bias: (Cout), or nil for none
    /// - Returns: (N, Cout, H, W)
    public static func forward(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, relu: Bool = false,
                               threads: ComputeThreads = .one) throws(TensorError) -> Tensor {
        let op = "Conv3x3.forward"
        let (n, cin, h, w) = try nchw(x, "input", op: op)
        let cout = try convWeightChannels(weight, op: op).out
        guard weight.shape[1] == cin else {
            throw .shapeMismatch(op: op, detail: "weight \(weight.shape) does not fit input \(x.shape): expected [\(cout), \(cin), 3, 3]")
        }
        if let bias { try requireShape(bias, [cout], "bias", op: op) }
        return lowered(x: x, weight: weight, bias: bias, relu: relu, threads: threads)
    }

    /// dx = convT(dy, W): the gradient of conv with respect to its input.
    /// - Parameters: dy: (N, Cout, H, W); weight: (Cout, Cin, 3, 3). Returns (N, Cin, H, W).
    public static func inputGradient(_ dy: Tensor, weight: Tensor,
                                     threads: ComputeThreads = .one) throws(TensorError) -> Tensor {
        try ConvTranspose3x3.forward(dy, weight: weight, threads: threads)
    }

    /// dW += Σₙ dy ⋆ x, the gradient of ⟨conv(x, W), dy⟩ with respect to W.
    /// - Parameters: dW: (Cout, Cin, 3, 3), accumulated into; x: (N, Cin, H, W); dy: (N, Cout, H, W).
    public static func accumulateWeightGradient(_ dW: inout Tensor, input x: Tensor, outputGradient dy: Tensor,
                                                threads: ComputeThreads = .one) throws(TensorError) {
        let op = "Conv3x3.accumulateWeightGradient"
        let (n, cin, h, w) = try nchw(x, "input", op: op)
        let (dn, cout, dh, dw) = try nchw(dy, "output gradient", op: op)
        guard dn == n, dh == h, dw == w else {
            throw .shapeMismatch(op: op, detail: "input \(x.shape) and output gradient \(dy.shape) differ in N, H or W")
        }
        try requireShape(dW, [cout, cin, 3, 3], "weight gradient", op: op)
        let kk = cin * 9, hw = h * w
        let parts = threads.chunks(of: n)
        // One private accumulator per chunk, summed in chunk order: deterministic for a thread count.
        var partials = [Float](repeating: 0, count: parts.count * cout * kk)
        x.data.withUnsafeBufferPointer { xp in
            dy.data.withUnsafeBufferPointer { gp in
                partials.withUnsafeMutableBufferPointer { pp in
                    let xb = xp.baseAddress!, gb = gp.baseAddress!, pb = pp.baseAddress!
                    threads.forEachChunk(of: n) { chunk, range in
                        let rb = im2colRowsPerBlock(height: h, width: w)
                        ScratchBuffers.shared.with(capacity: kk * rb * w) { col in
                        for i in range {
                            for r0 in stride(from: 0, to: h, by: rb) {
                                let rows = r0..<Swift.min(h, r0 + rb), cols = rows.count * w
                                im2col3x3(xb + i * cin * hw, channels: cin, height: h, width: w,
                                          rows: rows, into: col)
                                BLAS.sgemm(transB: true, m: cout, n: kk, k: cols,
                                           a: gb + i * cout * hw + r0 * w, lda: hw, b: col, ldb: cols,
                                           beta: 1, c: pb + chunk * cout * kk, ldc: kk)
                            }
                        }
                        }
                    }
                }
            }
        }
        dW.data.withUnsafeMutableBufferPointer { d in
            partials.withUnsafeBufferPointer { p in
                for chunk in 0..<parts.count {
                    let base = chunk * cout * kk
                    for j in 0..<(cout * kk) { d[j] += p[base + j] }
                }
            }
        }
    }

    /// The weight Wf with conv(x, Wf) = convT(x, W): Wf[ci, co, kh, kw] = W[co, ci, 2 − kh, 2 − kw].
    /// The map is a permutation of the entries and its own inverse (and adjoint), so for a square
    /// W the antisymmetric operator K − Kᵀ is the single convolution with weight W − Wf.
    public static func flippedTransposed(_ weight: Tensor) throws(TensorError) -> Tensor {
        _ = try convWeightChannels(weight, op: "Conv3x3.flippedTransposed")
        return flippedTransposedWeight(weight)
    }

    /// db += Σ_{n,h,w} dy[n, c, h, w].
    /// - Parameters: db: (C), accumulated into; dy: (N, C, H, W).
    public static func accumulateBiasGradient(_ db: inout Tensor, outputGradient dy: Tensor) throws(TensorError) {
        let op = "Conv3x3.accumulateBiasGradient"
        let (n, c, h, w) = try nchw(dy, "output gradient", op: op)
        try requireShape(db, [c], "bias gradient", op: op)
        let hw = h * w
        db.data.withUnsafeMutableBufferPointer { d in
            dy.data.withUnsafeBufferPointer { g in
                for ch in 0..<c {
                    var s: Float = 0
                    for i in 0..<n {
                        let base = (i * c + ch) * hw
                        for j in 0..<hw { s += g[base + j] }
                    }
                    d[ch] += s
                }
            }
        }
    }

    /// The shared lowering: y = W · im2col(x) (+ b) per image, images split over the workers.
    /// Shapes are checked by the callers.
    /// The shared lowering: y = W · im2col(x) (+ b) (then ReLU) per block of output rows, images
    /// split over the workers. Bias and ReLU are applied to each block while it is still in
    /// cache. The sgemms write every element, so the output starts uninitialised.
    /// Shapes are checked by the callers.
    static func lowered(x: Tensor, weight: Tensor, bias: Tensor?, relu: Bool = false,
                        threads: ComputeThreads) -> Tensor {
        let n = x.shape[0], cin = x.shape[1], h = x.shape[2], w = x.shape[3]
        let cout = weight.shape[0]
        let kk = cin * 9, hw = h * w
        guard n * cout * hw > 0 else { return Tensor(zeros: [n, cout, h, w]) }
        let biasValues = bias?.data ?? []
        return Tensor(uninitializedShape: [n, cout, h, w]) { yp in
            x.data.withUnsafeBufferPointer { xp in
            weight.data.withUnsafeBufferPointer { wp in
            biasValues.withUnsafeBufferPointer { bp in
                let xb = xp.baseAddress!, wb = wp.baseAddress!, yb = yp.baseAddress!
                let rb = im2colRowsPerBlock(height: h, width: w)
                threads.forEachChunk(of: n) { _, range in
                    ScratchBuffers.shared.with(capacity: kk * rb * w) { col in
                        for i in range {
                            let out = yb + i * cout * hw
                            for r0 in stride(from: 0, to: h, by: rb) {
                                let rows = r0..<Swift.min(h, r0 + rb), cols = rows.count * w
                                im2col3x3(xb + i * cin * hw, channels: cin, height: h, width: w,
                                          rows: rows, into: col)
                                BLAS.sgemm(m: cout, n: cols, k: kk, a: wb, lda: kk, b: col, ldb: cols,
                                           beta: 0, c: out + r0 * w, ldc: hw)
                                epilogue(out + r0 * w, channels: cout, columns: cols, stride: hw,
                                         bias: bp.isEmpty ? nil : bp.baseAddress, relu: relu)
                            }
                        }
                    }
                }
            }
            }
            }
        }
    }

    /// Adds the bias and applies ReLU to `channels` rows of `columns` values, `stride` apart.
    @inline(__always)
    static func epilogue(_ y: UnsafeMutablePointer<Float>, channels: Int, columns: Int, stride: Int,
                         bias: UnsafePointer<Float>?, relu: Bool) {
        guard bias != nil || relu else { return }
        for c in 0..<channels {
            let row = y + c * stride, b = bias?[c] ?? 0
            if relu {
                for j in 0..<columns { row[j] = Swift.max(row[j] + b, 0) }
            } else {
                for j in 0..<columns { row[j] += b }
            }
        }
    }
}

public enum ConvTranspose3x3 {
    /// x' = convT(u, W) + b, the adjoint of Conv3x3.forward with the same weight.
    /// - Parameters:
    ///   - u: (N, Cout, H, W)
    ///   - weight: (Cout, Cin, 3, 3), the convolution's weight (not flipped)
    ///   - bias: (Cin), or nil for none
    /// - Returns: (N, Cin, H, W)
    public static func forward(_ u: Tensor, weight: Tensor, bias: Tensor? = nil,
                               threads: ComputeThreads = .one) throws(TensorError) -> Tensor {
        let op = "ConvTranspose3x3.forward"
        let (n, cout, h, w) = try nchw(u, "input", op: op)
        let cin = try convWeightChannels(weight, op: op).in
        guard weight.shape[0] == cout else {
            throw .shapeMismatch(op: op, detail: "weight \(weight.shape) does not fit input \(u.shape): expected [\(cout), \(cin), 3, 3]")
        }
        if let bias { try requireShape(bias, [cin], "bias", op: op) }
        return Conv3x3.lowered(x: u, weight: flippedTransposedWeight(weight), bias: bias, threads: threads)
    }

    /// du = conv(g, W): the gradient of convT with respect to its input.
    /// - Parameters: g: (N, Cin, H, W); weight: (Cout, Cin, 3, 3). Returns (N, Cout, H, W).
    public static func inputGradient(_ g: Tensor, weight: Tensor,
                                     threads: ComputeThreads = .one) throws(TensorError) -> Tensor {
        try Conv3x3.forward(g, weight: weight, threads: threads)
    }

    /// dW += the gradient of ⟨convT(u, W), g⟩ with respect to W. Since ⟨convT(u, W), g⟩ =
    /// ⟨u, conv(g, W)⟩, it is conv's weight gradient with input g and output gradient u.
    /// - Parameters: dW: (Cout, Cin, 3, 3); u: (N, Cout, H, W); g: (N, Cin, H, W).
    public static func accumulateWeightGradient(_ dW: inout Tensor, input u: Tensor, outputGradient g: Tensor,
                                                threads: ComputeThreads = .one) throws(TensorError) {
        do {
            try Conv3x3.accumulateWeightGradient(&dW, input: g, outputGradient: u, threads: threads)
        } catch {
            throw .shapeMismatch(op: "ConvTranspose3x3.accumulateWeightGradient",
                                 detail: "input \(u.shape), output gradient \(g.shape), weight gradient \(dW.shape)")
        }
    }

    /// db += Σ_{n,h,w} g[n, c, h, w]. - Parameters: db: (Cin); g: (N, Cin, H, W).
    public static func accumulateBiasGradient(_ db: inout Tensor, outputGradient g: Tensor) throws(TensorError) {
        try Conv3x3.accumulateBiasGradient(&db, outputGradient: g)
    }
}

/// Checks that `weight` is (Cout, Cin, 3, 3) and returns its channel counts.
func convWeightChannels(_ weight: Tensor, op: String) throws(TensorError) -> (out: Int, in: Int) {
    guard weight.rank == 4, weight.shape[2] == 3, weight.shape[3] == 3 else {
        throw .shapeMismatch(op: op, detail: "weight must be (Cout, Cin, 3, 3), got \(weight.shape)")
    }
    return (weight.shape[0], weight.shape[1])
}
