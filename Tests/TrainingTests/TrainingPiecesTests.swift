// TrainingPiecesTests: the learning-rate schedules, the smoothness regulariser (value against its
// formula, gradient against finite differences) and the augmentation's shifts and flips.

import Testing
@testable import RevNet
@testable import Tensor
@testable import Training

@Suite struct TrainingPiecesTests {
    @Test func schedules() {
        let step = LearningRateSchedule(base: 0.1, kind: .step, totalSteps: 100)
        #expect(step.rate(at: 0) == 0.1 && step.rate(at: 49) == 0.1)
        #expect(abs(step.rate(at: 50) - 0.01) < 1e-9 && abs(step.rate(at: 75) - 0.001) < 1e-9)
        let cosine = LearningRateSchedule(base: 0.2, kind: .cosine, totalSteps: 110, warmupSteps: 10)
        #expect(abs(cosine.rate(at: 0) - 0.02) < 1e-7 && abs(cosine.rate(at: 9) - 0.2) < 1e-7)
        #expect(abs(cosine.rate(at: 10) - 0.2) < 1e-7 && abs(cosine.rate(at: 60) - 0.1) < 1e-6 && cosine.rate(at: 109) < 0.001)
    }

    @Test func smoothnessValueAndGradient() throws {
        let config = NetworkConfig(architecture: "hamiltonian", inputShape: [1, 4, 4], numClasses: 2,
                                   unitChannels: [4, 8], unitBlocks: [3, 2], h: 0.5)
        let net = try Network(config: config, seed: 4)
        let alpha: Float = 0.3
        // The formula, term by term.
        var expected = 0.0
        for u in 0..<2 {
            for name in ["K1", "K2"] {
                for j in 0..<(config.unitBlocks[u] - 1) {
                    let a = net.weights["units/\(u)/blocks/\(j)/\(name)"]!, b = net.weights["units/\(u)/blocks/\(j + 1)/\(name)"]!
                    for i in 0..<a.count { let d = Double(b.data[i] - a.data[i]) / 0.5; expected += d * d }
                }
            }
        }
        expected *= Double(alpha) * 0.5
        var g = net.weights.zeros()
        let value = SmoothnessRegularizer.apply(net, alpha: alpha, gradients: &g)
        #expect(abs(Double(value) - expected) <= 1e-4 * expected)
        // Central differences along a random direction in every weight.
        var rng = SeededGenerator(seed: 9)
        var direction = net.weights.zeros()
        for k in 0..<direction.count { direction.tensors[k] = Tensor.randomUniform(direction.tensors[k].shape, using: &rng) }
        func r(_ sign: Float) -> Double {
            var moved = net
            for k in 0..<moved.weights.count { try! moved.weights.tensors[k].add(direction.tensors[k], scaledBy: sign * 1e-2) }
            var scratch = moved.weights.zeros()
            return Double(SmoothnessRegularizer.apply(moved, alpha: alpha, gradients: &scratch))
        }
        let numeric = (r(1) - r(-1)) / 2e-2
        let analytic = try (0..<g.count).reduce(0.0) { $0 + (try g.tensors[$1].dot(direction.tensors[$1])) }
        #expect(abs(numeric - analytic) <= 1e-3 * abs(analytic), "fd \(numeric) vs \(analytic)")
        var none = net.weights.zeros()
        #expect(SmoothnessRegularizer.apply(net, alpha: 0, gradients: &none) == 0)
    }

    @Test func augmentationShiftsAndMirrorsWithZeroFill() throws {
        // One 1×3×3 image 1…9; over many draws every result must be a shifted (and maybe
        // mirrored) copy with zeros where the shift uncovers the border.
        let image = try Tensor(shape: [1, 1, 3, 3], data: (1...9).map(Float.init))
        var rng = SeededGenerator(seed: 1)
        var mirrored = false, shifted = false
        for _ in 0..<200 {
            var x = image
            Augmentation.apply(&x, pad: 1, flip: true, using: &rng)
            var matched = false
            for dy in -1...1 { for dx in -1...1 { for flip in [false, true] {
                var expected = [Float](repeating: 0, count: 9)
                for y in 0..<3 { for c in 0..<3 {
                    let sy = y + dy, scRaw = c + dx
                    if sy >= 0 && sy < 3 && scRaw >= 0 && scRaw < 3 { expected[y * 3 + c] = image.data[sy * 3 + (flip ? 2 - scRaw : scRaw)] }
                } }
                if expected == x.data { matched = true; mirrored = mirrored || (flip && dx == 0 && dy == 0 && x != image); shifted = shifted || dx != 0 || dy != 0 }
            } } }
            #expect(matched, "\(x.data)")
        }
        #expect(mirrored && shifted)
    }
}
