// Conv3x3 and ConvTranspose3x3: the fast convolution kernels (Winograd F(4×4, 3×3) or
// F(2×2, 3×3) through 36 or 16 sgemms, Winograd.swift, or nine shifted OpenBLAS sgemms on a
// padded grid for few channels, ConvLowering.swift) with their input, weight and bias
// gradients. Naive references: ConvReference.swift.
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
    ///   - workspace: the caller's kept weight transforms and scratch buffers (KernelWorkspace)
    /// - Returns: (N, Cout, H, W)
    public static func forward(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, relu: Bool = false,
                               threads: ComputeThreads = .one, workspace: KernelWorkspace = .unowned) throws(TensorError) -> Tensor {
        let op = "Conv3x3.forward"
        let (_, cin, _, _) = try nchw(x, "input", op: op)
        let cout = try convWeightChannels(weight, op: op).out
        guard weight.shape[1] == cin else {
            throw .shapeMismatch(op: op, detail: "weight \(weight.shape) does not fit input \(x.shape): expected [\(cout), \(cin), 3, 3]")
        }
        if let bias { try requireShape(bias, [cout], "bias", op: op) }
        if Winograd.pays(inputChannels: cin, outputChannels: cout) {
            return Winograd.convolve(x: x, weight: weight, transposed: false, bias: bias, relu: relu, threads: threads,
                                     workspace: workspace)
        }
        return lowered(x: x, weight: weight, bias: bias, relu: relu, threads: threads, scratch: workspace.scratch)
    }

    /// dx = convT(dy, W): the gradient of conv with respect to its input.
    /// - Parameters: dy: (N, Cout, H, W); weight: (Cout, Cin, 3, 3). Returns (N, Cin, H, W).
    public static func inputGradient(_ dy: Tensor, weight: Tensor, threads: ComputeThreads = .one,
                                     workspace: KernelWorkspace = .unowned) throws(TensorError) -> Tensor {
        try ConvTranspose3x3.forward(dy, weight: weight, threads: threads, workspace: workspace)
    }

    /// dW += Σₙ dy ⋆ x, the gradient of ⟨conv(x, W), dy⟩ with respect to W: through Winograd
    /// tiles (WinogradWeightGradient.swift) where the forward uses them, else the nine-tap sums.
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
        if Winograd.pays(inputChannels: cin, outputChannels: cout) {
            return Winograd.accumulateWeightGradient(&dW, input: x, outputGradient: dy, threads: threads)
        }
        loweredWeightGradient(&dW, input: x, outputGradient: dy, threads: threads)
    }

    /// The nine-tap weight gradient (ConvLowering.swift): per image and tap, dW_tap += dy ·
    /// shifted_tapᵀ on the padded grid. Shapes are checked by the caller.
    static func loweredWeightGradient(_ dW: inout Tensor, input x: Tensor, outputGradient dy: Tensor,
                                      threads: ComputeThreads) {
        let n = x.shape[0], cin = x.shape[1], h = x.shape[2], w = x.shape[3], cout = dy.shape[1]
        let hw = h * w, taps = 9 * cout * cin
        guard taps > 0 else { return }
        let grid = PaddedGrid(height: h, width: w), rb = grid.rowsPerBlock, nb = grid.columns(rows: rb)
        // One private tap-major accumulator (9 × Cout × Cin) per chunk, summed in chunk order:
        // deterministic for a thread count.
        let partials = x.data.withUnsafeBufferPointer { xp in
            dy.data.withUnsafeBufferPointer { gp in
                let xb = xp.baseAddress!, gb = gp.baseAddress!
                return threads.forEachChunk(of: n, accumulatingInto: taps) { acc, range in
                    let scratch = ScratchBuffers.shared
                    scratch.with(capacity: cin * grid.planeSize) { padded in
                    scratch.with(capacity: cout * nb) { dyBlock in
                        for i in range {
                            grid.pad(xb + i * cin * hw, channels: cin, into: padded)
                            for r0 in stride(from: 0, to: h, by: rb) {
                                let rows = r0..<Swift.min(h, r0 + rb), cols = grid.columns(rows: rows.count)
                                grid.spread(gb + i * cout * hw, channels: cout, rows: rows, into: dyBlock)
                                // dW_tap += dy · shifted_tapᵀ
                                for tap in 0..<9 {
                                    BLAS.sgemm(transB: true, m: cout, n: cin, k: cols, a: dyBlock, lda: cols,
                                               b: padded + grid.offset(tap: tap, firstRow: r0), ldb: grid.planeSize,
                                               beta: 1, c: acc + tap * cout * cin, ldc: cin)
                                }
                            }
                        }
                    }
                    }
                }
            }
        }
        dW.data.withUnsafeMutableBufferPointer { d in
            partials.withUnsafeBufferPointer { p in
                for chunk in 0..<(partials.count / taps) {
                    for tap in 0..<9 {
                        for co in 0..<cout {
                            for ci in 0..<cin {
                                d[(co * cin + ci) * 9 + tap] += p[chunk * taps + (tap * cout + co) * cin + ci]
                            }
                        }
                    }
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
                // Eight running sums per channel: a single scalar sum is one long chain of
                // dependent adds the compiler may not reorder.
                for ch in 0..<c {
                    var s8 = SIMD8<Float>()
                    var s: Float = 0
                    for i in 0..<n {
                        let base = g.baseAddress! + (i * c + ch) * hw
                        var j = 0
                        while j + 8 <= hw {
                            s8 += UnsafeRawPointer(base + j).loadUnaligned(as: SIMD8<Float>.self)
                            j += 8
                        }
                        while j < hw { s += base[j]; j += 1 }
                    }
                    d[ch] += s8.sum() + s
                }
            }
        }
    }

    /// The shared lowering (ConvLowering.swift): per image, pad, then per block of output rows
    /// nine accumulating sgemms on the padded grid, then bias and ReLU while the block is written
    /// out. Work items are (image, row block): whole images when the batch can keep every worker
    /// busy, otherwise each image's rows are split so that a batch of one still uses every core.
    /// With `transposed`, computes convT(x, W) = conv(x, Wf) without building Wf: Wf's tap k is
    /// the transpose of W's tap 8 − k, which sgemm reads in place. Every output element is
    /// written, so the output starts uninitialised. Shapes are checked by the callers.
    static func lowered(x: Tensor, weight: Tensor, transposed: Bool = false, bias: Tensor?, relu: Bool = false,
                        threads: ComputeThreads, scratch: ScratchBuffers = .shared) -> Tensor {
        let n = x.shape[0], cin = x.shape[1], h = x.shape[2], w = x.shape[3]
        let cout = transposed ? weight.shape[1] : weight.shape[0], hw = h * w
        guard n * cout * hw > 0 else { return Tensor(zeros: [n, cout, h, w]) }
        let grid = PaddedGrid(height: h, width: w)
        // Row blocks per image: 1 when the batch alone gives every worker two items; otherwise
        // enough blocks for that (at least 4 rows each, so the sgemms stay wide).
        let wanted = threads.count > 1 && n < 2 * threads.count ? (2 * threads.count + n - 1) / n : 1
        let blocks = Swift.max(1, Swift.min(wanted, h / 4)), rb = (h + blocks - 1) / blocks
        let taps = tapMajor(weight), biasValues = bias?.data ?? [], tapSize = cout * cin
        return Tensor(uninitializedShape: [n, cout, h, w]) { yp in
            x.data.withUnsafeBufferPointer { xp in
            taps.withUnsafeBufferPointer { tp in
            biasValues.withUnsafeBufferPointer { bp in
                let xb = xp.baseAddress!, tb = tp.baseAddress!, yb = yp.baseAddress!
                let biasPointer = bp.isEmpty ? nil : bp.baseAddress
                threads.forEachChunk(of: n * blocks) { _, items in
                    let scratch = scratch
                    scratch.with(capacity: cin * grid.planeSize) { padded in
                    scratch.with(capacity: cout * grid.columns(rows: rb)) { block in
                        for item in items {
                            let i = item / blocks, r0 = (item % blocks) * rb
                            guard r0 < h else { continue }
                            let rows = r0..<Swift.min(h, r0 + rb), cols = grid.columns(rows: rows.count)
                            grid.pad(xb + i * cin * hw, channels: cin, outputRows: rows, into: padded)
                            for tap in 0..<9 {
                                let b = padded + grid.offset(tap: tap, firstRow: r0), beta: Float = tap == 0 ? 0 : 1
                                if transposed {
                                    BLAS.sgemm(transA: true, m: cout, n: cols, k: cin, a: tb + (8 - tap) * tapSize,
                                               lda: cout, b: b, ldb: grid.planeSize, beta: beta, c: block, ldc: cols)
                                } else {
                                    BLAS.sgemm(m: cout, n: cols, k: cin, a: tb + tap * tapSize, lda: cin,
                                               b: b, ldb: grid.planeSize, beta: beta, c: block, ldc: cols)
                                }
                            }
                            grid.compact(block, channels: cout, rows: rows, into: yb + i * cout * hw,
                                         bias: biasPointer, relu: relu)
                        }
                    }
                    }
                }
            }
            }
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
    ///   - workspace: as for Conv3x3.forward
    /// - Returns: (N, Cin, H, W)
    public static func forward(_ u: Tensor, weight: Tensor, bias: Tensor? = nil,
                               threads: ComputeThreads = .one, workspace: KernelWorkspace = .unowned) throws(TensorError) -> Tensor {
        let op = "ConvTranspose3x3.forward"
        let (_, cout, _, _) = try nchw(u, "input", op: op)
        let cin = try convWeightChannels(weight, op: op).in
        guard weight.shape[0] == cout else {
            throw .shapeMismatch(op: op, detail: "weight \(weight.shape) does not fit input \(u.shape): expected [\(cout), \(cin), 3, 3]")
        }
        if let bias { try requireShape(bias, [cin], "bias", op: op) }
        if Winograd.pays(inputChannels: cout, outputChannels: cin) {
            return Winograd.convolve(x: u, weight: weight, transposed: true, bias: bias, relu: false, threads: threads,
                                     workspace: workspace)
        }
        return Conv3x3.lowered(x: u, weight: weight, transposed: true, bias: bias, threads: threads, scratch: workspace.scratch)
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
