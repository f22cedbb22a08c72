// FaultTests: `revserve train` against faults: SIGKILL at random moments 50 times
// never leaves a torn checkpoint and --resume carries on from the last complete one; a disk
// that fills up while a checkpoint is written is reported and the previous one survives.

import Foundation
import Formats
import ServerTestSupport
import Testing
import Training
#if canImport(Glibc)
import Glibc
import NetworkCheckpoint
#endif

@Suite(.serialized) struct FaultTests {
    /// Small, fast training: two steps per epoch and a checkpoint after each epoch.
    let tiny = ["--arch", "hamiltonian", "--units", "1,1", "--channels", "4,8", "--dataset", "synthetic",
                "--synthetic-count", "40", "--batch-size", "20", "--threads", "1"]

    @Test(.timeLimit(.minutes(4 * testSlowdownMinutes))) func killNineFiftyTimesNeverTearsACheckpoint() async throws {
        // Half a minute of waiting on processes: on a thread of its own, not one of Swift
        // concurrency's two pool threads that the rest of the suite needs.
        try await onThread { try Self.killNineRounds(tiny: tiny) }
    }

    static func killNineRounds(tiny: [String]) throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/m.h5"
        var rng = SystemRandomNumberGenerator()
        var complete = 0, lastStep = -1
        for round in 0..<50 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try revserveBinary())
            let resuming = FileManager.default.fileExists(atPath: path)
            process.arguments = resuming ? ["train", "--resume", path, "--epochs", "100000", "--out", path]
                                         : ["train"] + tiny + ["--epochs", "100000", "--out", path]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32(Double(UInt32.random(in: 150_000...900_000, using: &rng)) * testSlowdown))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            guard FileManager.default.fileExists(atPath: path) else { continue }
            // Whatever moment the kill hit, the file is a whole checkpoint, never older than the last one.
            let checkpoint = try CheckpointFile.read(path, layout: ModelCheckpoint.layout)
            let step = checkpoint.optimizer?.step ?? -1
            #expect(step >= lastStep, "round \(round): step went back from \(lastStep) to \(step)")
            lastStep = step
            complete += 1
        }
        #expect(complete >= 40, "only \(complete) rounds had a checkpoint")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".m.h5") || $0.contains(".tmp") }
        let resumed = try revserve(["train", "--resume", path, "--epochs", "\(lastStep / 2 + 2)", "--out", path])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("resuming at step \(lastStep)"), "\(resumed.stdout)")
        print("kill -9 of train: 50 rounds, \(complete) with a checkpoint, all readable; resumed from step \(lastStep); temporaries left by the last kill: \(leftovers.count)")
    }

    @Test(.timeLimit(.minutes(2 * testSlowdownMinutes))) func aFullDiskIsReportedAndThePreviousCheckpointSurvives() throws {
        guard getuid() == 0 else {
            Issue.record("this test mounts a small tmpfs and needs root (make test runs as root on the project's machines)")
            return
        }
        let dir = try scratchDirectory()
        defer {
            _ = dir.withCString { umount($0) }
            try? FileManager.default.removeItem(atPath: dir)
        }
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=2m", "tmpfs", dir]
        try mount.run()
        mount.waitUntilExit()
        try #require(mount.terminationStatus == 0, "cannot mount a tmpfs at \(dir)")
        let path = dir + "/m.h5"
        let first = try revserve(["train"] + tiny + ["--epochs", "1", "--out", path])
        #expect(first.status == 0, "\(first.stderr)")
        let before = try CheckpointFile.read(path, layout: ModelCheckpoint.layout)

        // Fill the disk to the last few kilobytes.
        let filler = FileManager.default.createFile(atPath: dir + "/filler", contents: nil)
        #expect(filler)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/filler"))
        let block = Data(count: 4096)
        while (try? handle.write(contentsOf: block)) != nil {}
        try? handle.close()

        let full = try revserve(["train", "--resume", path, "--epochs", "3", "--out", path])
        #expect(full.status != 0)
        #expect(full.stderr.contains(path) && full.stderr.contains("cannot write"), "\(full.stderr)")
        #expect(!full.stderr.contains("Fatal error"))
        let after = try CheckpointFile.read(path, layout: ModelCheckpoint.layout)
        #expect(after == before, "the previous checkpoint changed")
    }
}
