// TrainEvalTests: `revserve train` and `revserve eval` as a user runs them: a small run on IDX
// files, the evaluation report, Ctrl-C then --resume, and option mistakes caught before training.

import Foundation
import ServerTestSupport
import Testing
@testable import Formats
import Tensor
import Training

/// Fashion-MNIST-format IDX files of `count` learnable 10×10 images (a bright square whose
/// position depends on the class, plus noise) in `dir`, for both splits.
func writeTinyIDX(_ dir: String, count: Int = 120) throws {
    func be(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }
    var rng = SeededGenerator(seed: 77)
    for prefix in ["train", "t10k"] {
        var pixels: [UInt8] = [], labels: [UInt8] = []
        for i in 0..<count {
            let label = i % 3
            for y in 0..<10 {
                for x in 0..<10 {
                    let inSquare = (y / 5 == label / 2) && (x / 5 == label % 2)
                    pixels.append(UInt8(Int(inSquare ? 180 : 20) + Int.random(in: 0..<60, using: &rng)))
                }
            }
            labels.append(UInt8(label))
        }
        try writeFile("\(dir)/\(prefix)-images-idx3-ubyte", be(0x803) + be(count) + be(10) + be(10) + pixels)
        try writeFile("\(dir)/\(prefix)-labels-idx1-ubyte", be(0x801) + be(count) + labels)
    }
}

@Suite struct TrainEvalTests {
    @Test func trainThenEvaluate() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeTinyIDX(dir)
        let train = try revserve(["train", "--arch", "hamiltonian", "--units", "1,1", "--channels", "4,8", "--dataset", "fashion-mnist",
                                  "--data", dir, "--epochs", "6", "--batch-size", "20", "--lr", "0.1", "--augment", "off",
                                  "--out", dir + "/m.h5"])
        #expect(train.status == 0, "\(train.stderr)")
        for needle in ["training ", "epoch   train loss", "    6 ", "done: test accuracy"] {
            #expect(train.stdout.contains(needle), "missing '\(needle)':\n\(train.stdout)")
        }
        let eval = try revserve(["eval", "--checkpoint", dir + "/m.h5", "--dataset", "fashion-mnist", "--data", dir, "--json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        let result = try JSONDecoder().decode(EvaluationResult.self, from: Data(eval.stdout.utf8))
        #expect(result.images == 120 && result.confusion.count == 10 && result.confusion.joined().reduce(0, +) == 120)
        #expect(result.accuracy > 0.6, "accuracy \(result.accuracy)")
        let text = try revserve(["eval", "--checkpoint", dir + "/m.h5", "--dataset", "fashion-mnist", "--data", dir])
        #expect(text.stdout.contains("accuracy") && text.stdout.contains("confusion matrix") && text.stdout.contains("Trouser"))
    }

    @Test func interruptThenResume() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeTinyIDX(dir, count: 400)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try revserveBinary())
        process.arguments = ["train", "--arch", "leapfrog", "--units", "1,1", "--channels", "4,8", "--dataset", "fashion-mnist",
                             "--data", dir, "--epochs", "200", "--batch-size", "20", "--out", dir + "/m.h5"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait for the first epoch's checkpoint, then interrupt as Ctrl-C would.
        for _ in 0..<300 where !FileManager.default.fileExists(atPath: dir + "/m.metrics.jsonl") { usleep(20_000) }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0)
        #expect(stdout.contains("stopped at step") && stdout.contains("--resume"), "\(stdout)")
        let resumed = try revserve(["train", "--resume", dir + "/m.h5", "--epochs", "3", "--out", dir + "/m.h5"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("resuming at step"), "\(resumed.stdout)")
    }

    @Test func mistakesAreOneLineBeforeAnyTraining() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeTinyIDX(dir)
        try writeFile(dir + "/file", [1])
        let base = ["train", "--arch", "midpoint", "--units", "1,1", "--channels", "4,8", "--epochs", "1"]
        let cases: [([String], String)] = [
            (base + ["--dataset", "folder", "--out", dir + "/m.h5"], "--dataset folder needs --data ROOT"),
            (base + ["--data", dir, "--out", dir + "/m.h5", "--repository", dir, "--model", "x"], "either --out or --repository"),
            (base + ["--data", dir], "say where to write"),
            (base + ["--data", dir, "--batch-size", "1", "--out", dir + "/m.h5"], "--batch-size must be from 2"),
            (base + ["--data", dir, "--lr", "0", "--out", dir + "/m.h5"], "--lr must be positive"),
            (base + ["--data", dir + "/none", "--out", dir + "/m.h5"], "\(dir)/none/train-images-idx3-ubyte[.gz]: no such file"),
            (base + ["--data", dir, "--out", dir + "/file/m.h5"], "\(dir)/file: not writable"),
            (["train", "--arch", "resnet", "--data", dir, "--out", dir + "/m.h5"], "unknown architecture 'resnet'"),
        ]
        for (arguments, reason) in cases {
            let r = try revserve(arguments)
            let lines = r.stderr.split(separator: "\n").filter { !$0.isEmpty }
            #expect(r.status != 0 && lines.first?.contains(reason) == true, "\(arguments): \(r.stderr)")
            #expect(!r.stdout.contains("epoch"), "\(arguments) started training")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/m.h5"))
    }
}
