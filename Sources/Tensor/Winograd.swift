// Winograd: 3×3 convolution and its transpose as Winograd's F(2×2, 3×3) minimal filtering, for
// the inference and training forward passes (Conv3x3.forward, ConvTranspose3x3.forward).
//
// Each 2×2 output tile is Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A for its 4×4 input tile d, so over all
// tiles the convolution becomes 16 independent sgemms, one per position ξ of the 4×4 transform:
//
//     M_ξ[Cout × tiles] = U_ξ[Cout × Cin] · V_ξ[Cin × tiles],   U = G g Gᵀ, V = Bᵀ d B,
//
// 16 multiply-adds per 4 outputs instead of 36: 2.25× fewer FLOPs than the nine-tap lowering
// (ConvLowering.swift), for the price of the input and output transforms. Tiles are processed
// in groups whose transformed data stays in a core's cache; groups are the unit of parallelism,
// so a batch of one image spreads over every worker too. The matrices are Lavin & Gray's (2016).

import CKernels

enum Winograd {
    /// Which loops run the input and output transforms: the AVX2 ones (8 tiles per
    /// instruction, CKernels) where the CPU has them, else the portable Swift ones (4).
    enum Transforms: Sendable { case portable, avx2 }
    static let bestTransforms: Transforms = rs_winograd_avx2_available() != 0 ? .avx2 : .portable

    /// Whether F(2×2, 3×3) beats the nine-tap lowering: its transforms cost per channel what the
    /// saved multiplications save per channel pair, so it needs enough channels on both sides
    /// (docs/BENCHMARKS.md); a stem with 1–3 input channels keeps the nine-tap lowering.
    static func pays(inputChannels cin: Int, outputChannels cout: Int) -> Bool {
        cin >= minimumChannels && cout >= minimumChannels
    }
    static let minimumChannels = 16

    /// U (16 × out × in, row-major per ξ) for conv with `weight` (Cout, Cin, 3, 3), or for
    /// convT with the same weight (`transposed`: out = Cin, in = Cout, taps flipped).
    /// With `tile` 4: U = G g Gᵀ of F(4×4, 3×3), 36 × out × in.
    static func transformedWeights(_ weight: Tensor, transposed: Bool, tile: Int = 2,
                                   threads: ComputeThreads = .one) -> [Float] {
        [Float](unsafeUninitializedCapacity: (tile + 2) * (tile + 2) * weight.shape[0] * weight.shape[1]) { u, initialized in
            transformWeights(weight, transposed: transposed, tile: tile, into: u.baseAddress!, threads: threads)
            initialized = u.count
        }
    }

    /// transformedWeights, written to `u` ((tile + 2)² · Cout · Cin floats).
    static func transformWeights(_ weight: Tensor, transposed: Bool, tile: Int = 2, into u: UnsafeMutablePointer<Float>,
                                 threads: ComputeThreads = .one) {
        if tile == 4 { return transformWeights4(weight, transposed: transposed, into: u, threads: threads) }
        forEachFilter(weight, transposed: transposed, into: u, threads: threads) { tap, at, plane in
            let g0 = SIMD4<Float>(tap(0), tap(1), tap(2), 0)
            let g1 = SIMD4<Float>(tap(3), tap(4), tap(5), 0)
            let g2 = SIMD4<Float>(tap(6), tap(7), tap(8), 0)
            // t = G g (4 rows of 3); G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1].
            let t0 = g0, t1 = 0.5 * (g0 + g1 + g2), t2 = 0.5 * (g0 - g1 + g2), t3 = g2
            // U = t Gᵀ: the same combination of each row's three elements.
            @inline(__always) func put(_ t: SIMD4<Float>, _ r: Int) {
                at[(4 * r) * plane] = t[0]
                at[(4 * r + 1) * plane] = 0.5 * (t[0] + t[1] + t[2])
                at[(4 * r + 2) * plane] = 0.5 * (t[0] - t[1] + t[2])
                at[(4 * r + 3) * plane] = t[2]
            }
            put(t0, 0); put(t1, 1); put(t2, 2); put(t3, 3)
        }
    }

    /// F(4×4, 3×3)'s U = G g Gᵀ (36 × out × in), computed in Double and rounded once: G's
    /// sixths and twenty-fourths are not exact in Float.
    private static func transformWeights4(_ weight: Tensor, transposed: Bool, into u: UnsafeMutablePointer<Float>,
                                          threads: ComputeThreads) {
        // G's columns as 6-vectors (lanes 6, 7 unused): G g is then three scaled column sums.
        func column(_ c: Int) -> SIMD8<Double> {
            var v = SIMD8<Double>()
            for r in 0..<6 { v[r] = TileGrid4.filterTransform[3 * r + c] }
            return v
        }
        let g0 = column(0), g1 = column(1), g2 = column(2)
        forEachFilter(weight, transposed: transposed, into: u, threads: threads) { tap, at, plane in
            // Column c of t = G gf (6 × 3), then U = t Gᵀ: U[r][c'] = Σ_c t[r][c] · G[c'][c].
            let t0 = g0 * Double(tap(0)) + g1 * Double(tap(3)) + g2 * Double(tap(6))
            let t1 = g0 * Double(tap(1)) + g1 * Double(tap(4)) + g2 * Double(tap(7))
            let t2 = g0 * Double(tap(2)) + g1 * Double(tap(5)) + g2 * Double(tap(8))
            for r in 0..<6 {
                let row = t0[r] * g0 + t1[r] * g1 + t2[r] * g2
                for c in 0..<6 { at[(6 * r + c) * plane] = Float(row[c]) }
            }
        }
    }

    /// Calls `body(tap, at, plane)` for every filter of `weight` as conv (or convT, with
    /// `transposed`) sees it: tap(k) is its k-th tap, row by row (flipped for convT), at is where
    /// its transformed values start in `u`, their ξ planes `plane` floats apart. Output channels
    /// are split over `threads` (on one thread, the transform would leave the other workers idle).
    @inline(__always)
    private static func forEachFilter(_ weight: Tensor, transposed: Bool, into u: UnsafeMutablePointer<Float>,
                                      threads: ComputeThreads,
                                      _ body: (_ tap: (Int) -> Float, _ at: UnsafeMutablePointer<Float>, _ plane: Int) -> Void) {
        let co = weight.shape[0], ci = weight.shape[1]
        let outs = transposed ? ci : co, ins = transposed ? co : ci, plane = outs * ins
        weight.data.withUnsafeBufferPointer { w in
            threads.forEachChunk(of: outs) { _, range in
                for o in range {
                    for i in 0..<ins {
                        // The 3×3 filter from input channel i to output channel o.
                        let base = transposed ? (i * ci + o) * 9 : (o * ci + i) * 9
                        body({ k in transposed ? w[base + 8 - k] : w[base + k] }, u + o * ins + i, plane)
                    }
                }
            }
        }
    }

    /// conv(x, W) (or convT(x, W) with `transposed`) + bias, then ReLU with `relu`. Shapes are
    /// checked by the callers; every output element is written. `tile` is the output tile's
    /// side: 2 for F(2×2, 3×3), 4 for F(4×4, 3×3) (default: Winograd.tile's choice).
    /// The weight's transform comes from, and stays in, the workspace's cache if it keeps one.
    static func convolve(x: Tensor, weight: Tensor, transposed: Bool, bias: Tensor?, relu: Bool,
                         threads: ComputeThreads, workspace: KernelWorkspace = .unowned,
                         transforms: Transforms = bestTransforms, tile: Int? = nil) -> Tensor {
        let h = x.shape[2], w = x.shape[3]
        let avx2 = transforms == .avx2
        if (tile ?? Self.tile(height: h, width: w, batch: x.shape[0])) == 4 {
            return convolve(TileGrid4(height: h, width: w, avx2: avx2), x: x, weight: weight, transposed: transposed,
                            bias: bias, relu: relu, threads: threads, workspace: workspace)
        }
        return convolve(TileGrid(height: h, width: w, avx2: avx2), x: x, weight: weight, transposed: transposed,
                        bias: bias, relu: relu, threads: threads, workspace: workspace)
    }

    private static func convolve<Tiles: WinogradTiles>(_ tiles: Tiles, x: Tensor, weight: Tensor, transposed: Bool,
                                                       bias: Tensor?, relu: Bool, threads: ComputeThreads,
                                                       workspace: KernelWorkspace) -> Tensor {
        let n = x.shape[0], cin = x.shape[1], h = x.shape[2], w = x.shape[3]
        let cout = transposed ? weight.shape[1] : weight.shape[0]
        guard n * cout * h * w > 0 else { return Tensor(zeros: [n, cout, h, w]) }
        let xis = Tiles.xis, total = n * tiles.perImage
        // Tiles per group: the group's V and M (ξ planes × channels × tiles floats each) within
        // about 1 MB (a core's L2), so that they stay near the core from transform to sgemm to
        // transform back, and at least two groups per worker when there are enough tiles;
        // larger groups leave the cache, smaller ones make narrower sgemms.
        let group = groupSize(xis: xis, channels: cin + cout, tiles: total, threads: threads)
        let groups = (total + group - 1) / group
        let biasValues = bias?.data ?? []
        return Tensor(uninitializedShape: [n, cout, h, w]) { yp in
            x.data.withUnsafeBufferPointer { xp in
            withTransformedWeights(weight, transposed: transposed, tile: Tiles.size, cache: workspace.weights, threads: threads) { ub in
            biasValues.withUnsafeBufferPointer { bp in
                let xb = xp.baseAddress!, yb = yp.baseAddress!
                let biasPointer = bp.isEmpty ? nil : bp.baseAddress
                threads.forEachChunk(of: groups) { _, chunk in
                    let scratch = workspace.scratch
                    scratch.with(capacity: xis * (cin * group + planePadding)) { v in
                    scratch.with(capacity: xis * (cout * group + planePadding)) { m in
                    scratch.with(capacity: tiles.paddedCapacity(tiles: group)) { padded in
                        for g in chunk {
                            let first = g * group, count = Swift.min(group, total - first)
                            let range = first..<(first + count)
                            // The ξ planes are a little more than channels × tiles apart: exact
                            // multiples of 4 KB would put all their streams in one cache set.
                            let vPlane = cin * count + planePadding, mPlane = cout * count + planePadding
                            tiles.inputTransform(xb, channels: cin, tiles: range, into: v, plane: vPlane, padded: padded)
                            for xi in 0..<xis {
                                BLAS.sgemm(m: cout, n: count, k: cin, a: ub + xi * cout * cin, lda: cin,
                                           b: v + xi * vPlane, ldb: count, beta: 0, c: m + xi * mPlane, ldc: count)
                            }
                            tiles.outputTransform(m, plane: mPlane, channels: cout, tiles: range, into: yb,
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

    /// Runs `body` with U for `weight`: kept in (or taken from) `cache` if there is one, else
    /// transformed for this call only.
    private static func withTransformedWeights<R>(_ weight: Tensor, transposed: Bool, tile: Int, cache: WinogradWeightCache?,
                                                  threads: ComputeThreads, _ body: (UnsafePointer<Float>) -> R) -> R {
        if let cache { return cache.withTransformed(weight, transposed: transposed, tile: tile, threads: threads, body) }
        return transformedWeights(weight, transposed: transposed, tile: tile, threads: threads)
            .withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// Tiles per group when a group's transformed data has `channels` rows per ξ plane in all:
    /// within groupBytes, and at least two groups per worker when there are enough tiles.
    static func groupSize(xis: Int, channels: Int, tiles total: Int, threads: ComputeThreads,
                          bytes: Int = groupBytes) -> Int {
        var group = Swift.max(16, bytes / (4 * xis * channels))
        // Split over workers no finer than 32 tiles a group: narrower sgemms and a fork-join per
        // group cost a small batch more than the extra cores give.
        if threads.count > 1 { group = Swift.min(group, Swift.max(32, (total + 2 * threads.count - 1) / (2 * threads.count))) }
        return (group + 7) / 8 * 8   // whole runs of 8 for the AVX2 loops
    }

    /// The output tile for a batch of H × W images: 4×4 (F(4×4, 3×3): 2.25 multiplications per
    /// output instead of 4) once the image is at least 8 wide and high, so that edge tiles waste
    /// little, and the batch makes at least 8 such tiles. Fewer make sgemms 1–7 columns wide and
    /// miss the AVX2 transforms (runs of 8), so one 8×8 image (4 tiles) is faster as
    /// F(2×2, 3×3)'s 16 tiles.
    static func tile(height: Int, width: Int, batch: Int) -> Int {
        guard height >= 8 && width >= 8 else { return 2 }
        return batch * ((height + 3) / 4) * ((width + 3) / 4) >= 8 ? 4 : 2
    }

    /// The cache budget of one group of tiles (see convolve).
    static let groupBytes = 1 << 20
    /// Floats between consecutive ξ planes beyond their data (two cache lines).
    static let planePadding = 32
}

/// The output tiles of an H × W image, numbered image by image, row by row, and the transforms
/// between them and the ξ planes (each plane: channels rows of `count` tiles).
protocol WinogradTiles {
    /// The output tile's side (2 or 4) and the number of ξ planes, (side + 2)².
    static var size: Int { get }
    static var xis: Int { get }
    /// G, the filter transform ((side + 2) × 3, row-major): U = G g Gᵀ.
    static var filterTransform: [Double] { get }
    var height: Int { get }
    var width: Int { get }
    var tilesWide: Int { get }
    var perImage: Int { get }
    /// Whether runs of 8 tiles go through CKernels' AVX2 loops.
    var avx2: Bool { get }
    /// Floats of the zero-bordered copies of image planes the input transform reads from, for
    /// groups of up to `tiles` tiles.
    func paddedCapacity(tiles: Int) -> Int
    func inputTransform(_ x: UnsafePointer<Float>, channels: Int, tiles: Range<Int>,
                        into v: UnsafeMutablePointer<Float>, plane: Int, padded: UnsafeMutablePointer<Float>)
    func outputTransform(_ m: UnsafePointer<Float>, plane: Int, channels: Int, tiles: Range<Int>,
                         into y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, relu: Bool)
}

/// Copies an H × W plane into a zero-bordered pw-wide, ph-high one: one zero row and column
/// before it, zeros after it.
@inline(__always)
func padPlane(_ src: UnsafePointer<Float>, height: Int, width: Int, into padded: UnsafeMutablePointer<Float>,
              paddedWidth pw: Int, paddedHeight ph: Int) {
    fillZeros(padded, pw)
    for y in 0..<height {
        let dst = padded + (y + 1) * pw
        dst[0] = 0
        copyFloats(src + y * width, to: dst + 1, width)
        fillZeros(dst + 1 + width, pw - 1 - width)
    }
    fillZeros(padded + (height + 1) * pw, (ph - height - 1) * pw)
}

/// Copies `count` floats, 8 at a time, inline. The padded copies are made row by row, and a
/// row is 8 to 32 floats, too short for a memmove call to pay for itself.
@inline(__always)
func copyFloats(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, _ count: Int) {
    var j = 0
    while j + 8 <= count {
        UnsafeMutableRawPointer(dst + j).storeBytes(of: UnsafeRawPointer(src + j).loadUnaligned(as: SIMD8<Float>.self),
                                                    as: SIMD8<Float>.self)
        j += 8
    }
    while j < count { dst[j] = src[j]; j += 1 }
}

/// Zeros `count` floats, 8 at a time, inline (see copyFloats).
@inline(__always)
func fillZeros(_ dst: UnsafeMutablePointer<Float>, _ count: Int) {
    var j = 0
    while j + 8 <= count {
        UnsafeMutableRawPointer(dst + j).storeBytes(of: SIMD8<Float>(), as: SIMD8<Float>.self)
        j += 8
    }
    while j < count { dst[j] = 0; j += 1 }
}

/// F(2×2, 3×3)'s tiles: 4×4 patches, 16 ξ planes.
struct TileGrid: WinogradTiles {
    static let size = 2, xis = 16
    static let filterTransform: [Double] = [1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1]
    let height: Int, width: Int
    /// Runs of 8 whole tiles go through CKernels' AVX2 loops.
    var avx2 = false
    var tilesWide: Int { (width + 1) / 2 }
    var perImage: Int { ((height + 1) / 2) * tilesWide }

    /// Where tile t's 2×2 output starts: its image and top-left output pixel.
    @inline(__always)
    func origin(_ t: Int) -> (image: Int, y: Int, x: Int) {
        let image = t / perImage, r = t % perImage
        return (image, 2 * (r / tilesWide), 2 * (r % tilesWide))
    }

    /// Floats of the zero-bordered copy of one image plane that inputTransform reads from:
    /// every tile's 4×4 patch lies inside it, so no load needs a bounds check.
    var paddedPlaneSize: Int { paddedHeight * paddedWidth }
    func paddedCapacity(tiles: Int) -> Int { paddedPlaneSize }
    private var paddedWidth: Int { 2 * tilesWide + 2 }
    private var paddedHeight: Int { (height + 1) / 2 * 2 + 2 }

    /// V_ξ[c][j] = (Bᵀ d B)_ξ for tile `tiles.lowerBound + j`, with d the 4×4 input patch at rows
    /// y − 1 … y + 2, columns x − 1 … x + 2 of the tile's origin (zero outside the image);
    /// Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]. Channel by channel, each image's plane first
    /// copied into `padded` with zero borders; the 16 planes of V are written as 16 streams.
    func inputTransform(_ x: UnsafePointer<Float>, channels: Int, tiles: Range<Int>,
                        into v: UnsafeMutablePointer<Float>, plane: Int, padded: UnsafeMutablePointer<Float>) {
        let h = height, w = width, hw = h * w, count = tiles.count, pw = paddedWidth
        for c in 0..<channels {
            let row = v + c * count
            var t = tiles.lowerBound
            while t < tiles.upperBound {
                let image = t / perImage, end = Swift.min(tiles.upperBound, (image + 1) * perImage)
                pad(x + (image * channels + c) * hw, into: padded)
                while t < end {
                    let r = t % perImage, ty = r / tilesWide, tx = r % tilesWide, j = t - tiles.lowerBound
                    // The patch of tile (ty, tx) starts at padded row 2·ty, column 2·tx.
                    let q = padded + 2 * ty * pw + 2 * tx
                    if avx2 && t + 8 <= end && tx + 7 < tilesWide {
                        // As many runs of 8 as fit in this tile row and the range.
                        let groups = Swift.min(end - t, tilesWide - tx) / 8
                        rs_winograd_input_avx2(q, pw, groups, row + j, plane)
                        t += 8 * groups
                    } else if t + 4 <= end && tx + 3 < tilesWide {
                        transformFour(q, rowStride: pw, into: row + j, plane: plane)
                        t += 4
                    } else {
                        transformOne(q, rowStride: pw, into: row + j, plane: plane)
                        t += 1
                    }
                }
            }
        }
    }

    @inline(__always)
    private func pad(_ src: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>) {
        padPlane(src, height: height, width: width, into: padded, paddedWidth: paddedWidth, paddedHeight: paddedHeight)
    }

    /// Four side-by-side tiles, one SIMD lane each: their patches start two columns apart, so
    /// each patch column is the even or odd half of 8 consecutive floats.
    @inline(__always)
    private func transformFour(_ q: UnsafePointer<Float>, rowStride pw: Int, into o: UnsafeMutablePointer<Float>, plane: Int) {
        let raw = UnsafeRawPointer(q)
        @inline(__always) func patchRow(_ r: Int) -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
            let lo = raw.loadUnaligned(fromByteOffset: 4 * r * pw, as: SIMD8<Float>.self)
            let hi = raw.loadUnaligned(fromByteOffset: 4 * (r * pw + 2), as: SIMD8<Float>.self)
            return (lo.evenHalf, lo.oddHalf, hi.evenHalf, hi.oddHalf)
        }
        let d0 = patchRow(0), d1 = patchRow(1), d2 = patchRow(2), d3 = patchRow(3)
        // Bᵀ d: rows d0 − d2, d1 + d2, d2 − d1, d1 − d3.
        let a0 = d0.0 - d2.0, a1 = d0.1 - d2.1, a2 = d0.2 - d2.2, a3 = d0.3 - d2.3
        let b0 = d1.0 + d2.0, b1 = d1.1 + d2.1, b2 = d1.2 + d2.2, b3 = d1.3 + d2.3
        let c0 = d2.0 - d1.0, c1 = d2.1 - d1.1, c2 = d2.2 - d1.2, c3 = d2.3 - d1.3
        let e0 = d1.0 - d3.0, e1 = d1.1 - d3.1, e2 = d1.2 - d3.2, e3 = d1.3 - d3.3
        // (Bᵀ d) B: the same combination of each row's four elements; ξ = 4·row + column.
        let out = UnsafeMutableRawPointer(o), stride = 4 * plane
        @inline(__always) func put(_ xi: Int, _ value: SIMD4<Float>) {
            out.storeBytes(of: value, toByteOffset: xi * stride, as: SIMD4<Float>.self)
        }
        put(0, a0 - a2); put(1, a1 + a2); put(2, a2 - a1); put(3, a1 - a3)
        put(4, b0 - b2); put(5, b1 + b2); put(6, b2 - b1); put(7, b1 - b3)
        put(8, c0 - c2); put(9, c1 + c2); put(10, c2 - c1); put(11, c1 - c3)
        put(12, e0 - e2); put(13, e1 + e2); put(14, e2 - e1); put(15, e1 - e3)
    }

    /// One tile: the same arithmetic as transformFour, on scalars.
    @inline(__always)
    private func transformOne(_ q: UnsafePointer<Float>, rowStride pw: Int, into o: UnsafeMutablePointer<Float>, plane: Int) {
        let p00 = q[0], p01 = q[1], p02 = q[2], p03 = q[3]
        let p10 = q[pw], p11 = q[pw + 1], p12 = q[pw + 2], p13 = q[pw + 3]
        let p20 = q[2 * pw], p21 = q[2 * pw + 1], p22 = q[2 * pw + 2], p23 = q[2 * pw + 3]
        let p30 = q[3 * pw], p31 = q[3 * pw + 1], p32 = q[3 * pw + 2], p33 = q[3 * pw + 3]
        let a0 = p00 - p20, a1 = p01 - p21, a2 = p02 - p22, a3 = p03 - p23
        let b0 = p10 + p20, b1 = p11 + p21, b2 = p12 + p22, b3 = p13 + p23
        let c0 = p20 - p10, c1 = p21 - p11, c2 = p22 - p12, c3 = p23 - p13
        let e0 = p10 - p30, e1 = p11 - p31, e2 = p12 - p32, e3 = p13 - p33
        o[0] = a0 - a2; o[plane] = a1 + a2; o[2 * plane] = a2 - a1; o[3 * plane] = a1 - a3
        o[4 * plane] = b0 - b2; o[5 * plane] = b1 + b2; o[6 * plane] = b2 - b1; o[7 * plane] = b1 - b3
        o[8 * plane] = c0 - c2; o[9 * plane] = c1 + c2; o[10 * plane] = c2 - c1; o[11 * plane] = c1 - c3
        o[12 * plane] = e0 - e2; o[13 * plane] = e1 + e2; o[14 * plane] = e2 - e1; o[15 * plane] = e1 - e3
    }

    /// y[y + a][x + b] = (Aᵀ M A)[a][b] + bias, ReLU'd with `relu`, for each tile in `tiles` (the
    /// bottom and right tiles of an odd-sized image write only what is inside);
    /// Aᵀ = [1 1 1 0; 0 1 −1 −1].
    func outputTransform(_ m: UnsafePointer<Float>, plane: Int, channels: Int, tiles: Range<Int>,
                         into y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, relu: Bool) {
        let h = height, w = width, hw = h * w, count = tiles.count
        for c in 0..<channels {
            let row = m + c * count, b = bias?[c] ?? 0
            var j = 0
            while j < count {
                let t = tiles.lowerBound + j
                let (image, oy, ox) = origin(t)
                if avx2 && j + 8 <= count && oy + 1 < h && ox + 16 <= w && ox / 2 + 7 < tilesWide {
                    // Runs of 8 whole tiles within this tile row and the range.
                    let groups = Swift.min(count - j, Swift.min(tilesWide - ox / 2, (w - ox) / 2)) / 8
                    rs_winograd_output_avx2(row + j, plane, groups, y + (image * channels + c) * hw + oy * w + ox, w, b, relu ? 1 : 0)
                    j += 8 * groups
                    continue
                }
                // Four whole tiles side by side: one SIMD lane per tile, written back as two
                // rows of 8 interleaved outputs.
                if j + 4 <= count && oy + 1 < h && ox + 7 < w && ox / 2 + 3 < tilesWide {
                    let q = UnsafeRawPointer(row + j), stride = 4 * plane
                    @inline(__always) func at(_ xi: Int) -> SIMD4<Float> {
                        q.loadUnaligned(fromByteOffset: xi * stride, as: SIMD4<Float>.self)
                    }
                    let s0 = (at(0) + at(4) + at(8), at(1) + at(5) + at(9), at(2) + at(6) + at(10), at(3) + at(7) + at(11))
                    let s1 = (at(4) - at(8) - at(12), at(5) - at(9) - at(13), at(6) - at(10) - at(14), at(7) - at(11) - at(15))
                    let bias4 = SIMD4<Float>(repeating: b)
                    var o00 = s0.0 + s0.1 + s0.2 + bias4, o01 = s0.1 - s0.2 - s0.3 + bias4
                    var o10 = s1.0 + s1.1 + s1.2 + bias4, o11 = s1.1 - s1.2 - s1.3 + bias4
                    if relu {
                        let zero = SIMD4<Float>()
                        // (Not pointwiseMax: it is generic, and too slow on this hot path.)
                        o00 = o00.replacing(with: zero, where: o00 .< zero); o01 = o01.replacing(with: zero, where: o01 .< zero)
                        o10 = o10.replacing(with: zero, where: o10 .< zero); o11 = o11.replacing(with: zero, where: o11 .< zero)
                    }
                    let dst = UnsafeMutableRawPointer(y + (image * channels + c) * hw + oy * w + ox)
                    dst.storeBytes(of: SIMD8(o00[0], o01[0], o00[1], o01[1], o00[2], o01[2], o00[3], o01[3]), as: SIMD8<Float>.self)
                    dst.storeBytes(of: SIMD8(o10[0], o11[0], o10[1], o11[1], o10[2], o11[2], o10[3], o11[3]),
                                   toByteOffset: 4 * w, as: SIMD8<Float>.self)
                    j += 4
                    continue
                }
                let q = row + j
                let m00 = q[0], m01 = q[plane], m02 = q[2 * plane], m03 = q[3 * plane]
                let m10 = q[4 * plane], m11 = q[5 * plane], m12 = q[6 * plane], m13 = q[7 * plane]
                let m20 = q[8 * plane], m21 = q[9 * plane], m22 = q[10 * plane], m23 = q[11 * plane]
                let m30 = q[12 * plane], m31 = q[13 * plane], m32 = q[14 * plane], m33 = q[15 * plane]
                // Aᵀ M: s0 = m0 + m1 + m2, s1 = m1 − m2 − m3 (rows of 4); then · A on each.
                let s00 = m00 + m10 + m20, s01 = m01 + m11 + m21, s02 = m02 + m12 + m22, s03 = m03 + m13 + m23
                let s10 = m10 - m20 - m30, s11 = m11 - m21 - m31, s12 = m12 - m22 - m32, s13 = m13 - m23 - m33
                var o00 = s00 + s01 + s02 + b, o01 = s01 - s02 - s03 + b
                var o10 = s10 + s11 + s12 + b, o11 = s11 - s12 - s13 + b
                if relu { o00 = Swift.max(o00, 0); o01 = Swift.max(o01, 0); o10 = Swift.max(o10, 0); o11 = Swift.max(o11, 0) }
                let dst = y + (image * channels + c) * hw + oy * w + ox
                if oy + 1 < h && ox + 1 < w {
                    dst[0] = o00; dst[1] = o01; dst[w] = o10; dst[w + 1] = o11
                } else {
                    dst[0] = o00
                    if ox + 1 < w { dst[1] = o01 }
                    if oy + 1 < h { dst[w] = o10; if ox + 1 < w { dst[w + 1] = o11 } }
                }
                j += 1
            }
        }
    }
}

/// F(4×4, 3×3)'s tiles: 6×6 patches, 36 ξ planes; the transforms are CKernels' (scalar, or 8
/// tiles per instruction with AVX2).
struct TileGrid4: WinogradTiles {
    static let size = 4, xis = 36
    static let filterTransform: [Double] = [1.0 / 4, 0, 0, -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6,
                                            1.0 / 24, 1.0 / 12, 1.0 / 6, 1.0 / 24, -1.0 / 12, 1.0 / 6, 0, 0, 1]
    let height: Int, width: Int
    var avx2 = false
    var tilesWide: Int { (width + 3) / 4 }
    var perImage: Int { ((height + 3) / 4) * tilesWide }
    /// Tile r's patch starts at padded row 4·(r / tilesWide), column 4·(r % tilesWide); the AVX2
    /// loop loads 8 floats per patch row, hence two columns of slack.
    private var paddedWidth: Int { 4 * tilesWide + 4 }
    private var paddedHeight: Int { 4 * ((height + 3) / 4) + 2 }
    var paddedPlaneSize: Int { paddedWidth * paddedHeight }
    /// Every image a group touches is padded at once (planes side by side), so that runs of 8
    /// tiles go on across images: an 8×8 image has only 4 tiles.
    func paddedCapacity(tiles: Int) -> Int { (tiles / perImage + 2) * paddedPlaneSize }

    func inputTransform(_ x: UnsafePointer<Float>, channels: Int, tiles: Range<Int>,
                        into v: UnsafeMutablePointer<Float>, plane: Int, padded: UnsafeMutablePointer<Float>) {
        let hw = height * width, count = tiles.count
        let firstImage = tiles.lowerBound / perImage, lastImage = (tiles.upperBound - 1) / perImage
        // Each tile's patch in the padded planes: the same for every channel, so found once.
        let patch = tiles.map { t -> Int in
            let q = t % perImage
            return (t / perImage - firstImage) * paddedPlaneSize + 4 * (q / tilesWide) * paddedWidth + 4 * (q % tilesWide)
        }
        for c in 0..<channels {
            for image in firstImage...lastImage {
                padPlane(x + (image * channels + c) * hw, height: height, width: width,
                         into: padded + (image - firstImage) * paddedPlaneSize, paddedWidth: paddedWidth, paddedHeight: paddedHeight)
            }
            rs_winograd4_input(padded, paddedWidth, patch, count, v + c * count, plane, avx2 ? 1 : 0)
        }
    }

    func outputTransform(_ m: UnsafePointer<Float>, plane: Int, channels: Int, tiles: Range<Int>,
                         into y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, relu: Bool) {
        let hw = height * width, count = tiles.count, firstImage = tiles.lowerBound / perImage
        // Each tile's output offset (from channel c's plane of the first image) and extent.
        var at = [Int](repeating: 0, count: count), extent = [UInt8](repeating: 0, count: count)
        for (j, t) in tiles.enumerated() {
            let q = t % perImage, oy = 4 * (q / tilesWide), ox = 4 * (q % tilesWide)
            at[j] = (t / perImage - firstImage) * channels * hw + oy * width + ox
            extent[j] = UInt8(Swift.min(4, height - oy) + 8 * Swift.min(4, width - ox))
        }
        for c in 0..<channels {
            rs_winograd4_output(m + c * count, plane, at, extent, count, y + (firstImage * channels + c) * hw, width,
                                bias?[c] ?? 0, relu ? 1 : 0, avx2 ? 1 : 0)
        }
    }
}
