// ConfigTests: presets build the paper's networks, shapes that do not fit are rejected with a
// message that names the value and the reason, and a parameter set's identity names its values.

import Testing
@testable import RevNet
@testable import Tensor

@Suite struct ConfigTests {
    @Test func presetsMatchThePaper() throws {
        let h74 = try Presets.config("hamiltonian-74")
        #expect(h74.unitBlocks == [6, 6, 6] && h74.unitChannels == [32, 64, 112])
        // 4 layers per Hamiltonian block + stem + FC = 74; 2 per Midpoint/Leapfrog block + 2 = 26.
        #expect(4 * h74.unitBlocks.reduce(0, +) + 2 == 74)
        let m26 = try Presets.config("midpoint-26")
        #expect(2 * m26.unitBlocks.reduce(0, +) + 2 == 26)
        for name in Presets.names {
            let config = try Presets.config(name)
            let arch = try Architectures.named(config.architecture)
            try config.validate(for: arch)
        }
        let net = try Network(config: h74)
        // Stem 3→32 conv + 2 BN(32) affine, 18 blocks of K1, K2, b1, b2, head BN, FC 112→10.
        let blocks = zip([32, 64, 112], [6, 6, 6]).reduce(0) { $0 + $1.1 * (2 * ($1.0 / 2) * ($1.0 / 2) * 9 + $1.0) }
        #expect(net.parameterCount == 32 * 3 * 9 + 2 * 32 + blocks + 2 * 112 + 112 * 10 + 10)
        #expect(throws: ConfigError.unknownPreset("resnet-50", known: Presets.names)) { try Presets.config("resnet-50") }
    }

    func rejection(_ config: NetworkConfig) -> String {
        do {
            _ = try Network(config: config)
            return "accepted"
        } catch {
            return error.description
        }
    }

    @Test func badShapesAreRejectedWithTheValueAndTheReason() {
        let odd = rejection(NetworkConfig(architecture: "hamiltonian", unitChannels: [6, 10, 15], unitBlocks: [1, 1, 1]))
        #expect(odd.contains("width 15") && odd.contains("even"), "\(odd)")
        let step = rejection(NetworkConfig(architecture: "hamiltonian", unitChannels: [4, 6], unitBlocks: [1, 1]))
        #expect(step.contains("4 → 6") && step.contains("divisible by 4"), "\(step)")
        let twoStep = rejection(NetworkConfig(architecture: "leapfrog", unitChannels: [4, 7], unitBlocks: [1, 1]))
        #expect(twoStep.contains("4 → 7") && twoStep.contains("even"), "\(twoStep)")
        let zero = rejection(NetworkConfig(architecture: "midpoint", unitChannels: [4, 8], unitBlocks: [2, 0]))
        #expect(zero.contains("unit_blocks") && zero.contains("unit 1 has 0 blocks"), "\(zero)")
        let narrower = rejection(NetworkConfig(architecture: "midpoint", unitChannels: [8, 4], unitBlocks: [1, 1]))
        #expect(narrower.contains("narrower"), "\(narrower)")
        let tiny = rejection(NetworkConfig(architecture: "midpoint", inputShape: [1, 2, 2], unitChannels: [2, 4, 6], unitBlocks: [1, 1, 1]))
        #expect(tiny.contains("too small for 3 units"), "\(tiny)")
        let unknown = rejection(NetworkConfig(architecture: "resnet", unitChannels: [4], unitBlocks: [1]))
        #expect(unknown.contains("unknown architecture 'resnet'") && unknown.contains("hamiltonian"), "\(unknown)")
        // Declared sizes are refused before anything is allocated for them (a fuzzed checkpoint
        // declaring a huge network once ran the loader out of memory).
        let huge = rejection(NetworkConfig(architecture: "midpoint", unitChannels: [16384], unitBlocks: [1000]))
        #expect(huge.contains("unit_channels") && huge.contains("\(NetworkConfig.maxParameters)"), "\(huge)")
        let wide = rejection(NetworkConfig(architecture: "midpoint", inputShape: [3, 65536, 65536], unitChannels: [4], unitBlocks: [1]))
        #expect(wide.contains("input_shape") && wide.contains("\(NetworkConfig.maxInputValues)"), "\(wide)")
        let badH = rejection(NetworkConfig(architecture: "midpoint", unitChannels: [4], unitBlocks: [1], h: 0))
        #expect(badH.contains("invalid h"), "\(badH)")
    }

    @Test func hamiltonianTransitionPadsEachHalf() throws {
        let net = try Network(config: smallConfig("hamiltonian", blocks: [1, 1], widths: [4, 8]))
        let x = randomTensor([1, 4, 4, 4], seed: 1)
        let t = try net.transition(x, to: 1)
        #expect(t.shape == [1, 8, 2, 2])
        let pooled = try AvgPool2x2.forward(x)
        // Y = channels 0-1 → 1-2, Z = channels 2-3 → 5-6; 0, 3, 4, 7 are zero.
        for (out, src) in [(1, 0), (2, 1), (5, 2), (6, 3)] { #expect(t[0, out, 1, 0] == pooled[0, src, 1, 0]) }
        for out in [0, 3, 4, 7] { #expect(t[0, out, 1, 1] == 0) }
    }

    @Test func aParameterSetsIdentityNamesItsValues() throws {
        var a = try Network(config: smallConfig("hamiltonian", blocks: [1, 1]), seed: 1).weights
        let b = a, first = a.identity
        #expect(b.identity == first)                       // a copy shares it
        a.tensors[0].data[0] += 1
        #expect(a.identity != first && b.identity == first)   // a change gets a new one
        let second = a.identity
        _ = try a.withTensors(at: [1]) { t throws(TensorError) in t[0].data[0] = 3 }
        #expect(a.identity != second && a.identity != first)
        #expect(try Network(config: smallConfig("hamiltonian", blocks: [1, 1]), seed: 1).weights.identity != first)
    }

    @Test func inputOfTheWrongShapeIsAnError() throws {
        let net = try Network(config: smallConfig("midpoint", blocks: [1, 1]))
        #expect(throws: TensorError.self) { _ = try net.logits(randomTensor([2, 1, 8, 8], seed: 1)) }
    }
}
