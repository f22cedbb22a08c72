// CommandLineTests: the revserve executable as a user runs it, as a real subprocess: output
// formats, and bad input giving one clear line and a non-zero exit status.

import Foundation
import ServerTestSupport
import Testing

/// Runs revserve with `arguments` and waits for it (ServerTestSupport's runner).
func revserve(_ arguments: [String]) throws -> RunResult { try revserveRun(arguments) }

@Suite struct CommandLineTests {
    @Test func benchInferPrintsJSON() throws {
        let r = try revserve(["bench", "infer", "--arch", "midpoint", "--units", "1,2", "--channels", "4,8",
                              "--input", "3,8,8", "--classes", "3", "--batch", "2", "--warmup", "0", "--repeats", "1", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect((json["imagesPerSecond"] as? Double ?? 0) > 0)
        #expect(json["unitBlocks"] as? [Int] == [1, 2] && json["task"] as? String == "infer")
        #expect((json["referenceSgemmGflops"] as? Double ?? 0) > 0)
    }

    @Test func benchTrainReportsMemory() throws {
        let r = try revserve(["bench", "train", "--arch", "leapfrog", "--units", "2,2", "--channels", "4,8",
                              "--input", "3,8,8", "--batch", "2", "--warmup", "0", "--repeats", "1", "--memory", "standard"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("train (standard memory)") && r.stdout.contains("engine kept"))
    }

    @Test func badNetworkShapesGiveOneClearLine() throws {
        let r = try revserve(["bench", "infer", "--arch", "hamiltonian", "--units", "1,1", "--channels", "4,6", "--batch", "1"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("4 → 6") && r.stderr.contains("divisible by 4"), "\(r.stderr)")
        #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("Stack dump"))
    }

    @Test func unknownPresetListsTheKnownOnes() throws {
        let r = try revserve(["bench", "infer", "--preset", "resnet-50"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("unknown preset 'resnet-50'") && r.stderr.contains("hamiltonian-74"), "\(r.stderr)")
    }

    @Test func malformedListsAreRejected() throws {
        let r = try revserve(["bench", "infer", "--arch", "midpoint", "--units", "4,x", "--channels", "4,8"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("'4,x' is not a comma-separated list"), "\(r.stderr)")
    }
}
