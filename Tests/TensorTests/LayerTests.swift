// LayerTests: ReLU, pooling, channel padding, batch norm, linear and softmax cross-entropy:
// references, finite differences of every backward, PyTorch's batch-norm conventions, bad shapes.

import Testing
@testable import Tensor

/// A tensor whose entries are at least `margin` away from zero, so that a finite-difference step
/// smaller than the margin never crosses ReLU's kink.
func awayFromZero(_ shape: [Int], seed: UInt64, margin: Float = 0.1) -> Tensor {
    var t = random(shape, seed: seed)
    for i in 0..<t.count { t.data[i] += t.data[i] >= 0 ? margin : -margin }
    return t
}

@Suite struct LayerTests {
    @Test func reluForwardAndBackward() throws {
        let x = awayFromZero([2, 3, 4, 5], seed: 1)
        let y = ReLU.forward(x)
        for i in 0..<x.count { #expect(y.data[i] == max(x.data[i], 0)) }
        let r = random(x.shape, seed: 2)
        let dx = try ReLU.backward(r, input: x)
        #expect(directionalGradientError(at: x, gradient: dx, eps: 1e-2) { try! ReLU.forward($0).dot(r) } <= 1e-3)
        // The SIMD body and the scalar tail (37 = 4 × 8 + 5) give exactly the definition,
        // NaN and ±0 included (NaN and 0 are not > 0, so they pass no gradient and map to 0).
        var odd = random([37], seed: 3)
        odd.data[3] = .nan; odd.data[35] = .nan; odd.data[5] = 0; odd.data[36] = -0.0
        let g = random([37], seed: 4)
        let (yo, go) = (ReLU.forward(odd), try ReLU.backward(g, input: odd))
        for i in 0..<37 {
            #expect(yo.data[i] == (odd.data[i] > 0 ? odd.data[i] : 0) && go.data[i] == (odd.data[i] > 0 ? g.data[i] : 0), "element \(i)")
        }
        expectTensorError(mentioning: ["ReLU.backward", "[2, 3, 4, 5]", "[2, 3]"]) {
            _ = try ReLU.backward(Tensor(zeros: [2, 3]), input: x)
        }
    }

    @Test func avgPoolForwardMatchesDefinitionAndBackwardPassesFD() throws {
        for (k, shape) in [[2, 3, 4, 6], [1, 2, 5, 7], [1, 1, 1, 3]].enumerated() {
            let x = random(shape, seed: UInt64(k))
            let y = try AvgPool2x2.forward(x)
            #expect(y.shape == [shape[0], shape[1], shape[2] / 2, shape[3] / 2])
            for n in 0..<y.shape[0] { for c in 0..<y.shape[1] { for i in 0..<y.shape[2] { for j in 0..<y.shape[3] {
                let mean = (x[n, c, 2 * i, 2 * j] + x[n, c, 2 * i, 2 * j + 1]
                            + x[n, c, 2 * i + 1, 2 * j] + x[n, c, 2 * i + 1, 2 * j + 1]) / 4
                #expect(abs(y[n, c, i, j] - mean) <= 1e-6)
            } } } }
            let r = random(y.shape, seed: UInt64(10 + k))
            let dx = try AvgPool2x2.backward(r, inputShape: shape)
            #expect(directionalGradientError(at: x, gradient: dx) { try! AvgPool2x2.forward($0).dot(r) } <= 1e-3)
        }
        expectTensorError(mentioning: ["AvgPool2x2.backward", "[1, 2, 2, 3]", "[1, 2, 3, 3]"]) {
            _ = try AvgPool2x2.backward(Tensor(zeros: [1, 2, 3, 3]), inputShape: [1, 2, 5, 7])
        }
    }

    @Test func globalAvgPool() throws {
        let x = random([3, 4, 5, 2], seed: 3)
        let y = try GlobalAvgPool.forward(x)
        #expect(abs(y[1, 2] - (0..<5).flatMap { i in (0..<2).map { j in x[1, 2, i, j] } }.reduce(0, +) / 10) <= 1e-6)
        let r = random([3, 4], seed: 4)
        let dx = try GlobalAvgPool.backward(r, inputShape: x.shape)
        #expect(directionalGradientError(at: x, gradient: dx) { try! GlobalAvgPool.forward($0).dot(r) } <= 1e-3)
        expectTensorError(mentioning: ["GlobalAvgPool.backward", "[3, 4]", "[4, 3]"]) {
            _ = try GlobalAvgPool.backward(Tensor(zeros: [4, 3]), inputShape: x.shape)
        }
    }

    @Test func channelPadPlacesZerosSymmetricallyPerGroup() throws {
        let x = random([2, 4, 3, 3], seed: 5)
        // Hamiltonian style: two halves (Y: channels 0-1, Z: channels 2-3), 1 zero channel each side.
        let y = try ChannelPad.forward(x, before: 1, after: 1, groups: 2)
        #expect(y.shape == [2, 8, 3, 3])
        let source: [Int?] = [nil, 0, 1, nil, nil, 2, 3, nil]
        for n in 0..<2 { for (c, s) in source.enumerated() { for i in 0..<3 { for j in 0..<3 {
            #expect(y[n, c, i, j] == (s.map { x[n, $0, i, j] } ?? 0))
        } } } }
        let r = random(y.shape, seed: 6)
        let dx = try ChannelPad.backward(r, before: 1, after: 1, groups: 2)
        #expect(directionalGradientError(at: x, gradient: dx) {
            try! ChannelPad.forward($0, before: 1, after: 1, groups: 2).dot(r)
        } <= 1e-3)
        let plain = try ChannelPad.forward(x, before: 2, after: 2)
        #expect(plain.shape == [2, 8, 3, 3] && plain[1, 2, 1, 1] == x[1, 0, 1, 1] && plain[1, 1, 1, 1] == 0)
        expectTensorError(mentioning: ["ChannelPad.forward", "3 channels", "2 equal groups"]) {
            _ = try ChannelPad.forward(Tensor(zeros: [1, 3, 2, 2]), before: 1, after: 1, groups: 2)
        }
    }

    @Test func batchSlicesJoinBackIntoTheBatch() throws {
        let x = random([5, 2, 3, 4], seed: 7)
        let parts = [try x.batchItems(0..<2), try x.batchItems(2..<2), try x.batchItems(2..<5)]
        #expect(parts.map(\.shape) == [[2, 2, 3, 4], [0, 2, 3, 4], [3, 2, 3, 4]])
        #expect(parts[2][1, 1, 2, 3] == x[3, 1, 2, 3])
        #expect(try Tensor.concatenatingBatches(parts).data == x.data)
        expectTensorError(mentioning: ["Tensor.batchItems", "4..<6", "[5, 2, 3, 4]"]) { _ = try x.batchItems(4..<6) }
        expectTensorError(mentioning: ["Tensor.concatenatingBatches", "part 1", "[1, 2, 3, 3]"]) {
            _ = try Tensor.concatenatingBatches([x, Tensor(zeros: [1, 2, 3, 3])])
        }
        expectTensorError(mentioning: ["no parts"]) { _ = try Tensor.concatenatingBatches([]) }
    }

    @Test func batchNormTrainingNormalisesAndUpdatesRunningStatsLikePyTorch() throws {
        // One channel holding 1, 2, 3, 4: mean 2.5, biased variance 1.25, unbiased 5/3.
        let x = try Tensor(shape: [2, 1, 1, 2], data: [1, 2, 3, 4])
        var rm = Tensor(zeros: [1]), rv = Tensor(repeating: 1, shape: [1])
        let (y, cache) = try BatchNorm.forwardTraining(x, gamma: Tensor(repeating: 2, shape: [1]),
                                                       beta: Tensor(repeating: 0.5, shape: [1]),
                                                       runningMean: &rm, runningVar: &rv)
        #expect(abs(cache.mean[0] - 2.5) <= 1e-6)
        #expect(abs(rm[0] - 0.25) <= 1e-6)                     // 0.9·0 + 0.1·2.5
        #expect(abs(rv[0] - (0.9 + 0.1 * 5 / 3)) <= 1e-6)      // unbiased variance in the running value
        let inv = 1 / (1.25 + 1e-5).squareRoot()
        for (i, v) in [1.0, 2, 3, 4].enumerated() {
            #expect(abs(Double(y.data[i]) - (2 * (v - 2.5) * inv + 0.5)) <= 1e-5)
        }
    }

    @Test func batchNormEvalUsesRunningStatistics() throws {
        let x = random([2, 3, 2, 2], seed: 7)
        let gamma = random([3], seed: 8), beta = random([3], seed: 9)
        let mean = random([3], seed: 10), v = try Tensor(shape: [3], data: [0.5, 1, 2])
        let y = try BatchNorm.forwardInference(x, gamma: gamma, beta: beta, runningMean: mean,
                                               runningVar: v, eps: 1e-3)
        for n in 0..<2 { for c in 0..<3 { for i in 0..<2 { for j in 0..<2 {
            let e = gamma[c] * (x[n, c, i, j] - mean[c]) / (v[c] + 1e-3).squareRoot() + beta[c]
            #expect(abs(y[n, c, i, j] - e) <= 1e-5)
        } } } }
        let fused = try BatchNorm.forwardInference(x, gamma: gamma, beta: beta, runningMean: mean,
                                                   runningVar: v, eps: 1e-3, relu: true)
        #expect(fused == ReLU.forward(y))
    }

    @Test func batchNormBackwardPassesFiniteDifferences() throws {
        let x = random([3, 2, 3, 2], seed: 11), gamma = random([2], seed: 12), beta = random([2], seed: 13)
        let r = random(x.shape, seed: 14)
        func loss(_ x: Tensor, _ g: Tensor, _ b: Tensor) -> Double {
            var rm = Tensor(zeros: [2]), rv = Tensor(zeros: [2])
            return try! BatchNorm.forwardTraining(x, gamma: g, beta: b, runningMean: &rm, runningVar: &rv).0.dot(r)
        }
        var rm = Tensor(zeros: [2]), rv = Tensor(zeros: [2])
        let (_, cache) = try BatchNorm.forwardTraining(x, gamma: gamma, beta: beta, runningMean: &rm, runningVar: &rv)
        var dg = Tensor(zeros: [2]), db = Tensor(zeros: [2])
        let dx = try BatchNorm.backward(r, input: x, gamma: gamma, cache: cache, dGamma: &dg, dBeta: &db)
        #expect(directionalGradientError(at: x, gradient: dx, eps: 1e-3) { loss($0, gamma, beta) } <= 5e-3)
        #expect(directionalGradientError(at: gamma, gradient: dg, eps: 1e-3) { loss(x, $0, beta) } <= 5e-3)
        #expect(directionalGradientError(at: beta, gradient: db, eps: 1e-3) { loss(x, gamma, $0) } <= 5e-3)
    }

    @Test func batchNormRejectsBadInput() {
        var rm = Tensor(zeros: [2]), rv = Tensor(zeros: [2])
        expectTensorError(mentioning: ["gamma", "[2]", "[3]"]) {
            _ = try BatchNorm.forwardTraining(Tensor(zeros: [2, 2, 2, 2]), gamma: Tensor(zeros: [3]),
                                              beta: Tensor(zeros: [2]), runningMean: &rm, runningVar: &rv)
        }
        expectTensorError(mentioning: ["more than one value per channel", "[1, 2, 1, 1]"]) {
            _ = try BatchNorm.forwardTraining(Tensor(zeros: [1, 2, 1, 1]), gamma: Tensor(zeros: [2]),
                                              beta: Tensor(zeros: [2]), runningMean: &rm, runningVar: &rv)
        }
    }

    @Test func linearMatchesReferenceAndPassesFiniteDifferences() throws {
        for (k, (n, fin, fout)) in [(3, 5, 4), (1, 1, 1), (7, 13, 10)].enumerated() {
            let x = random([n, fin], seed: UInt64(k)), w = random([fout, fin], seed: UInt64(10 + k))
            let b = random([fout], seed: UInt64(20 + k))
            #expect(relativeError(try Linear.forward(x, weight: w, bias: b),
                                  Linear.referenceForward(x, weight: w, bias: b)) <= 1e-5)
            let r = random([n, fout], seed: UInt64(30 + k))
            var dW = Tensor(zeros: w.shape), db = Tensor(zeros: b.shape)
            let dx = try Linear.backward(r, input: x, weight: w, dWeight: &dW, dBias: &db)
            let loss = { (x: Tensor, w: Tensor, b: Tensor) in try! Linear.referenceForward(x, weight: w, bias: b).dot(r) }
            #expect(directionalGradientError(at: x, gradient: dx) { loss($0, w, b) } <= 1e-3)
            #expect(directionalGradientError(at: w, gradient: dW) { loss(x, $0, b) } <= 1e-3)
            #expect(directionalGradientError(at: b, gradient: db) { loss(x, w, $0) } <= 1e-3)
        }
        expectTensorError(mentioning: ["Linear.forward", "(Out, 5)", "[4, 6]"]) {
            _ = try Linear.forward(Tensor(zeros: [3, 5]), weight: Tensor(zeros: [4, 6]), bias: Tensor(zeros: [4]))
        }
    }

    @Test func softmaxCrossEntropy() throws {
        let logits = random([4, 5], seed: 41, std: 3)
        let labels = [0, 4, 2, 2]
        let (loss, p) = try SoftmaxCrossEntropy.forward(logits, labels: labels)
        var expected = 0.0
        for (i, y) in labels.enumerated() {
            let row = (0..<5).map { Double(logits[i, $0]) }
            let lse = row.map { _exp(Float($0)) }.reduce(0) { $0 + Double($1) }
            expected += _log(lse) - row[y]
            #expect(abs((0..<5).map { p[i, $0] }.reduce(0, +) - 1) <= 1e-6)
        }
        #expect(abs(Double(loss) - expected / 4) <= 1e-5)
        let g = try SoftmaxCrossEntropy.backward(probabilities: p, labels: labels)
        #expect(directionalGradientError(at: logits, gradient: g, eps: 1e-2) {
            Double(try! SoftmaxCrossEntropy.forward($0, labels: labels).loss)
        } <= 5e-3)
        // Large logits stay finite (log-sum-exp).
        let big = try Tensor(shape: [1, 3], data: [1000, 0, -1000])
        #expect(try SoftmaxCrossEntropy.forward(big, labels: [1]).loss == 1000)
        expectTensorError(mentioning: ["label 5", "0..<5"]) {
            _ = try SoftmaxCrossEntropy.forward(logits, labels: [0, 5, 1, 1])
        }
        expectTensorError(mentioning: ["N = 3 labels", "[4, 5]"]) {
            _ = try SoftmaxCrossEntropy.forward(logits, labels: [0, 1, 1])
        }
    }

    @Test func tensorBasics() throws {
        var t = Tensor(zeros: [2, 3])
        t[1, 2] = 5
        #expect(t.data == [0, 0, 0, 0, 0, 5])
        #expect(try t.reshaped([3, 2])[2, 1] == 5)
        expectTensorError(mentioning: ["shape [4]", "data has 6"]) { _ = try Tensor(shape: [4], data: t.data) }
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7)
        #expect(Tensor.randomNormal([16], using: &a) == Tensor.randomNormal([16], using: &b))
    }
}

@Suite struct ChannelSliceTests {
    @Test func splitThenJoinIsIdentity() throws {
        let x = random([3, 6, 2, 5], seed: 1)
        let y = try x.channels(0..<2), z = try x.channels(2..<6)
        #expect(y.shape == [3, 2, 2, 5] && z.shape == [3, 4, 2, 5])
        #expect(y[2, 1, 1, 4] == x[2, 1, 1, 4] && z[1, 3, 0, 2] == x[1, 5, 0, 2])
        #expect(try Tensor.concatenatingChannels([y, z]) == x)
        expectTensorError(mentioning: ["channels 4..<8", "0..<6"]) { _ = try x.channels(4..<8) }
        expectTensorError(mentioning: ["part 1", "[3, 2, 2, 4]"]) {
            _ = try Tensor.concatenatingChannels([y, Tensor(zeros: [3, 2, 2, 4])])
        }
    }
}
