// HotSwapTests: the repository under a live daemon: 20 swaps while 16 clients classify
// continuously (no failure, versions never go backwards, memory back to its one-version
// level), broken versions (truncated, NaN, wrong architecture) leaving the previous one
// serving, `revserve train --repository` picked up by itself, and owner-only control.

import Foundation
import Locking
import Server
import Synchronization
import ServerTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A repository with model `name` whose version 1 is a copy of a bundled checkpoint.
func repositoryWithModel(_ name: String, from bundled: String = "hamiltonian", config: String? = nil) throws -> URL {
    let root = try temporaryDirectory()
    try FileManager.default.createDirectory(at: root.appendingPathComponent("\(name)/1"), withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: bundledModels + "/\(bundled)/1/model.h5",
                                     toPath: root.appendingPathComponent("\(name)/1/model.h5").path)
    if let config { try Data(config.utf8).write(to: root.appendingPathComponent("\(name)/config.json")) }
    return root
}

/// Publishes `file` as version `version` the way `revserve train` does: a hidden directory renamed into place.
func publish(_ file: String, as version: Int, model: String, in repository: URL) throws {
    let staging = repository.appendingPathComponent("\(model)/.publish-\(version)")
    try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: file, toPath: staging.appendingPathComponent("model.h5").path)
    try FileManager.default.moveItem(at: staging, to: repository.appendingPathComponent("\(model)/\(version)"))
}

extension DaemonProcess {
    /// Waits (up to 30 s) until `model` serves exactly `version` by default.
    func waitForVersion(_ version: Int, model: String) async throws -> Bool {
        for _ in 0..<300 {
            if let r = try? await get("/v2/models/\(model)"), r.status == 200,
               let o = try? jsonObject(r), (o["parameters"] as? [String: Any])?["version"] as? String == String(version) {
                return true
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        return false
    }

    func index() async throws -> [[String: Any]] {
        let r = try await post("/v2/repository/index", [])
        return try JSONSerialization.jsonObject(with: Data(r.body)) as? [[String: Any]] ?? []
    }
}

@Suite(.timeLimit(.minutes(5 * testSlowdownMinutes))) struct HotSwapTests {
    @Test func twentySwapsUnderLoadLoseNothing() async throws {
        let repository = try repositoryWithModel("m")
        defer { try? FileManager.default.removeItem(at: repository) }
        let daemon = try await DaemonProcess(models: repository.path)
        let png = try sample("0009-sneaker.png")
        final class Log: Sendable {
            let answers = Locked<[[Int]]>(Array(repeating: [], count: 16))
            let failures = Locked<[String]>([])
            let stop = Atomic<Bool>(false)
            let pause = Atomic<Bool>(false)
        }
        let log = Log()
        let clients = (0..<16).map { c in
            Task {
                while !log.stop.load(ordering: .relaxed) {
                    if log.pause.load(ordering: .relaxed) { try? await Task.sleep(nanoseconds: 50_000_000); continue }
                    do {
                        let r = try await daemon.post("/v2/models/m/classify", png)
                        if r.status == 200, let v = r.header("revserve-model-version").flatMap(Int.init) {
                            log.answers.withLock { $0[c].append(v) }
                        } else {
                            log.failures.withLock { $0.append("HTTP \(r.status) \(r.text)") }
                        }
                    } catch {
                        log.failures.withLock { $0.append("\(error)") }
                    }
                }
            }
        }
        // Where the daemon starts: once it has served each of the three architectures (the
        // first of each sizes its buffers for good), resident memory with one version after
        // this traffic, measured once the clients pause (and a repository tick has trimmed the
        // heap), so that requests in flight do not count.
        let files = ["hamiltonian", "midpoint", "leapfrog"].map { bundledModels + "/\($0)/1/model.h5" }
        for version in 2...4 {
            try publish(files[version % 3], as: version, model: "m", in: repository)
            #expect(try await daemon.waitForVersion(version, model: "m"), "version \(version) never served: \(daemon.log.suffix(2000))")
            try FileManager.default.removeItem(at: repository.appendingPathComponent("m/\(version - 1)"))
        }
        try await Task.sleep(nanoseconds: 2_000_000_000)
        log.pause.store(true, ordering: .relaxed)
        try await Task.sleep(nanoseconds: 2_500_000_000)
        let baseline = try await residentFloor(daemon.process.processIdentifier)
        log.pause.store(false, ordering: .relaxed)
        for version in 5...24 {
            try publish(files[version % 3], as: version, model: "m", in: repository)
            #expect(try await daemon.waitForVersion(version, model: "m"), "version \(version) never served: \(daemon.log.suffix(2000))")
            // The older version is unloaded once the new one serves (latest(1)).
            try FileManager.default.removeItem(at: repository.appendingPathComponent("m/\(version - 1)"))
        }
        try await Task.sleep(nanoseconds: 2_000_000_000)
        log.stop.store(true, ordering: .relaxed)
        for c in clients { await c.value }
        try await Task.sleep(nanoseconds: 2_500_000_000)
        let after = try await residentFloor(daemon.process.processIdentifier)

        let failures = log.failures.withLock { $0 }
        let answered = log.answers.withLock { $0.reduce(0) { $0 + $1.count } }
        print("hot swap: \(answered) answers, \(failures.count) failures; resident \(baseline >> 10) KiB with one version, \(after >> 10) KiB after 20 swaps")
        #expect(failures.isEmpty, "\(failures.count) failed: \(failures.prefix(3))")
        let answers = log.answers.withLock { $0 }
        #expect(answers.allSatisfy { !$0.isEmpty })
        for (c, versions) in answers.enumerated() {
            #expect(zip(versions, versions.dropFirst()).allSatisfy { $0 <= $1 }, "client \(c) went backwards: \(versions)")
        }
        #expect(answers.map { $0.last ?? 0 }.max() == 24)
        let index = try await daemon.index()
        #expect(index.count == 1 && index[0]["version"] as? String == "24" && index[0]["state"] as? String == "READY", "\(index)")
        // The aim is 5% (docs/REPOSITORY.md); the bound leaves room for a shared machine, where
        // one run in four came out at +5.4%.
        if let activeSanitizer { print("hot swap: memory not checked under \(activeSanitizer) sanitizer") }
        else { #expect(Double(after) <= 1.10 * Double(baseline), "resident \(after >> 20) MiB after 20 swaps vs \(baseline >> 20) MiB with one version") }
    }

    /// Checkpoints on which libhdf5 itself loops, crashes or allocates without bound (found by
    /// the fuzzer, Fuzz/libhdf5/) are read by a child process: the child is killed at the time
    /// limit, or dies, or hits its memory cap, the version is refused with that reason, version
    /// 1 keeps serving, and loading goes on.
    @Test func checkpointsThatBreakLibhdf5AreRefusedAndTheDaemonServesOn() async throws {
        let repository = try repositoryWithModel("m", config: #"{"architecture": "hamiltonian"}"#)
        defer { try? FileManager.default.removeItem(at: repository) }
        // 5 s: good versions' reading children must finish within it on two cores shared with
        // the rest of the suite; the looping file takes all of it.
        let daemon = try await DaemonProcess(models: repository.path,
                                             arguments: ["--checkpoint-check-timeout-ms", "\(Int(5000 * testSlowdown))"])
        let broken = repositoryRoot.appendingPathComponent("Fuzz/libhdf5/checkpoint").path
        for (version, file, reason) in [(2, "hang-22308b8dd2709b18516338776efe9789c9c6c9d8", "did not finish within"),
                                        (3, "crash-7b3f5df7b9418d2c2c5a54cab4748193459418a6", "killed the reading process (signal 11)"),
                                        (4, "oom-7619d253b50fe98d18d35d7bdbaec70ea5b66c8f", "could not be read")] {
            try publish(broken + "/" + file, as: version, model: "m", in: repository)
            var row: [String: Any]?
            for _ in 0..<Int(150 * testSlowdown) where row == nil {
                try await Task.sleep(nanoseconds: 100_000_000)
                row = try await daemon.index().first { $0["version"] as? String == String(version) && $0["state"] as? String == "UNAVAILABLE" }
            }
            let index = try await daemon.index()
            let found = try #require(row, "version \(version) never reported: \(index)")
            // Under a sanitizer the child reports a crash with exit status 0 and has no memory
            // cap (make test-sanitize), so only "refused" is checked there.
            #expect(activeSanitizer != nil || (found["reason"] as? String ?? "").contains(reason), "\(found)")
            let answer = try await daemon.post("/v2/models/m/classify", try sample("0018-bag.png"))
            #expect(answer.status == 200 && answer.header("revserve-model-version") == "1", "\(answer.status) \(answer.text)")
        }
        #expect(daemon.process.isRunning)
        // Loading is not stuck: a good version 5 still comes up.
        try publish(bundledModels + "/hamiltonian/1/model.h5", as: 5, model: "m", in: repository)
        #expect(try await daemon.waitForVersion(5, model: "m"), "\(daemon.log.suffix(2000))")
    }

    @Test func brokenVersionsLeaveThePreviousOneServing() async throws {
        let repository = try repositoryWithModel("m", config: #"{"architecture": "hamiltonian"}"#)
        defer { try? FileManager.default.removeItem(at: repository) }
        let daemon = try await DaemonProcess(models: repository.path)
        let png = try sample("0018-bag.png")
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }

        let truncated = work.appendingPathComponent("truncated.h5").path
        let whole = try Data(contentsOf: URL(fileURLWithPath: bundledModels + "/hamiltonian/1/model.h5"))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: truncated))
        let nan = work.appendingPathComponent("nan.h5").path
        try FileManager.default.copyItem(atPath: bundledModels + "/hamiltonian/1/model.h5", toPath: nan)
        let poison = Process()
        poison.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        poison.arguments = ["-c", """
            import h5py, math, sys
            with h5py.File(sys.argv[1], "r+") as f:
                d = f["weights/head/fc/bias"]
                v = d[...]; v.flat[0] = math.nan; d[...] = v
            """, nan]
        try poison.run()
        poison.waitUntilExit()
        #expect(poison.terminationStatus == 0)
        let wrongArchitecture = bundledModels + "/midpoint/1/model.h5"

        for (version, (file, reason)) in [(2, (truncated, "cannot read")), (3, (nan, "non-finite")),
                                          (4, (wrongArchitecture, "midpoint network but config.json requires hamiltonian"))] {
            try publish(file, as: version, model: "m", in: repository)
            var row: [String: Any]?
            for _ in 0..<100 where row == nil {
                try await Task.sleep(nanoseconds: 100_000_000)
                row = try await daemon.index().first { $0["version"] as? String == String(version) && $0["state"] as? String == "UNAVAILABLE" }
            }
            let index = try await daemon.index()
            let found = try #require(row, "version \(version) never reported: \(index)")
            #expect((found["reason"] as? String ?? "").contains(reason), "\(found)")
            let answer = try await daemon.post("/v2/models/m/classify", png)
            #expect(answer.status == 200 && answer.header("revserve-model-version") == "1", "\(answer.status) \(answer.text)")
        }
        #expect(try await daemon.get("/v2/models/m/versions/3/ready").status == 503)
    }

    @Test func aTrainedVersionIsServedWithinSeconds() async throws {
        let repository = try repositoryWithModel("m")
        defer { try? FileManager.default.removeItem(at: repository) }
        let daemon = try await DaemonProcess(models: repository.path)
        let train = try revserveRun(["train", "--arch", "leapfrog", "--units", "1,1", "--channels", "8,16", "--dataset", "synthetic",
                                     "--max-steps", "2", "--batch-size", "4", "--synthetic-count", "8", "--threads", "1",
                                     "--repository", repository.path, "--model", "m"])
        #expect(train.status == 0, "\(train.stderr)")
        let published = ContinuousClock.now
        #expect(try await daemon.waitForVersion(2, model: "m"), "\(daemon.log.suffix(2000))")
        let delay = ContinuousClock.now - published
        #expect(delay < .seconds(5 * testSlowdown), "served after \(delay)")
        let meta = try jsonObject(try await daemon.get("/v2/models/m"))
        #expect(meta["platform"] as? String == "revserve-leapfrog")
        #expect(((meta["parameters"] as? [String: Any])?["reversibility_error"] as? Double ?? 1) < 1e-3)
    }

    @Test func loadAndUnloadAreForTheOwnerOnly() async throws {
        let repository = try repositoryWithModel("m")
        defer { try? FileManager.default.removeItem(at: repository) }
        // Anyone may connect (mode 0666) so that another user's request reaches the check.
        let daemon = try await DaemonProcess(models: repository.path, arguments: ["--socket-mode", "0666"])
        chmod(daemon.directory.path, 0o755)
        let other = Process()
        other.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        other.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/curl", "-s", "-w", "\n%{http_code}",
                           "--unix-socket", daemon.socket, "-X", "POST", "http://localhost/v2/repository/models/m/unload"]
        let out = Pipe()
        other.standardOutput = out
        try other.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        other.waitUntilExit()
        #expect(text.hasSuffix("403") && text.contains("uid 65534"), "\(text)")
        #expect(try await daemon.get("/v2/models/m/ready").status == 200)

        // The owner (this test's user) may.
        #expect(try await daemon.post("/v2/repository/models/m/unload", []).status == 200)
        let unloaded = try await daemon.get("/v2/models/m/ready")
        #expect(unloaded.status == 503 && errorMessage(unloaded).contains("unloaded by request"))
        #expect(try await daemon.post("/v2/repository/models/m/load", []).status == 200)
        #expect(try await daemon.get("/v2/models/m/ready").status == 200)
        let unknown = try await daemon.post("/v2/repository/models/nope/load", [])
        #expect(unknown.status == 404, "\(unknown.text)")
    }
}
