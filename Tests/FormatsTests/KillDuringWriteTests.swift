// KillDuringWriteTests: SIGKILL a process at random moments while it rewrites a checkpoint; the
// file at the target path must always be a complete checkpoint, and leftovers of killed writers
// are cleaned up by the next write.

import Foundation
import Testing
@testable import Formats
import Tensor

@Suite struct KillDuringWriteTests {
    func writerBinary() throws -> String {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for c in [here.appendingPathComponent("checkpoint-writer"), root.appendingPathComponent(".build-test/release/checkpoint-writer")]
            where FileManager.default.isExecutableFile(atPath: c.path) {
            return c.path
        }
        throw FormatError.fileNotFound(file: "checkpoint-writer (build the tests first)")
    }

    @Test func killNineNeverLeavesATornCheckpoint() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/model.h5", binary = try writerBinary()
        let layout: CheckpointFile.Layout = { _ in
            [("stem/conv/weight", [16, 3, 3, 3]), ("units/0/blocks/0/K", [64, 64, 3, 3]), ("head/fc/weight", [10, 64])]
        }
        // Generation 0 is in place before the first writer starts, so every round has a file to check.
        let initial = (try layout(CheckpointConfig(architecture: "toy", inputShape: [3, 8, 8], numClasses: 10, unitChannels: [64],
                                                   unitBlocks: [1], h: 0.1, mean: [0, 0, 0], std: [1, 1, 1])))
            .map { NamedTensor($0.name, Tensor(zeros: $0.shape)) }
        try CheckpointFile.write(Checkpoint(config: CheckpointConfig(architecture: "toy", inputShape: [3, 8, 8], numClasses: 10,
                                                                     unitChannels: [64], unitBlocks: [1], h: 0.1,
                                                                     mean: [0, 0, 0], std: [1, 1, 1]),
                                            labels: (0..<10).map { "c\($0)" }, weights: initial), to: path)
        var generations = Set<Float>()
        // make test-sanitize sets REVSERVE_TEST_SLOWDOWN: the writer needs that much longer per file.
        let slowdown = max(1, Double(ProcessInfo.processInfo.environment["REVSERVE_TEST_SLOWDOWN"] ?? "") ?? 1)
        for round in 0..<60 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = [path]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            usleep(UInt32(Double(UInt32.random(in: 2_000...40_000)) * slowdown))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let checkpoint = try CheckpointFile.read(path, layout: layout)   // throws if torn
            let values = Set(checkpoint.weights.flatMap(\.tensor.data))
            #expect(values.count == 1, "round \(round): a mixture of generations \(values)")
            generations.formUnion(values)
        }
        // The writers did replace the file (otherwise the test proved nothing).
        #expect(generations.count >= 2, "the writers never completed a checkpoint")
        // The next write removes what killed writers left behind.
        try CheckpointFile.write(try CheckpointFile.read(path, layout: layout), to: path)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["model.h5"])
    }
}
