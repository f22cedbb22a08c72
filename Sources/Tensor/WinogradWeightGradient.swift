// WinogradWeightGradient: the 3×3 convolution's weight gradient through the same Winograd
// tiles as the forward pass (Winograd.swift), for Conv3x3.accumulateWeightGradient.
//
// Each output tile is y = Aᵀ [U ⊙ V] A with U = G g Gᵀ and V = Bᵀ d B, so for a loss L
//
//     ∂L/∂U = Σ over tiles of (A dY Aᵀ) ⊙ V,    ∂L/∂g = Gᵀ (∂L/∂U) G,
//
// exact in exact arithmetic like the forward. Over all tiles and images that is one sgemm per
// ξ with the tiles as the inner dimension,
//
//     dU_ξ[Cout × Cin] += dM_ξ[Cout × tiles] · V_ξ[Cin × tiles]ᵀ,   dM = A dY Aᵀ,
//
// (tile + 2)² multiply-adds per tile and channel pair instead of the nine-tap lowering's 9 · tile²
// (4× fewer for F(4×4, 3×3)), and long inner dimensions instead of Cout × Cin-sized outputs
// accumulated in many short calls.

import CKernels

extension Winograd {
    /// dW += Σₙ dy ⋆ x through Winograd tiles (`tile`: 2 or 4, default Winograd.tile's choice).
    /// Shapes are checked by the caller: x (N, Cin, H, W), dy (N, Cout, H, W), dW (Cout, Cin, 3, 3).
    /// Each chunk of groups sums into its own dU; the chunks are added in order, so the result
    /// is the same run to run for a thread count.
    static func accumulateWeightGradient(_ dW: inout Tensor, input x: Tensor, outputGradient dy: Tensor,
                                         threads: ComputeThreads, transforms: Transforms = bestTransforms,
                                         tile: Int? = nil) {
        let h = x.shape[2], w = x.shape[3], avx2 = transforms == .avx2
        if (tile ?? Self.tile(height: h, width: w, batch: x.shape[0])) == 4 {
            accumulateWeightGradient(TileGrid4(height: h, width: w, avx2: avx2), &dW, x: x, dy: dy, threads: threads)
        } else {
            accumulateWeightGradient(TileGrid(height: h, width: w, avx2: avx2), &dW, x: x, dy: dy, threads: threads)
        }
    }

    private static func accumulateWeightGradient<Tiles: WinogradTiles>(_ tiles: Tiles, _ dW: inout Tensor, x: Tensor,
                                                                       dy: Tensor, threads: ComputeThreads) {
        let n = x.shape[0], cin = x.shape[1], cout = dy.shape[1]
        let xis = Tiles.xis, total = n * tiles.perImage, uSize = xis * cout * cin
        guard total > 0, cin * cout > 0 else { return }
        let group = groupSize(xis: xis, channels: cin + cout, tiles: total, threads: threads, bytes: weightGradientGroupBytes)
        let groups = (total + group - 1) / group
        var partials = x.data.withUnsafeBufferPointer { xp in
            dy.data.withUnsafeBufferPointer { gp in
                let xb = xp.baseAddress!, gb = gp.baseAddress!
                return threads.forEachChunk(of: groups, accumulatingInto: uSize) { du, range in
                    let scratch = ScratchBuffers.shared
                    scratch.with(capacity: xis * (cin * group + planePadding)) { v in
                    scratch.with(capacity: xis * (cout * group + planePadding)) { m in
                    scratch.with(capacity: Swift.max(tiles.paddedCapacity(tiles: group),
                                                     tiles.gradientPaddedCapacity(tiles: group))) { padded in
                        for g in range {
                            let first = g * group, count = Swift.min(group, total - first)
                            let range = first..<(first + count)
                            let vPlane = cin * count + planePadding, mPlane = cout * count + planePadding
                            tiles.inputTransform(xb, channels: cin, tiles: range, into: v, plane: vPlane, padded: padded)
                            tiles.gradientTransform(gb, channels: cout, tiles: range, into: m, plane: mPlane, padded: padded)
                            for xi in 0..<xis {
                                BLAS.sgemm(transB: true, m: cout, n: cin, k: count, a: m + xi * mPlane, lda: count,
                                           b: v + xi * vPlane, ldb: count, beta: 1, c: du + xi * cout * cin, ldc: cin)
                            }
                        }
                    }
                    }
                    }
                }
            }
        }
        addFilterGradient(&partials, tiles: tiles, into: &dW)
    }

    /// The budget of one group's V and dM. Four times the forward's: the sgemms' outputs are
    /// only Cout × Cin, so their speed comes from long inner dimensions (tiles); much larger
    /// groups lose more to the cache than the longer dimensions give.
    static let weightGradientGroupBytes = 4 << 20

    /// dW += Gᵀ (Σ of the chunks' dU) G for every filter, eight filters per SIMD vector (dU's
    /// planes hold the filters side by side). Run once per call, and the engine calls this per
    /// slice of the batch: one filter at a time in Double would weigh on every training step.
    private static func addFilterGradient<Tiles: WinogradTiles>(_ partials: inout [Float], tiles: Tiles,
                                                                into dW: inout Tensor) {
        let side = Tiles.size + 2, xis = Tiles.xis, filters = dW.shape[0] * dW.shape[1], uSize = xis * filters
        let parts = partials.count / uSize
        let g = Tiles.filterTransform.map { Float($0) }
        partials.withUnsafeMutableBufferPointer { pp in
            let p = pp.baseAddress!
            for part in 1..<Swift.max(parts, 1) {   // Σ of the chunks, in chunk order, into the first
                for i in 0..<uSize { p[i] += p[part * uSize + i] }
            }
            dW.data.withUnsafeMutableBufferPointer { dp in
                let d = dp.baseAddress!
                withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: xis + 3 * side) { scratch in
                    let du = scratch.baseAddress!, t = du + xis
                    for f in stride(from: 0, to: filters, by: 8) {
                        let lanes = Swift.min(8, filters - f)
                        for xi in 0..<xis {
                            let at = p + xi * filters + f
                            if lanes == 8 {
                                du[xi] = UnsafeRawPointer(at).loadUnaligned(as: SIMD8<Float>.self)
                            } else {
                                du[xi] = SIMD8()
                                for lane in 0..<lanes { du[xi][lane] = at[lane] }
                            }
                        }
                        // t = Gᵀ dU (3 × side), then dW_f += t G (3 × 3).
                        for a in 0..<3 {
                            for c in 0..<side {
                                var sum = SIMD8<Float>()
                                for r in 0..<side { sum += g[3 * r + a] * du[side * r + c] }
                                t[side * a + c] = sum
                            }
                        }
                        for a in 0..<3 {
                            for b in 0..<3 {
                                var sum = SIMD8<Float>()
                                for c in 0..<side { sum += t[side * a + c] * g[3 * c + b] }
                                for lane in 0..<lanes { d[(f + lane) * 9 + 3 * a + b] += sum[lane] }
                            }
                        }
                    }
                }
            }
        }
    }
}

extension WinogradTiles {
    /// The dY side of the weight gradient reads each image plane from a copy laid out in whole
    /// tiles: zeros beyond the image, and 8 floats of slack per row for the AVX2 loads.
    private var gradientPaddedWidth: Int { tilesWide * Self.size + 8 }
    private var gradientPlaneSize: Int { (height + Self.size - 1) / Self.size * Self.size * gradientPaddedWidth }
    /// Floats of those copies for groups of up to `tiles` tiles.
    func gradientPaddedCapacity(tiles: Int) -> Int { (tiles / perImage + 2) * gradientPlaneSize }

    /// dM_ξ[c][j] = (A dY Aᵀ)_ξ for tile `tiles.lowerBound + j`, with dY the tile's size × size
    /// block of `dy` (channels planes per image; zero beyond the image). Channel by channel,
    /// every image the group touches is copied into `padded` first.
    func gradientTransform(_ dy: UnsafePointer<Float>, channels: Int, tiles: Range<Int>,
                           into m: UnsafeMutablePointer<Float>, plane: Int, padded: UnsafeMutablePointer<Float>) {
        let hw = height * width, count = tiles.count, pw = gradientPaddedWidth, ps = gradientPlaneSize
        let firstImage = tiles.lowerBound / perImage, lastImage = (tiles.upperBound - 1) / perImage
        let patch = tiles.map { t -> Int in
            let q = t % perImage
            return (t / perImage - firstImage) * ps + Self.size * ((q / tilesWide) * pw + q % tilesWide)
        }
        for c in 0..<channels {
            for image in firstImage...lastImage {
                let src = dy + (image * channels + c) * hw, dst = padded + (image - firstImage) * ps
                for y in 0..<height {
                    copyFloats(src + y * width, to: dst + y * pw, width)
                    fillZeros(dst + y * pw + width, pw - width)
                }
                fillZeros(dst + height * pw, ps - height * pw)
            }
            rs_winograd_gradient(Int32(Self.size), padded, pw, patch, count, m + c * count, plane, avx2 ? 1 : 0)
        }
    }
}
