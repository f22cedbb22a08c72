// TrainerTests: the training loop learns, both memory modes train identically, an interrupted
// and resumed run equals an uninterrupted one, the repository writer only ever exposes complete
// versions, and bad setups fail before any training.

import Foundation
import Locking
import Synchronization
import Testing
@testable import Formats
@testable import RevNet
@testable import Tensor
@testable import Training
import NetworkCheckpoint

func temporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("revserve-train-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A tiny synthetic run: 64 images of 1×8×8, 4 classes, batch 16 (4 steps per epoch).
func tinyOptions(_ arch: String, epochs: Int = 3, memory: MemoryMode = .reversible, seed: UInt64 = 3) -> TrainingOptions {
    let network = NetworkConfig(architecture: arch, inputShape: [1, 8, 8], numClasses: 4,
                                unitChannels: [4, 8], unitBlocks: [2, 2], h: 0.5)
    var o = TrainingOptions(network: network, dataset: .synthetic, dataPath: "", epochs: epochs, batchSize: 16,
                            learningRate: 0.05, augment: true, seed: seed, threads: 2)
    o.syntheticCount = 64
    o.memory = memory
    return o
}

func relativeDifference(_ a: ParameterSet, _ b: ParameterSet) -> Double {
    var num = 0.0, den = 0.0
    for (x, y) in zip(a.tensors, b.tensors) {
        for i in 0..<x.count { num += Double(x.data[i] - y.data[i]) * Double(x.data[i] - y.data[i]); den += Double(y.data[i]) * Double(y.data[i]) }
    }
    return (num / den).squareRoot()
}

@Suite struct TrainerTests {
    @Test(arguments: ["hamiltonian", "midpoint", "leapfrog"])
    func lossDecreasesOnATinyProblem(arch: String) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = tinyOptions(arch, epochs: 20)
        options.augment = false
        options.learningRate = 0.2
        var trainer = try Trainer(options: options, output: .file(dir + "/m.h5"))
        let summary = try trainer.run()
        #expect(summary.history.count == 20 && summary.steps == 80)
        let first = summary.history.first!.loss, last = summary.history.last!.loss
        #expect(last < 0.6 * first, "\(arch): loss \(first) → \(last)")
        #expect(summary.history.last!.testAccuracy > 0.5, "\(arch): held-out accuracy \(summary.history.last!.testAccuracy)")
        #expect(FileManager.default.fileExists(atPath: dir + "/m.metrics.jsonl") && FileManager.default.fileExists(atPath: dir + "/m.svg"))
        let lines = try String(contentsOfFile: dir + "/m.metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 20 && lines[0].contains("\"testAccuracy\""))
    }

    @Test func reversibleAndStandardTrainTheSameParameters() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for arch in ["hamiltonian", "midpoint", "leapfrog"] {
            var weights: [ParameterSet] = []
            for mode in MemoryMode.allCases {
                var options = tinyOptions(arch, memory: mode)
                options.maxSteps = 5
                var trainer = try Trainer(options: options, output: .file("\(dir)/\(arch)-\(mode).h5"))
                _ = try trainer.run()
                weights.append(trainer.network.weights)
            }
            #expect(relativeDifference(weights[0], weights[1]) <= 1e-4, "\(arch)")
        }
    }

    @Test func interruptedThenResumedEqualsUninterrupted() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var straight = try Trainer(options: tinyOptions("leapfrog"), output: .file(dir + "/straight.h5"))
        let expected = try straight.run()

        var first = try Trainer(options: tinyOptions("leapfrog"), output: .file(dir + "/resumed.h5"))
        let stop = StopFlag()
        let stopped = try first.run(stop: stop) { event in
            if case .progress(let p) = event, p.step == 6 { stop.stop() }   // mid-way through epoch 2
        }
        #expect(stopped.stopped && stopped.steps == 6)
        var second = try Trainer(resume: dir + "/resumed.h5", output: .file(dir + "/resumed.h5"), threads: 2)
        let resumed = try second.run()
        #expect(resumed.steps == expected.steps && !resumed.stopped)
        for (a, b) in zip(second.network.weights.tensors, straight.network.weights.tensors) {
            #expect(a.data.map(\.bitPattern) == b.data.map(\.bitPattern))
        }
        #expect(resumed.history.map(\.testAccuracy) == expected.history.map(\.testAccuracy))
        #expect(resumed.history.map(\.loss) == expected.history.map(\.loss))
    }

    @Test func repositoryWriterOnlyExposesCompleteVersions() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let watching = Atomic<Bool>(true), problems = Locked<[String]>([])
        // A watcher that, like the daemon, looks at every numbered directory it can see.
        let watcher = Thread {
            while watching.load(ordering: .relaxed) {
                let modelDir = dir + "/tiny"
                for name in (try? FileManager.default.contentsOfDirectory(atPath: modelDir)) ?? [] where Int(name) != nil {
                    let files = Set((try? FileManager.default.contentsOfDirectory(atPath: "\(modelDir)/\(name)")) ?? [])
                    if files != ["model.h5", "metrics.jsonl", "training.svg"] {
                        problems.withLock { $0.append("\(name): \(files.sorted())") }
                    }
                }
                usleep(200)
            }
        }
        watcher.start()
        for expectedVersion in 1...2 {
            var options = tinyOptions("midpoint", epochs: 1)
            options.maxSteps = 2
            var trainer = try Trainer(options: options, output: .repository(directory: dir, model: "tiny"))
            let summary = try trainer.run()
            #expect(summary.publishedVersion == "\(dir)/tiny/\(expectedVersion)")
            _ = try ModelCheckpoint.load("\(dir)/tiny/\(expectedVersion)/model.h5")
        }
        watching.store(false, ordering: .relaxed)
        usleep(5000)
        #expect(problems.withLock { $0 }.isEmpty, "\(problems.withLock { $0 })")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir + "/tiny")) == [".training", "1", "2"])
    }

    @Test func badSetupsFailBeforeTraining() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func failure(_ options: TrainingOptions, _ output: TrainingOutput) -> String {
            do { _ = try Trainer(options: options, output: output); return "no error" } catch { return error.description }
        }
        let output = TrainingOutput.file(dir + "/m.h5")
        var missing = tinyOptions("hamiltonian")
        missing.dataset = .fashionMNIST
        missing.dataPath = dir + "/nothing"
        #expect(failure(missing, output) == "\(dir)/nothing/train-images-idx3-ubyte[.gz]: no such file")
        try writeFile(dir + "/train-images-idx3-ubyte", [0, 0, 8, 4, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0])
        try writeFile(dir + "/train-labels-idx1-ubyte", [0, 0, 8, 1, 0, 0, 0, 1, 0])
        missing.dataPath = dir
        #expect(failure(missing, output).contains("\(dir)/train-images-idx3-ubyte: wrong magic number 0x804, expected 0x803"))
        var small = tinyOptions("hamiltonian")
        small.batchSize = 1
        #expect(failure(small, output) == "--batch-size must be from 2 (batch norm needs two values per channel) to 65536, got 1")
        var shapes = tinyOptions("hamiltonian")
        shapes.network.unitChannels = [4, 6]
        #expect(failure(shapes, output).contains("divisible by 4"))
        try writeFile(dir + "/a-file", [1])
        #expect(failure(tinyOptions("midpoint"), .file(dir + "/a-file/m.h5")).contains("\(dir)/a-file: not writable"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/m.h5"))
    }
}
