// CommandLineTests: the revserve executable as a user runs it, as a real subprocess: output
// formats, and bad input giving one clear line and a non-zero exit status.

import Foundation
import Testing

/// The built revserve binary: $REVSERVE_BIN, or next to the test bundle, or in .build/release.
func revserveBinary() throws -> URL {
    if let path = ProcessInfo.processInfo.environment["REVSERVE_BIN"] { return URL(fileURLWithPath: path) }
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    for candidate in [here.appendingPathComponent("revserve"), root.appendingPathComponent(".build-test/release/revserve"),
                      root.appendingPathComponent(".build/release/revserve")]
        where FileManager.default.isExecutableFile(atPath: candidate.path) {
        return candidate
    }
    throw CLIError.binaryNotFound
}

enum CLIError: Error { case binaryNotFound }

struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs revserve with `arguments` and waits for it.
func revserve(_ arguments: [String]) throws -> RunResult {
    let process = Process()
    process.executableURL = try revserveBinary()
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return RunResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                     stderr: String(decoding: stderr, as: UTF8.self))
}

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
