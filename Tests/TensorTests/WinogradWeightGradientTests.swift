// WinogradWeightGradientTests: the Winograd weight gradient (both tiles) against the naive
// reference on odd sizes, edge tiles and tiny images, accumulating into a non-zero gradient,
// on 1, 2 and 4 workers; its AVX2 loops give the portable ones' results bit for bit; and
// Conv3x3.accumulateWeightGradient takes it exactly where the forward takes Winograd.

import Testing
@testable import Tensor

@Suite struct WinogradWeightGradientTests {
    static let shapes = [(2, 16, 16, 8, 8), (1, 16, 24, 32, 32), (3, 8, 12, 3, 5), (2, 8, 9, 13, 21), (1, 9, 8, 19, 34),
                         (4, 16, 16, 1, 1), (2, 16, 24, 11, 9), (1, 24, 16, 7, 30), (5, 20, 16, 8, 9), (2, 3, 5, 2, 17)]

    @Test(arguments: [1, 2, 4])
    func bothTilesMatchTheReference(threads: Int) throws {
        for (k, (n, cin, cout, h, w)) in Self.shapes.enumerated() {
            let x = random([n, cin, h, w], seed: UInt64(1200 + k)), dy = random([n, cout, h, w], seed: UInt64(1250 + k))
            let start = random([cout, cin, 3, 3], seed: UInt64(1300 + k))
            var expected = ConvReference.convWeightGradient(input: x, outputGradient: dy)
            try expected.add(start)
            // F(4×4, 3×3)'s A and G carry 8s and twenty-fourths: more rounding than F(2×2, 3×3)
            // (measured: at most 2.6e-7 and 2.5e-6).
            for (tile, limit) in [(2, Float(1e-6)), (4, Float(1e-5))] {
                var dW = start
                Winograd.accumulateWeightGradient(&dW, input: x, outputGradient: dy, threads: ComputeThreads(threads), tile: tile)
                #expect(relativeError(dW, expected) <= limit, "F(\(tile)) \(n),\(cin),\(cout),\(h),\(w) on \(threads)")
            }
        }
    }

    @Test(.enabled(if: Winograd.bestTransforms == .avx2, "this CPU has no AVX2: only the portable loops run"))
    func theAVX2GradientTransformGivesThePortableResults() throws {
        for (k, (n, cin, cout, h, w)) in [(1, 16, 16, 32, 32), (2, 16, 24, 17, 35), (3, 24, 16, 8, 8), (1, 16, 16, 9, 18)].enumerated() {
            var dy = random([n, cout, h, w], seed: UInt64(1400 + k))
            dy.data[3] = -0.0
            let x = random([n, cin, h, w], seed: UInt64(1450 + k))
            for threads in [1, 2] {
                for tile in [2, 4] {
                    var fast = Tensor(zeros: [cout, cin, 3, 3]), slow = fast
                    let t = ComputeThreads(threads)
                    Winograd.accumulateWeightGradient(&fast, input: x, outputGradient: dy, threads: t, transforms: .avx2, tile: tile)
                    Winograd.accumulateWeightGradient(&slow, input: x, outputGradient: dy, threads: t, transforms: .portable, tile: tile)
                    #expect(fast.data.map(\.bitPattern) == slow.data.map(\.bitPattern), "F(\(tile)) \(n),\(cin),\(cout),\(h),\(w) on \(threads)")
                }
            }
        }
    }

    /// Where Conv3x3.forward uses Winograd (≥ 16 channels each side) the weight gradient does
    /// too, with the tile the forward would pick; elsewhere the nine-tap sums. Runs are
    /// repeatable for a thread count.
    @Test func theKernelFollowsTheForwardsChoice() throws {
        for (k, (n, cin, cout, h, w)) in [(2, 16, 16, 8, 8), (2, 16, 24, 5, 7), (2, 8, 16, 8, 8), (1, 3, 32, 9, 9)].enumerated() {
            let x = random([n, cin, h, w], seed: UInt64(1500 + k)), dy = random([n, cout, h, w], seed: UInt64(1550 + k))
            let t = ComputeThreads(2)
            var viaConv = Tensor(zeros: [cout, cin, 3, 3]), again = viaConv, direct = viaConv
            try Conv3x3.accumulateWeightGradient(&viaConv, input: x, outputGradient: dy, threads: t)
            try Conv3x3.accumulateWeightGradient(&again, input: x, outputGradient: dy, threads: t)
            if Winograd.pays(inputChannels: cin, outputChannels: cout) {
                Winograd.accumulateWeightGradient(&direct, input: x, outputGradient: dy, threads: t, tile: Winograd.tile(height: h, width: w, batch: n))
            } else {
                Conv3x3.loweredWeightGradient(&direct, input: x, outputGradient: dy, threads: t)
            }
            #expect(viaConv.data == direct.data && again.data == viaConv.data, "\(n),\(cin),\(cout),\(h),\(w)")
        }
    }

    /// The G the gradient applies is the one the forward's weight transform applies: for a
    /// single-tap filter e, transformedWeights gives G e Gᵀ entry by entry.
    @Test func theFilterTransformsAreTheForwardsG() {
        for (tile, g) in [(2, TileGrid.filterTransform), (4, TileGrid4.filterTransform)] {
            let side = tile + 2
            for tap in 0..<9 {
                var w = Tensor(zeros: [1, 1, 3, 3])
                w.data[tap] = 1
                let u = Winograd.transformedWeights(w, transposed: false, tile: tile)
                for r in 0..<side {
                    for c in 0..<side {
                        #expect(u[side * r + c] == Float(g[3 * r + tap / 3] * g[3 * c + tap % 3]), "F(\(tile)) tap \(tap) at \(r),\(c)")
                    }
                }
            }
        }
    }
}
