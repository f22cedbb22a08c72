// ConvolutionTests: the fast conv / transposed conv kernels against their naive references,
// the adjoint identity, finite differences of every gradient, threading and shape errors.

import Testing
@testable import Tensor

/// Random shapes including odd sizes and channel counts that are not multiples of 8; the last
/// three are small batches of tall images, whose rows the kernels split over workers.
/// (N, Cin, Cout, H, W)
let convShapes: [(Int, Int, Int, Int, Int)] = [
    (1, 1, 1, 1, 1), (2, 3, 5, 7, 6), (3, 16, 16, 8, 8), (2, 13, 7, 5, 9), (4, 9, 17, 6, 3), (1, 2, 3, 1, 11),
    (1, 16, 16, 8, 8), (1, 5, 6, 17, 10), (2, 4, 3, 13, 7),
]

@Suite struct ConvolutionTests {
    @Test(arguments: [1, 2])
    func convMatchesReference(threads: Int) throws {
        for (k, (n, cin, cout, h, w)) in convShapes.enumerated() {
            let x = random([n, cin, h, w], seed: UInt64(k))
            let wt = random([cout, cin, 3, 3], seed: UInt64(100 + k))
            let b = random([cout], seed: UInt64(200 + k))
            let fast = try Conv3x3.forward(x, weight: wt, bias: b, threads: ComputeThreads(threads))
            let ref = ConvReference.conv(x, weight: wt, bias: b)
            #expect(relativeError(fast, ref) <= 1e-5, "shape \(n),\(cin),\(cout),\(h),\(w)")
        }
    }

    @Test(arguments: [1, 2])
    func transposedMatchesReference(threads: Int) throws {
        for (k, (n, cin, cout, h, w)) in convShapes.enumerated() {
            let u = random([n, cout, h, w], seed: UInt64(k))
            let wt = random([cout, cin, 3, 3], seed: UInt64(100 + k))
            let b = random([cin], seed: UInt64(300 + k))
            let fast = try ConvTranspose3x3.forward(u, weight: wt, bias: b, threads: ComputeThreads(threads))
            let ref = ConvReference.convTranspose(u, weight: wt, bias: b)
            #expect(relativeError(fast, ref) <= 1e-5, "shape \(n),\(cin),\(cout),\(h),\(w)")
        }
    }

    @Test(arguments: [1, 2])
    func weightAndBiasGradientsMatchReference(threads: Int) throws {
        for (k, (n, cin, cout, h, w)) in convShapes.enumerated() {
            let x = random([n, cin, h, w], seed: UInt64(k))
            let dy = random([n, cout, h, w], seed: UInt64(400 + k))
            // Accumulation: start from a non-zero gradient and check it is added to.
            let start = random([cout, cin, 3, 3], seed: UInt64(500 + k))
            var dW = start
            try Conv3x3.accumulateWeightGradient(&dW, input: x, outputGradient: dy, threads: ComputeThreads(threads))
            var expected = ConvReference.convWeightGradient(input: x, outputGradient: dy)
            try expected.add(start)
            #expect(relativeError(dW, expected) <= 1e-5)

            var dWT = Tensor(zeros: [cout, cin, 3, 3])
            try ConvTranspose3x3.accumulateWeightGradient(&dWT, input: dy, outputGradient: x,
                                                          threads: ComputeThreads(threads))
            #expect(relativeError(dWT, ConvReference.convTransposeWeightGradient(input: dy, outputGradient: x)) <= 1e-5)

            var db = Tensor(zeros: [cout])
            try Conv3x3.accumulateBiasGradient(&db, outputGradient: dy)
            #expect(relativeError(db, ConvReference.biasGradient(dy)) <= 1e-5)
        }
    }

    @Test func adjointIdentity() throws {
        for (k, (n, cin, cout, h, w)) in convShapes.enumerated() {
            let x = random([n, cin, h, w], seed: UInt64(k))
            let wt = random([cout, cin, 3, 3], seed: UInt64(700 + k))
            // u = Kx + noise keeps ⟨Kx, u⟩ away from zero, so a relative error is meaningful
            // (a random u gives a sum that cancels to near zero, where any rounding looks large).
            var u = try Conv3x3.forward(x, weight: wt)
            try u.add(random([n, cout, h, w], seed: UInt64(600 + k)))
            let lhs = try Conv3x3.forward(x, weight: wt).dot(u)
            let rhs = try x.dot(ConvTranspose3x3.forward(u, weight: wt))
            #expect(abs(lhs - rhs) <= 1e-5 * max(abs(lhs), abs(rhs), 1e-6), "⟨Kx,u⟩ = \(lhs), ⟨x,Kᵀu⟩ = \(rhs)")
        }
    }

    /// The reference naive transposed conv is written independently; check its adjointness too,
    /// so that the fast kernel is not merely consistent with a wrong reference.
    @Test func referenceAdjointIdentity() throws {
        let x = random([2, 3, 5, 4], seed: 1), wt = random([4, 3, 3, 3], seed: 3)
        var u = ConvReference.conv(x, weight: wt)
        try u.add(random([2, 4, 5, 4], seed: 2))
        let lhs = try ConvReference.conv(x, weight: wt).dot(u)
        let rhs = try x.dot(ConvReference.convTranspose(u, weight: wt))
        #expect(abs(lhs - rhs) <= 1e-5 * abs(lhs))
    }

    @Test func convGradientsPassFiniteDifferences() throws {
        let x = random([2, 3, 6, 5], seed: 11), wt = random([4, 3, 3, 3], seed: 12), b = random([4], seed: 13)
        let r = random([2, 4, 6, 5], seed: 14)   // loss = ⟨conv(x, W) + b, r⟩, so dy = r
        let loss = { (x: Tensor, wt: Tensor, b: Tensor) throws -> Double in
            try Conv3x3.forward(x, weight: wt, bias: b).dot(r)
        }
        let dx = try Conv3x3.inputGradient(r, weight: wt)
        var dW = Tensor(zeros: wt.shape), db = Tensor(zeros: b.shape)
        try Conv3x3.accumulateWeightGradient(&dW, input: x, outputGradient: r)
        try Conv3x3.accumulateBiasGradient(&db, outputGradient: r)
        #expect(try directionalGradientError(at: x, gradient: dx) { try loss($0, wt, b) } <= 1e-3)
        #expect(try directionalGradientError(at: wt, gradient: dW) { try loss(x, $0, b) } <= 1e-3)
        #expect(try directionalGradientError(at: b, gradient: db) { try loss(x, wt, $0) } <= 1e-3)
    }

    @Test func transposedGradientsPassFiniteDifferences() throws {
        let u = random([2, 4, 5, 6], seed: 21), wt = random([4, 3, 3, 3], seed: 22), b = random([3], seed: 23)
        let r = random([2, 3, 5, 6], seed: 24)   // loss = ⟨convT(u, W) + b, r⟩
        let loss = { (u: Tensor, wt: Tensor, b: Tensor) throws -> Double in
            try ConvTranspose3x3.forward(u, weight: wt, bias: b).dot(r)
        }
        let du = try ConvTranspose3x3.inputGradient(r, weight: wt)
        var dW = Tensor(zeros: wt.shape), db = Tensor(zeros: b.shape)
        try ConvTranspose3x3.accumulateWeightGradient(&dW, input: u, outputGradient: r)
        try ConvTranspose3x3.accumulateBiasGradient(&db, outputGradient: r)
        #expect(try directionalGradientError(at: u, gradient: du) { try loss($0, wt, b) } <= 1e-3)
        #expect(try directionalGradientError(at: wt, gradient: dW) { try loss(u, $0, b) } <= 1e-3)
        #expect(try directionalGradientError(at: b, gradient: db) { try loss(u, wt, $0) } <= 1e-3)
    }

    @Test func threadCountDoesNotChangeForwardResults() throws {
        let x = random([5, 6, 7, 7], seed: 31), wt = random([6, 6, 3, 3], seed: 32)
        let one = try Conv3x3.forward(x, weight: wt, threads: .one)
        let two = try Conv3x3.forward(x, weight: wt, threads: ComputeThreads(2))
        #expect(one == two)
    }

    /// A batch smaller than the workers is split by rows (4 workers, 1 image of 19 rows: four
    /// row blocks of 5, the last one short); every row block must match the whole-image result.
    @Test(arguments: [false, true])
    func rowSplitMatchesWholeImages(transposed: Bool) throws {
        let x = random([1, 7, 19, 11], seed: 33), wt = random([7, 7, 3, 3], seed: 34), b = random([7], seed: 35)
        let one = transposed ? try ConvTranspose3x3.forward(x, weight: wt, bias: b, threads: .one)
                             : try Conv3x3.forward(x, weight: wt, bias: b, relu: true, threads: .one)
        let four = transposed ? try ConvTranspose3x3.forward(x, weight: wt, bias: b, threads: ComputeThreads(4))
                              : try Conv3x3.forward(x, weight: wt, bias: b, relu: true, threads: ComputeThreads(4))
        #expect(relativeError(four, one) <= 1e-6)
        var ref = transposed ? ConvReference.convTranspose(x, weight: wt, bias: b) : ConvReference.conv(x, weight: wt, bias: b)
        if !transposed { ref.data = ref.data.map { Swift.max($0, 0) } }
        #expect(relativeError(four, ref) <= 1e-5)
    }

    @Test func mismatchedShapesThrowWithTheShapes() {
        let x = random([2, 3, 4, 4], seed: 1)
        expectTensorError(mentioning: ["Conv3x3.forward", "[5, 4, 3, 3]", "[2, 3, 4, 4]", "[5, 3, 3, 3]"]) {
            _ = try Conv3x3.forward(x, weight: Tensor(zeros: [5, 4, 3, 3]))
        }
        expectTensorError(mentioning: ["weight must be (Cout, Cin, 3, 3)", "[5, 3, 5, 5]"]) {
            _ = try Conv3x3.forward(x, weight: Tensor(zeros: [5, 3, 5, 5]))
        }
        expectTensorError(mentioning: ["bias", "[4]"]) {
            _ = try Conv3x3.forward(x, weight: Tensor(zeros: [5, 3, 3, 3]), bias: Tensor(zeros: [4]))
        }
        expectTensorError(mentioning: ["(N, C, H, W)", "[3, 4, 4]"]) {
            _ = try Conv3x3.forward(Tensor(zeros: [3, 4, 4]), weight: Tensor(zeros: [5, 3, 3, 3]))
        }
        expectTensorError(mentioning: ["ConvTranspose3x3.forward", "[2, 3, 4, 4]"]) {
            _ = try ConvTranspose3x3.forward(x, weight: Tensor(zeros: [5, 3, 3, 3]))
        }
        expectTensorError(mentioning: ["[2, 3, 4, 4]", "[2, 5, 4, 3]"]) {
            var dW = Tensor(zeros: [5, 3, 3, 3])
            try Conv3x3.accumulateWeightGradient(&dW, input: x, outputGradient: Tensor(zeros: [2, 5, 4, 3]))
        }
    }
}

@Suite struct FusedConvolutionTests {
    @Test func fusedReLUEqualsReLUOfConv() throws {
        for (k, (n, cin, cout, h, w)) in convShapes.enumerated() {
            let x = random([n, cin, h, w], seed: UInt64(k)), wt = random([cout, cin, 3, 3], seed: UInt64(50 + k))
            let b = random([cout], seed: UInt64(60 + k))
            let fused = try Conv3x3.forward(x, weight: wt, bias: b, relu: true, threads: ComputeThreads(2))
            #expect(relativeError(fused, ReLU.forward(ConvReference.conv(x, weight: wt, bias: b))) <= 1e-5)
        }
    }

    @Test func flippedTransposedWeightTurnsConvIntoItsTranspose() throws {
        let x = random([2, 5, 6, 7], seed: 1), wt = random([5, 5, 3, 3], seed: 2)
        let viaFlip = try Conv3x3.forward(x, weight: Conv3x3.flippedTransposed(wt))
        #expect(relativeError(viaFlip, ConvReference.convTranspose(x, weight: wt)) <= 1e-5)
        #expect(try Conv3x3.flippedTransposed(Conv3x3.flippedTransposed(wt)) == wt)   // an involution
    }
}
