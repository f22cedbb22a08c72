// NetworkGradientTests: reversible backprop equals standard backprop, a finite-difference check of
// the whole network, the evaluation count of each mode, and the bytes each mode keeps.

import Testing
@testable import RevNet
@testable import Tensor

struct StepOutcome {
    var loss: Float
    var gradients: ParameterSet
    var inputGradient: Tensor
    var keptBytes: Int
    var evaluations: Int
}

func step(_ net: Network, _ x: Tensor, _ labels: [Int], _ mode: MemoryMode, threads: Int = 1) throws -> StepOutcome {
    var net = net
    var g = net.weights.zeros()
    let counter = EvaluationCounter()
    let r = try net.trainingStep(x, labels: labels, mode: mode, gradients: &g, inputGradient: true,
                                 EngineContext(threads: ComputeThreads(threads), counter: counter))
    return StepOutcome(loss: r.loss, gradients: g, inputGradient: r.inputGradient!, keptBytes: r.keptBytes,
                       evaluations: counter.count)
}

@Suite struct NetworkGradientTests {
    @Test(arguments: ["hamiltonian", "midpoint", "leapfrog"])
    func reversibleGradientsEqualStandard(name: String) throws {
        for blocks in [[1, 2], [3, 16], [5, 4, 2]] {
            let widths = blocks.count == 3 ? [4, 8, 12] : [4, 8]
            let config = smallConfig(name, blocks: blocks, widths: widths, input: [3, 8, 8])
            let net = try Network(config: config, seed: 7)
            let (x, labels) = batch(config, n: 3, seed: 11)
            let std = try step(net, x, labels, .standard)
            let rev = try step(net, x, labels, .reversible, threads: 2)
            #expect(abs(std.loss - rev.loss) <= 1e-6 * max(1, abs(std.loss)))
            for (k, name) in net.weights.names.enumerated() where Network.isTrainable(name) {
                let e = relativeL2(rev.gradients.tensors[k], std.gradients.tensors[k])
                #expect(e <= 1e-5, "\(config.architecture) \(blocks) \(name): \(e)")
            }
            #expect(relativeL2(rev.inputGradient, std.inputGradient) <= 1e-5)
        }
    }

    @Test(arguments: ["hamiltonian", "midpoint", "leapfrog"])
    func wholeNetworkGradientPassesFiniteDifferences(name: String) throws {
        let config = smallConfig(name, blocks: [2, 2], widths: [4, 8], input: [2, 6, 6], classes: 3, h: 0.3)
        var net = try Network(config: config, seed: 3)
        // Move every trainable tensor off its initial value (zero biases, unit γ): exact ties at
        // ReLU's kink make a finite difference one-sided, whatever the gradient.
        var jitter = SeededGenerator(seed: 8)
        for (k, n) in net.weights.names.enumerated() where Network.isTrainable(n) {
            try net.weights.tensors[k].add(Tensor.randomNormal(net.weights.tensors[k].shape, std: 0.1, using: &jitter))
        }
        let (x, labels) = batch(config, n: 4, seed: 5)
        let outcome = try step(net, x, labels, .reversible)
        func loss(_ weights: ParameterSet, _ input: Tensor) throws -> Double {
            var n = net
            n.weights = weights
            var g = n.weights.zeros()
            return Double(try n.trainingStep(input, labels: labels, mode: .standard, gradients: &g).loss)
        }
        // Directional derivative along a random direction in all trainable weights and the input.
        var rng = SeededGenerator(seed: 42)
        var direction = net.weights.zeros()
        for (k, name) in net.weights.names.enumerated() where Network.isTrainable(name) {
            direction.tensors[k] = Tensor.randomUniform(direction.tensors[k].shape, using: &rng)
        }
        let dx = Tensor.randomUniform(x.shape, using: &rng)
        var analytic = try outcome.inputGradient.dot(dx)
        for k in 0..<direction.count { analytic += try outcome.gradients.tensors[k].dot(direction.tensors[k]) }
        // Small enough that few activations cross ReLU's kink, large enough for float32 losses.
        let eps: Float = 3e-4
        func moved(_ sign: Float) -> (ParameterSet, Tensor) {
            var w = net.weights
            for k in 0..<w.count { try! w.tensors[k].add(direction.tensors[k], scaledBy: sign * eps) }
            var xi = x
            try! xi.add(dx, scaledBy: sign * eps)
            return (w, xi)
        }
        let (wp, xp) = moved(1), (wm, xm) = moved(-1)
        let numeric = (try loss(wp, xp) - loss(wm, xm)) / (2 * Double(eps))
        #expect(abs(numeric - analytic) <= 1e-2 * abs(analytic), "\(name): fd \(numeric) vs \(analytic)")
    }

    @Test(arguments: ["hamiltonian", "midpoint", "leapfrog"])
    func eachBlockFunctionRunsTwicePerReversibleStep(name: String) throws {
        let config = smallConfig(name, blocks: [3, 5], widths: [4, 8])
        let net = try Network(config: config, seed: 1)
        let (x, labels) = batch(config, n: 2, seed: 2)
        let functions = net.architecture.functionsPerBlock * config.unitBlocks.reduce(0, +)
        #expect(try step(net, x, labels, .reversible).evaluations == 2 * functions)
        #expect(try step(net, x, labels, .standard).evaluations == functions)
        let counter = EvaluationCounter()
        _ = try net.logits(x, EngineContext(counter: counter))
        #expect(counter.count == functions)
    }

    @Test(arguments: ["hamiltonian", "midpoint", "leapfrog"])
    func reversibleModeKeepsTheSameBytesAtAnyDepth(name: String) throws {
        func kept(_ blocks: Int, _ mode: MemoryMode) throws -> Int {
            let config = smallConfig(name, blocks: [blocks, blocks, blocks], widths: [4, 8, 12], input: [3, 16, 16])
            let net = try Network(config: config, seed: 1)
            let (x, labels) = batch(config, n: 2, seed: 2)
            return try step(net, x, labels, mode).keptBytes
        }
        let shallow = try kept(4, .reversible), deep = try kept(24, .reversible)
        #expect(shallow == deep)
        let standardShallow = try kept(4, .standard), standardDeep = try kept(24, .standard)
        // Block tapes are the depth-dependent part: six times the blocks, about six times the bytes.
        let stemAndHead = shallow   // what reversible keeps is what does not scale with depth
        let ratio = Double(standardDeep - stemAndHead) / Double(standardShallow - stemAndHead)
        #expect(ratio > 5 && ratio < 7, "standard: \(standardShallow) → \(standardDeep) bytes")
    }
}
