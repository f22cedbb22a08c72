// CheckpointTransferTests: what a reading child hands its parent arrives bit for bit, and any
// damage to those bytes is an error, never a crash; CheckpointReader turns a child that loops,
// dies or fails into an error that says so, within its time limit.

import Foundation
import Testing
@testable import Formats
@testable import Tensor

@Suite struct CheckpointTransferTests {
    @Test func checkpointsAndRefusalsArriveExactly() throws {
        var checkpoint = sampleCheckpoint(seed: 3)
        checkpoint.training?.history["loss"] = [2.5, .nan, .infinity]   // a diverged run is still readable
        checkpoint.training?.attributes["widths"] = .ints([2, 4])
        checkpoint.training?.attributes["rates"] = .floats([0.5, -0.25])
        checkpoint.training?.attributes["lr"] = .float(0.1)
        let bytes = CheckpointTransfer.encode(.checkpoint(checkpoint))
        guard case .checkpoint(let back) = try CheckpointTransfer.decode(bytes, file: "f.h5") else {
            Issue.record("not a checkpoint"); return
        }
        #expect(back.config == checkpoint.config && back.labels == checkpoint.labels && back.weights == checkpoint.weights)
        #expect(back.optimizer == checkpoint.optimizer)
        #expect(back.training?.attributes == checkpoint.training?.attributes)
        let loss = try #require(back.training?.history["loss"])
        #expect(loss[0] == 2.5 && loss[1].isNaN && loss[2] == .infinity)

        var bare = sampleCheckpoint(seed: 4)
        bare.optimizer = nil
        bare.training = nil
        #expect(try CheckpointTransfer.decode(CheckpointTransfer.encode(.checkpoint(bare)), file: "f.h5") == .checkpoint(bare))
        for error: FormatError in [.checkpoint(file: "f.h5", path: "/weights/x", problem: "missing"), .fileNotFound(file: "g.h5"),
                                   .unreadable(file: "f.h5", reason: "not HDF5")] {
            #expect(try CheckpointTransfer.decode(CheckpointTransfer.encode(.refused(error)), file: "f.h5") == .refused(error))
        }
    }

    @Test func damagedTransfersAreErrors() throws {
        let bytes = CheckpointTransfer.encode(.checkpoint(sampleCheckpoint(seed: 5)))
        func refused(_ b: [UInt8]) -> Bool {
            do { _ = try CheckpointTransfer.decode(b, file: "f.h5"); return false } catch { return true }
        }
        // Every truncation, and anything appended.
        for n in 0..<bytes.count { #expect(refused(Array(bytes.prefix(n))), "prefix of \(n) bytes") }
        #expect(refused(bytes + [0, 0, 0, 0]))
        // A header length that lies, and random bytes over every part of the message.
        var lying = bytes
        lying[CheckpointTransfer.magic.count] ^= 0xFF
        #expect(refused(lying))
        var rng = SeededGenerator(seed: 9)
        for _ in 0..<2000 {
            var b = bytes
            for _ in 0..<Int.random(in: 1...8, using: &rng) { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            _ = try? CheckpointTransfer.decode(b, file: "f.h5")   // must not trap
        }
        // A shape that claims more data than there is (same length, so the header still parses).
        let shape = Array("[3,2]".utf8)
        let at = try #require((0...(bytes.count - shape.count)).first { Array(bytes[$0..<($0 + shape.count)]) == shape })
        var more = bytes
        more.replaceSubrange(at..<(at + shape.count), with: Array("[3,9]".utf8))
        #expect(refused(more))
        var fewer = bytes
        fewer.replaceSubrange(at..<(at + shape.count), with: Array("[3,1]".utf8))
        #expect(refused(fewer))
        // A non-finite weight is refused even though the child should never send one.
        var nan = sampleCheckpoint(seed: 6)
        nan.weights[1].tensor.data[0] = .nan
        #expect(throws: FormatError.checkpoint(file: "f.h5", path: "/weights/units/0/blocks/0/K", problem: "holds a non-finite value")) {
            try CheckpointTransfer.decode(CheckpointTransfer.encode(.checkpoint(nan)), file: "f.h5")
        }
    }

    @Test func aChildThatLoopsDiesOrFailsIsAnErrorInTime() throws {
        func reading(_ script: String, timeout: Duration = .seconds(30)) -> String {
            let reader = CheckpointReader(command: ["/bin/sh", "-c", script, "sh"], timeout: timeout)
            do { _ = try reader.read("f.h5"); return "read" } catch { return error.description }
        }
        let started = ContinuousClock.now
        #expect(reading("exec sleep 60", timeout: .milliseconds(300)).contains("did not finish within 0.3 seconds"))
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(reading("kill -SEGV $$").contains("killed the reading process (signal 11)"))
        #expect(reading("echo 'no such thing' >&2; exit 3").contains("failed (exit 3): no such thing"))
        #expect(reading("echo hello").contains("malformed: no transfer header"))
        // A child that writes more than a pipe holds (and some noise on standard error); the
        // path comes last.
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/message"
        var large = sampleCheckpoint(seed: 8)
        var rng = SeededGenerator(seed: 10)
        large.weights[0].tensor = Tensor.randomNormal([64, 64, 3, 3], using: &rng)
        try Data(CheckpointTransfer.encode(.checkpoint(large))).write(to: URL(fileURLWithPath: file))
        let reader = CheckpointReader(command: ["/bin/sh", "-c", "echo noise >&2; cat \"$1\"", "sh"], timeout: .seconds(30))
        #expect(try reader.read(file) == large)
    }
}
