// LifecycleTests: the daemon's life as docs/spec/PROTOCOL.md describes it: live before ready
// while models load, a drain on SIGTERM that answers every queued request, the socket file's
// conventions (mode, stale sockets, refusing other files and live servers, removal, restart),
// and systemd socket activation.

import Foundation
import Formats
import RevNet
import Server
import ServerTestSupport
import Testing
import Training
#if canImport(Glibc)
import Glibc
import NetworkCheckpoint
#endif

/// A repository with one random-weight model `name` of the given input shape.
func randomModelRepository(name: String, inputShape: [Int], channels: [Int] = [32, 64, 112], blocks: [Int] = [2, 2, 2]) throws -> URL {
    let root = try temporaryDirectory()
    let version = root.appendingPathComponent("\(name)/1")
    try FileManager.default.createDirectory(at: version, withIntermediateDirectories: true)
    let network = try Network(config: NetworkConfig(architecture: "hamiltonian", inputShape: inputShape, numClasses: 4,
                                                    unitChannels: channels, unitBlocks: blocks), seed: 3)
    let c = inputShape[0]
    let checkpoint = ModelCheckpoint.checkpoint(network, labels: ["a", "b", "c", "d"],
                                                mean: [Float](repeating: 0.5, count: c), std: [Float](repeating: 0.25, count: c))
    try CheckpointFile.write(checkpoint, to: version.appendingPathComponent("model.h5").path)
    return root
}

func fileMode(_ path: String) -> UInt32? {
    var st = stat()
    return lstat(path, &st) == 0 ? UInt32(st.st_mode) & 0o7777 : nil
}

@Suite(.timeLimit(.minutes(3 * testSlowdownMinutes))) struct LifecycleTests {
    @Test func liveAnswersWhileModelsLoadAndReadyFlipsAfter() async throws {
        // Warm-up runs a full batch: 1024 images of 3×64×64 through 12 blocks take seconds on
        // two cores (with 6 blocks, once the engine ran slices of the batch, the load could end
        // before the checks below under AddressSanitizer). With one load slot models load one
        // at a time in name order, so "zeta" waits behind "slow" and must be reported LOADING
        // meanwhile, not unknown.
        let repository = try randomModelRepository(name: "slow", inputShape: [3, 64, 64], blocks: [4, 4, 4])
        defer { try? FileManager.default.removeItem(at: repository) }
        let second = try randomModelRepository(name: "zeta", inputShape: [3, 8, 8])
        try FileManager.default.moveItem(at: second.appendingPathComponent("zeta"), to: repository.appendingPathComponent("zeta"))
        try? FileManager.default.removeItem(at: second)
        let daemon = try await DaemonProcess(models: repository.path, arguments: ["--max-batch", "1024", "--load-slots", "1"], waitReady: false)
        let ready = try await daemon.get("/v2/health/ready")
        #expect(ready.status == 503 && ready.header("Retry-After") != nil && errorMessage(ready).contains("loading"), "\(ready.text)")
        for name in ["slow", "zeta"] {
            let model = try await daemon.get("/v2/models/\(name)/ready")
            #expect(model.status == 503 && model.header("Retry-After") != nil, "\(name): \(model.text)")
            #expect(errorMessage(model).contains("LOADING") || errorMessage(model).contains("still reading its model repository"),
                    "\(name): \(model.text)")
        }
        try await daemon.waitFor("/v2/health/ready")
        #expect(try await daemon.get("/v2/models/slow/ready").status == 200)
        #expect(try await daemon.get("/v2/models/zeta/ready").status == 200)
        #expect(try await daemon.get("/v2/models/nothere/ready").status == 404)
        #expect(try await daemon.stop() == 0)
    }

    @Test func sigtermAnswersEveryQueuedRequestRemovesTheSocketAndAllowsARestart() async throws {
        // Requests would wait 60 s for a batch to fill: they are certainly queued at the signal,
        // and the drain must run them at once rather than wait.
        let arguments = ["--max-queue-delay-us", "60000000", "--max-batch", "64"]
        let daemon = try await DaemonProcess(arguments: arguments)
        let png = try sample("0006-coat.png")
        let requests = (0..<12).map { _ in Task { try await daemon.post("/v2/models/hamiltonian/classify", png) } }
        #expect(try await daemon.waitForQueueDepth(12, model: "hamiltonian"))
        let exit = try await daemon.stop(SIGTERM)
        for r in requests {
            let answer = try await r.value
            #expect(answer.status == 200 && answer.text.contains("\"Coat\""), "\(answer.status) \(answer.text)")
        }
        #expect(exit == 0, "\(daemon.log)")
        #expect(!FileManager.default.fileExists(atPath: daemon.socket))
        #expect(daemon.log.contains("shutting down"))

        let again = try await DaemonProcess(socket: daemon.socket)
        #expect(try await again.get("/v2/health/ready").status == 200)
        #expect(try await again.stop(SIGINT) == 0)
        #expect(!FileManager.default.fileExists(atPath: daemon.socket))
    }

    @Test func killNineUnderLoadThenARestartOnTheSamePathWorksAtOnce() async throws {
        let daemon = try await DaemonProcess()
        let png = try sample("0008-sandal.png")
        let load = (0..<8).map { _ in Task { for _ in 0..<200 { _ = try? await daemon.post("/v2/models/leapfrog/classify", png) } } }
        try await Task.sleep(nanoseconds: 500_000_000)
        #expect(try await daemon.stop(SIGKILL) == SIGKILL)
        load.forEach { $0.cancel() }
        // The dead daemon's socket file is still there; the next one replaces it as stale.
        #expect(FileManager.default.fileExists(atPath: daemon.socket))
        let start = ContinuousClock.now
        let again = try await DaemonProcess(socket: daemon.socket)
        #expect(ContinuousClock.now - start < .seconds(20 * testSlowdown))
        #expect(try await again.post("/v2/models/leapfrog/classify", png).status == 200)
        for task in load { await task.value }
    }

    @Test func socketFileConventions() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }

        // Mode 0660 by default, --socket-mode otherwise.
        let first = try await DaemonProcess()
        #expect(fileMode(first.socket) == 0o660)
        let private600 = try await DaemonProcess(arguments: ["--socket-mode", "0600"])
        #expect(fileMode(private600.socket) == 0o600)

        // A live server's socket is never taken over.
        let second = try revserveRun(["serve", "--models", bundledModels, "--socket", first.socket])
        #expect(second.status != 0 && second.stderr.contains("another server is listening"), "\(second.stderr)")
        #expect(try await first.get("/v2/health/live").status == 200)

        // Any other file is refused and left alone.
        let file = directory.appendingPathComponent("notes.txt").path
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: file))
        let refused = try revserveRun(["serve", "--models", bundledModels, "--socket", file])
        #expect(refused.status != 0 && refused.stderr.contains("is not a socket"), "\(refused.stderr)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "keep me")

        // A directory anyone may write, without the sticky bit, is refused.
        let open = directory.appendingPathComponent("open")
        try FileManager.default.createDirectory(at: open, withIntermediateDirectories: true)
        chmod(open.path, 0o777)
        let unsafe = try revserveRun(["serve", "--models", bundledModels, "--socket", open.appendingPathComponent("rs.sock").path])
        #expect(unsafe.status != 0 && unsafe.stderr.contains("writable by every user and has no sticky bit"), "\(unsafe.stderr)")

        // A stale socket (bound, nobody listening) is replaced.
        let stale = directory.appendingPathComponent("stale.sock").path
        try bindAndAbandon(stale)
        let revived = try await DaemonProcess(socket: stale)
        #expect(try await revived.get("/v2/health/ready").status == 200)

        // The default path follows $XDG_RUNTIME_DIR.
        let runtime = directory.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: runtime, withIntermediateDirectories: true)
        let byDefault = try await DaemonProcess(socket: runtime.appendingPathComponent("revserve.sock").path,
                                                environment: ["XDG_RUNTIME_DIR": runtime.path],
                                                launcher: ["/bin/sh", "-c", "exec \"$0\" serve --models \"$3\" --threads 1", ])
        #expect(try await byDefault.get("/v2/health/live").status == 200)
        #expect(try await byDefault.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: byDefault.socket))
    }

    @Test func systemdSocketActivation() async throws {
        // The launcher binds and listens, puts the socket at descriptor 3 and execs the daemon
        // with LISTEN_FDS=1 and LISTEN_PID set to its own (unchanged by exec) process id.
        let launcher = """
            import os, socket, sys
            path = sys.argv[1]
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            s.listen(128)
            os.dup2(s.fileno(), 3)
            os.set_inheritable(3, True)
            os.environ["LISTEN_FDS"] = "1"
            os.environ["LISTEN_PID"] = str(os.getpid())
            os.execv(sys.argv[2], sys.argv[2:])
            """
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("activated.sock").path
        let daemon = try await DaemonProcess(socket: path, launcher: ["/usr/bin/python3", "-c", launcher, path])
        #expect(daemon.log.contains("descriptor 3"), "\(daemon.log)")
        let answer = try await daemon.post("/v2/models/midpoint/classify", try sample("0002-trouser.png"))
        #expect(answer.status == 200 && answer.text.contains("Trouser"))
        #expect(try await daemon.stop() == 0)
    }
}

/// Creates a Unix socket file at `path` with nobody listening on it.
func bindAndAbandon(_ path: String) throws {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    let rc = withUnixAddress(path) { bind(fd, $0, $1) }
    close(fd)
    guard rc == 0 else { throw HarnessError.failed("bind \(path) failed") }
}

