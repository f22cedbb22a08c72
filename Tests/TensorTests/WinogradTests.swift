// WinogradTests: F(2×2, 3×3) and the nine-tap lowering, each called directly, against the naive
// references on every test shape (odd sizes, edge tiles, one pixel, few and many channels), for
// conv and its transpose, with bias and fused ReLU, on 1, 2 and 4 workers; the AVX2 transform
// loops give exactly the portable ones' results; and which one Conv3x3.forward picks.

import Testing
@testable import Tensor

@Suite struct WinogradTests {
    @Test(arguments: [1, 2, 4])
    func everyAlgorithmMatchesTheReferences(threads: Int) throws {
        let shapes = convShapes + [(2, 32, 24, 16, 16), (1, 8, 8, 2, 2), (3, 8, 12, 3, 5), (2, 8, 9, 13, 21), (1, 9, 8, 19, 34),
                                   (3, 16, 16, 8, 8), (2, 16, 24, 11, 9), (1, 24, 16, 7, 30)]
        for (k, (n, cin, cout, h, w)) in shapes.enumerated() {
            let x = random([n, cin, h, w], seed: UInt64(700 + k)), u = random([n, cout, h, w], seed: UInt64(750 + k))
            let wt = random([cout, cin, 3, 3], seed: UInt64(800 + k))
            let b = random([cout], seed: UInt64(900 + k)), bt = random([cin], seed: UInt64(950 + k))
            var conv = ConvReference.conv(x, weight: wt, bias: b)
            conv.data = conv.data.map { Swift.max($0, 0) }
            let convT = ConvReference.convTranspose(u, weight: wt, bias: bt)
            let t = ComputeThreads(threads), shape = "\(n),\(cin),\(cout),\(h),\(w) on \(threads)"
            // F(2×2, 3×3) is within float rounding of the direct sum; F(4×4, 3×3)'s transforms
            // carry sixths and twenty-fourths, a few times more rounding (measured ≤ 8e-6).
            for (tile, limit) in [(2, Float(1e-5)), (4, Float(3e-5))] {
                #expect(relativeError(Winograd.convolve(x: x, weight: wt, transposed: false, bias: b, relu: true, threads: t, tile: tile),
                                      conv) <= limit, "Winograd F(\(tile)) conv \(shape)")
                #expect(relativeError(Winograd.convolve(x: u, weight: wt, transposed: true, bias: bt, relu: false, threads: t, tile: tile),
                                      convT) <= limit, "Winograd F(\(tile)) convT \(shape)")
            }
            #expect(relativeError(Conv3x3.lowered(x: x, weight: wt, bias: b, relu: true, threads: t), conv) <= 1e-5,
                    "nine-tap conv \(shape)")
            #expect(relativeError(Conv3x3.lowered(x: u, weight: wt, transposed: true, bias: bt, threads: t), convT) <= 1e-5,
                    "nine-tap convT \(shape)")
        }
    }

    /// The AVX2 loops (runs of 8 tiles) do the portable loops' arithmetic in the same order, so
    /// the results are identical, on widths with whole runs, partial runs and odd edges, with
    /// NaN and negative zero through the fused ReLU.
    @Test(.enabled(if: Winograd.bestTransforms == .avx2, "this CPU has no AVX2: only the portable loops run"))
    func theAVX2TransformsGiveThePortableResults() throws {
        for (k, (n, cin, cout, h, w)) in [(1, 16, 16, 32, 32), (2, 16, 24, 17, 35), (1, 16, 16, 4, 40), (3, 24, 16, 16, 16),
                                          (1, 16, 16, 9, 18), (2, 16, 16, 8, 8)].enumerated() {
            var x = random([n, cin, h, w], seed: UInt64(40 + k))
            x.data[7] = .nan; x.data[x.count / 2] = -0.0
            let wt = random([cout, cin, 3, 3], seed: UInt64(50 + k)), b = random([cout], seed: UInt64(60 + k))
            let u = random([n, cout, h, w], seed: UInt64(70 + k))
            for threads in [1, 2] {
              for tile in [2, 4] {
                let t = ComputeThreads(threads), shape = "F(\(tile)) \(n),\(cin),\(cout),\(h),\(w) on \(threads)"
                let fast = Winograd.convolve(x: x, weight: wt, transposed: false, bias: b, relu: true, threads: t, transforms: .avx2, tile: tile)
                let slow = Winograd.convolve(x: x, weight: wt, transposed: false, bias: b, relu: true, threads: t, transforms: .portable, tile: tile)
                #expect(fast.data.map(\.bitPattern) == slow.data.map(\.bitPattern), "conv \(shape)")
                let fastT = Winograd.convolve(x: u, weight: wt, transposed: true, bias: nil, relu: false, threads: t, transforms: .avx2, tile: tile)
                let slowT = Winograd.convolve(x: u, weight: wt, transposed: true, bias: nil, relu: false, threads: t, transforms: .portable, tile: tile)
                #expect(fastT.data == slowT.data, "convT \(shape)")
                // And both are the convolution (away from the NaN's reach, which both spread alike).
                var clean = x
                clean.data[7] = 0
                var ref = ConvReference.conv(clean, weight: wt, bias: b)
                ref.data = ref.data.map { Swift.max($0, 0) }
                let got = Winograd.convolve(x: clean, weight: wt, transposed: false, bias: b, relu: true, threads: t,
                                            transforms: .avx2, tile: tile)
                #expect(relativeError(got, ref) <= 3e-5, "\(shape)")
              }
            }
        }
    }

    /// The weight transform of a filter with a single 1 at tap (kh, kw) is G e Gᵀ: checked
    /// against the product written out, for a plain and a transposed (flipped) weight.
    @Test func weightTransformIsGgGt() {
        let g: [[Float]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
        for tap in 0..<9 {
            var w = Tensor(zeros: [1, 1, 3, 3])
            w.data[tap] = 1
            for transposed in [false, true] {
                let u = Winograd.transformedWeights(w, transposed: transposed)
                let k = transposed ? 8 - tap : tap, (kh, kw) = (k / 3, k % 3)
                for r in 0..<4 {
                    for c in 0..<4 { #expect(u[4 * r + c] == g[r][kh] * g[c][kw], "tap \(tap) transposed \(transposed) at \(r),\(c)") }
                }
            }
        }
    }

    /// F(4×4, 3×3)'s weight transform of a single-tap filter is G e Gᵀ with G's sixths.
    @Test func weightTransform4IsGgGt() {
        let g: [[Double]] = [[1.0 / 4, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
                             [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1]]
        for tap in 0..<9 {
            var w = Tensor(zeros: [1, 1, 3, 3])
            w.data[tap] = 1
            for transposed in [false, true] {
                let u = Winograd.transformedWeights(w, transposed: transposed, tile: 4)
                let k = transposed ? 8 - tap : tap, (kh, kw) = (k / 3, k % 3)
                for r in 0..<6 {
                    for c in 0..<6 { #expect(u[6 * r + c] == Float(g[r][kh] * g[c][kw]), "tap \(tap) transposed \(transposed) at \(r),\(c)") }
                }
            }
        }
    }

    @Test func theTileFollowsTheImageSize() {
        #expect(Winograd.tile(height: 32, width: 32, batch: 1) == 4 && Winograd.tile(height: 8, width: 8, batch: 2) == 4)
        #expect(Winograd.tile(height: 7, width: 7, batch: 64) == 2 && Winograd.tile(height: 28, width: 4, batch: 64) == 2)
        // One 8×8 image is 4 tiles of 4×4: too few for F(4×4, 3×3)'s sgemms and AVX2 runs of 8.
        #expect(Winograd.tile(height: 8, width: 8, batch: 1) == 2 && Winograd.tile(height: 9, width: 9, batch: 1) == 4)
    }

    @Test func theChoiceFollowsTheChannels() {
        #expect(Winograd.pays(inputChannels: 56, outputChannels: 56))
        #expect(Winograd.pays(inputChannels: 16, outputChannels: 16))
        #expect(!Winograd.pays(inputChannels: 8, outputChannels: 64))
        #expect(!Winograd.pays(inputChannels: 3, outputChannels: 32))   // a stem
    }
}
