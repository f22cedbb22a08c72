// SGDTests: the momentum update and which tensors get weight decay; the process memory probe;
// the network benchmark on a tiny network.

import Testing
@testable import RevNet
@testable import Tensor
@testable import Training
import Benchmarks

@Suite struct SGDTests {
    @Test func weightDecayGoesToConvAndFCWeightsOnly() {
        #expect(SGD.isDecayed("stem/conv/weight") && SGD.isDecayed("head/fc/weight"))
        #expect(SGD.isDecayed("units/0/blocks/3/K1") && SGD.isDecayed("units/2/blocks/0/K"))
        #expect(!SGD.isDecayed("units/0/blocks/3/b1") && !SGD.isDecayed("head/fc/bias"))
        #expect(!SGD.isDecayed("stem/bn/weight") && !SGD.isDecayed("head/bn/bias"))
    }

    @Test func twoStepsFollowPyTorchsFormula() throws {
        let config = NetworkConfig(architecture: "midpoint", inputShape: [1, 4, 4], numClasses: 2,
                                   unitChannels: [2], unitBlocks: [1])
        var net = try Network(config: config, seed: 1)
        var sgd = SGD(for: net, learningRate: 0.5, momentum: 0.9, weightDecay: 0.1)
        var grads = net.weights.zeros()
        for k in 0..<grads.count { grads.tensors[k] = Tensor(repeating: 1, shape: grads.tensors[k].shape) }
        let w0 = net.weights
        sgd.step(&net.weights, gradients: grads)
        sgd.step(&net.weights, gradients: grads)
        for (k, name) in w0.names.enumerated() {
            let before = w0.tensors[k].data[0], after = net.weights.tensors[k].data[0]
            guard Network.isTrainable(name) else { #expect(after == before, "\(name)"); continue }
            let wd: Float = SGD.isDecayed(name) ? 0.1 : 0
            let v1 = 1 + wd * before, w1 = before - 0.5 * v1
            let v2 = 0.9 * v1 + 1 + wd * w1, w2 = w1 - 0.5 * v2
            #expect(abs(after - w2) <= 1e-6, "\(name)")
        }
        #expect(sgd.stateBytes == net.weights.bytes)
    }

    @Test func peakResidentMemoryIsReadFromProc() throws {
        // Current first: other tests allocate concurrently, and the peak read later can only be higher.
        let now = try #require(ProcessMemory.residentBytes)
        let peak = try #require(ProcessMemory.peakResidentBytes)
        #expect(peak >= now && now > 1_000_000)
    }

    @Test func networkBenchmarkReportsConsistentFigures() throws {
        let config = NetworkConfig(architecture: "hamiltonian", inputShape: [3, 8, 8], numClasses: 4,
                                   unitChannels: [4, 8], unitBlocks: [2, 2])
        let infer = try NetworkBenchmark.infer(config: config, batch: 4, threads: ComputeThreads(2), warmup: 1, repeats: 3)
        #expect(infer.imagesPerSecond > 0 && abs(infer.imagesPerSecond * infer.medianSeconds - 4) < 1e-9)
        #expect(infer.gflops > 0 && infer.parameterCount > 0 && infer.engineKeptBytes == nil)
        for mode in MemoryMode.allCases {
            let train = try NetworkBenchmark.train(config: config, batch: 4, threads: .one, mode: mode, warmup: 0, repeats: 2)
            #expect(train.memoryMode == mode.rawValue && train.gradientBytes == train.parameterBytes)
            #expect(train.optimizerBytes == train.parameterBytes && (train.engineKeptBytes ?? 0) > 0)
        }
    }
}
