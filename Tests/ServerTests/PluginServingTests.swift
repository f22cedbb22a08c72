// PluginServingTests: plugins in the live daemon: a model of an architecture that only a
// plain-C plugin provides is served (and a plugin claiming another ABI is refused and named
// in the log while the rest serve); replacing a plugin library under load reloads the models
// using it without a failed request.

import Foundation
import Locking
import PluginHost
import RevNet
import Synchronization
import Tensor
import ServerTestSupport
import Testing
import Training
import Formats

/// Compiles the plain-C test plugin (Tests/Fixtures/cplugin) into `directory`.
func compileTestPlugin(into directory: URL, name: String, architecture: String = "cserve", abiMajor: Int? = nil) throws -> String {
    let out = directory.appendingPathComponent(name).path
    let cc = Process()
    cc.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
    cc.arguments = ["-shared", "-fPIC", "-O2", "-I", repositoryRoot.appendingPathComponent("Sources/PluginABI/include").path,
                    repositoryRoot.appendingPathComponent("Tests/Fixtures/cplugin/tanh_hamiltonian.c").path, "-o", out, "-lm", "-lpthread"]
        + (abiMajor.map { ["-DRS_TEST_ABI_MAJOR=\($0)"] } ?? []) + ["-DRS_TEST_NAME=\"\(architecture)\""]
    try cc.run()
    cc.waitUntilExit()
    guard cc.terminationStatus == 0 else { throw HarnessError.failed("cc failed") }
    return out
}

@Suite(.serialized, .timeLimit(.minutes(3 * testSlowdownMinutes))) struct PluginServingTests {
    @Test func aModelOfACPluginIsServedAndAWrongABIIsRefused() async throws {
        let plugins = try temporaryDirectory(), repository = try temporaryDirectory()
        defer { [plugins, repository].forEach { try? FileManager.default.removeItem(at: $0) } }
        let good = try compileTestPlugin(into: plugins, name: "libctanh.so")
        _ = try compileTestPlugin(into: plugins, name: "libwrongabi.so", abiMajor: 1)   // built for ABI 1

        // The checkpoint is written in-process through the same plugin.
        let plugin = try PluginLoader.load(good)
        Architectures.register(plugin)
        defer { Architectures.unregister("cserve") }
        let network = try Network(config: NetworkConfig(architecture: "cserve", inputShape: [1, 8, 8], numClasses: 3,
                                                        unitChannels: [4, 8], unitBlocks: [2, 1], h: 0.1), seed: 4)
        let dir = repository.appendingPathComponent("c/1")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try CheckpointFile.write(ModelCheckpoint.checkpoint(network, labels: ["x", "y", "z"], mean: [0.5], std: [0.25]),
                                 to: dir.appendingPathComponent("model.h5").path)

        let daemon = try await DaemonProcess(models: repository.path, arguments: ["--plugins", plugins.path])
        #expect(daemon.log.contains("plugin refused: \(plugins.path)/libwrongabi.so: the plugin was built for ABI 1.0, this revserve speaks ABI 2.0"),
                "\(daemon.log)")
        #expect(daemon.log.contains("plugin 'cserve' loaded from \(good)"))
        let meta = try jsonObject(try await daemon.get("/v2/models/c"))
        #expect(meta["platform"] as? String == "revserve-cserve")
        #expect((meta["parameters"] as? [String: Any])?["plugin"] as? String == good)

        let png = try sample("0013-dress.png")
        let loaded = try ModelCheckpoint.load(dir.appendingPathComponent("model.h5").path)
        let x = try loaded.preprocessor.input(from: try PNG.decode(png, name: "dress"), name: "dress")
        let expected = try loaded.network.logits(Tensor(shape: [1, 1, 8, 8], data: x)).data
        let r = try await daemon.post("/v2/models/c/infer", png, headers: [("Inference-Header-Content-Length", "0")])
        #expect(r.status == 200, "\(r.text)")
        let logits = ((try jsonObject(r)["outputs"] as? [[String: Any]])?.first?["data"] as? [Double] ?? []).map(Float.init)
        #expect(logits.count == 3 && zip(logits, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "\(logits) vs \(expected)")
    }

    @Test func replacingAPluginUnderLoadFailsNothing() async throws {
        let plugins = try temporaryDirectory(), repository = try repositoryWithModel("m", from: "midpoint")
        defer { [plugins, repository].forEach { try? FileManager.default.removeItem(at: $0) } }
        let library = repositoryRoot.appendingPathComponent(".build-test/release/libRevservePluginMidpoint.so").path
        let target = plugins.appendingPathComponent("libmidpoint.so")
        try FileManager.default.copyItem(atPath: library, toPath: target.path)
        let daemon = try await DaemonProcess(models: repository.path, arguments: ["--plugins", plugins.path])
        #expect(daemon.log.contains("plugin 'midpoint' loaded from \(target.path)"))

        final class Log: Sendable {
            let ok = Atomic<Int>(0)
            let failures = Locked<[String]>([])
            let stop = Atomic<Bool>(false)
        }
        let log = Log()
        let png = try sample("0001-pullover.png")
        let clients = (0..<8).map { _ in
            Task {
                while !log.stop.load(ordering: .relaxed) {
                    do {
                        let r = try await daemon.post("/v2/models/m/classify", png)
                        if r.status == 200 { log.ok.add(1, ordering: .relaxed) } else { log.failures.withLock { $0.append("\(r.status) \(r.text)") } }
                    } catch { log.failures.withLock { $0.append("\(error)") } }
                }
            }
        }
        for round in 1...2 {
            try await Task.sleep(nanoseconds: 500_000_000)
            // A new build dropped in: written beside, renamed over the old file.
            let staging = plugins.appendingPathComponent(".staging-\(round)")
            try FileManager.default.copyItem(atPath: library, toPath: staging.path)
            _ = rename(staging.path, target.path)
            var reloaded = false
            for _ in 0..<100 where !reloaded {
                try await Task.sleep(nanoseconds: 100_000_000)
                reloaded = daemon.log.components(separatedBy: "reloading on the new plugin").count - 1 >= round
                    && daemon.log.components(separatedBy: "model 'm' version 1 ready").count - 1 >= round + 1
            }
            #expect(reloaded, "round \(round): \(daemon.log.suffix(1500))")
        }
        try await Task.sleep(nanoseconds: 500_000_000)
        log.stop.store(true, ordering: .relaxed)
        for c in clients { await c.value }
        let failures = log.failures.withLock { $0 }
        #expect(failures.isEmpty, "\(failures.count) failed: \(failures.prefix(3))")
        #expect(log.ok.load(ordering: .relaxed) > 20)
    }
}

#if canImport(Glibc)
import Glibc
import NetworkCheckpoint
#endif
