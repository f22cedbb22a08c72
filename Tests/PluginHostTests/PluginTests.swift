// PluginTests: the plugin ABI in-process: each bundled Swift plugin computes exactly what the
// built-in architecture does (logits, every gradient in both memory modes, evaluation
// counts); the plain-C test plugin loads and serves; bad libraries are refused with a reason.

import Foundation
import PluginABI
@testable import PluginHost
import RevNet
import Tensor
import Testing

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A bundled plugin library, built next to the test bundle.
func bundledPlugin(_ name: String) throws -> String {
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for dir in [here, root.appendingPathComponent(".build-test/release"), root.appendingPathComponent(".build/release")] {
        let path = dir.appendingPathComponent("libRevservePlugin\(name).so").path
        if FileManager.default.fileExists(atPath: path) { return path }
    }
    throw PluginError.unreadable(name, reason: "not built (swift build builds the plugin products)")
}

/// Compiles the plain-C test plugin into `directory`: built for another ABI major (`abiMajor`:
/// its entry declines other hosts), or declaring one to every host (`claimMajor`).
func compileCPlugin(into directory: URL, name: String = "libctanh.so", abiMajor: Int? = nil, claimMajor: Int? = nil) throws -> String {
    let out = directory.appendingPathComponent(name).path
    let cc = Process()
    cc.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
    cc.arguments = ["-shared", "-fPIC", "-O2", "-I", root.appendingPathComponent("Sources/PluginABI/include").path,
                    root.appendingPathComponent("Tests/Fixtures/cplugin/tanh_hamiltonian.c").path, "-o", out, "-lm", "-lpthread"]
        + (abiMajor.map { ["-DRS_TEST_ABI_MAJOR=\($0)"] } ?? []) + (claimMajor.map { ["-DRS_TEST_CLAIM_MAJOR=\($0)"] } ?? [])
    try cc.run()
    cc.waitUntilExit()
    guard cc.terminationStatus == 0 else { throw PluginError.unreadable(out, reason: "cc failed") }
    return out
}

func scratchDirectory() throws -> URL {
    let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("rs-plugins-" + UUID().uuidString.prefix(8))
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A network of `config` with seeded random weights, and the same network through `plugin`.
func networks(_ config: NetworkConfig, _ plugin: PluginArchitecture, seed: UInt64) throws -> (native: Network, viaPlugin: Network) {
    let native = try Network(config: config, seed: seed)
    return (native, try Network(config: config, architecture: plugin, weights: native.weights))
}

/// A seeded random batch of `shape`.
func randomBatch(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = SeededGenerator(seed: seed)
    return Tensor.randomNormal(shape, using: &rng)
}

@Suite(.serialized) struct PluginTests {
    @Test(arguments: [("Hamiltonian", "hamiltonian", [8, 16]), ("Midpoint", "midpoint", [6, 10]), ("Leapfrog", "leapfrog", [6, 10])])
    func swiftPluginsComputeWhatTheBuiltInsDo(_ library: String, _ name: String, _ widths: [Int]) throws {
        let plugin = try PluginLoader.load(try bundledPlugin(library))
        #expect(plugin.name == name && plugin.functionsPerBlock == (name == "hamiltonian" ? 2 : 1))
        let builtIn = try Architectures.named(name)
        #expect(plugin.blockParameters(width: widths[1]) == builtIn.blockParameters(width: widths[1]))
        #expect(plugin.widthProblem([widths[0], widths[0] + 1]) == builtIn.widthProblem([widths[0], widths[0] + 1]))
        #expect(plugin.blockFlops(width: 8, pixels: 49) == builtIn.blockFlops(width: 8, pixels: 49))

        let config = NetworkConfig(architecture: name, inputShape: [3, 8, 8], numClasses: 4, unitChannels: widths,
                                   unitBlocks: [3, 2], h: 0.2)
        let reference = try Network(config: config, seed: 5)
        var native = reference
        var viaPlugin = try Network(config: config, architecture: plugin, weights: reference.weights)
        var rng = SeededGenerator(seed: 9)
        let x = Tensor.randomNormal([2, 3, 8, 8], using: &rng)
        #expect(try viaPlugin.logits(x).data == native.logits(x).data)
        for mode in [MemoryMode.standard, .reversible] {
            let countA = EvaluationCounter(), countB = EvaluationCounter()
            var gA = native.weights.zeros(), gB = viaPlugin.weights.zeros()
            let a = try native.trainingStep(x, labels: [1, 3], mode: mode, gradients: &gA, inputGradient: true,
                                            EngineContext(counter: countA))
            let b = try viaPlugin.trainingStep(x, labels: [1, 3], mode: mode, gradients: &gB, inputGradient: true,
                                               EngineContext(counter: countB))
            #expect(a.loss == b.loss && a.inputGradient?.data == b.inputGradient?.data, "\(mode)")
            for (name, (ta, tb)) in zip(gA.names, zip(gA.tensors, gB.tensors)) { #expect(ta.data == tb.data, "\(mode) \(name)") }
            #expect(countA.count == countB.count && countB.count > 0, "\(mode): \(countA.count) vs \(countB.count)")
            if mode == .standard { #expect(b.keptBytes == a.keptBytes, "tapes on the plugin's side are still counted") }
        }
    }

    @Test func privateCopiesAreRemovedOnceMapped() throws {
        // Every process that loads plugins used to leave its private copies in /tmp. What a
        // process killed mid-copy leaves is swept by the next one (pid 2^22 + 7 is above Linux's
        // pid_max, so it cannot be alive); only the first load of a process sweeps, so the
        // sweep is called directly here.
        let stale = NSTemporaryDirectory() + PluginLoader.copiesPrefix + "4194311"
        try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: stale + "/1-libHalfCopied.so", contents: Data(count: 100))
        let mine = NSTemporaryDirectory() + PluginLoader.copiesPrefix + "\(getppid())"   // alive: kept
        try FileManager.default.createDirectory(atPath: mine, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: mine) }
        PluginLoader.sweepStaleCopies()
        #expect(!FileManager.default.fileExists(atPath: stale) && FileManager.default.fileExists(atPath: mine))
        let plugin = try PluginLoader.load(try bundledPlugin("Leapfrog"))
        #expect(!FileManager.default.fileExists(atPath: plugin.library.loadedFrom))
        #expect(!FileManager.default.fileExists(atPath: PluginLoader.copies), "\(PluginLoader.copies) is left behind")
        // The mapping outlives the file.
        let config = NetworkConfig(architecture: "leapfrog", inputShape: [3, 6, 6], numClasses: 3, unitChannels: [6], unitBlocks: [2], h: 0.1)
        let native = try Network(config: config, seed: 3)
        var rng = SeededGenerator(seed: 4)
        let x = Tensor.randomNormal([1, 3, 6, 6], using: &rng)
        #expect(try Network(config: config, architecture: plugin, weights: native.weights).logits(x).data == native.logits(x).data)
    }

    @Test func aPluginKeepsItsStateOnTheModelHandleForTheParametersGeneration() throws {
        // Width 32: each Hamiltonian half has 16 channels, so its convolutions go through
        // Winograd and the transforms the plugin keeps on the network's model handle.
        let plugin = try PluginLoader.load(try bundledPlugin("Hamiltonian"))
        #expect(plugin.library.table.pointee.abi_major == 2 && plugin.library.table.pointee.abi_minor == 0)
        let config = NetworkConfig(architecture: "hamiltonian", inputShape: [3, 8, 8], numClasses: 4, unitChannels: [32, 48],
                                   unitBlocks: [2, 2], h: 0.2)
        let (native, viaPlugin) = try networks(config, plugin, seed: 6)
        let x = randomBatch([2, 3, 8, 8], seed: 10)
        let expected = try native.logits(x, EngineContext(threads: ComputeThreads(2))).data
        for _ in 0..<2 { #expect(try viaPlugin.logits(x, EngineContext(threads: ComputeThreads(2))).data == expected) }
        // Changed weights are a new generation on the same handle (a copy of the network shares
        // its state): the plugin never computes with the old ones, and the old values give the
        // old logits again.
        var (changedNative, changedPlugin) = (native, viaPlugin)
        let k = try #require(native.weights.names.firstIndex { $0.hasSuffix("K1") })
        let before = changedPlugin.weights.identity
        changedNative.weights.tensors[k].data[0] += 0.5
        changedPlugin.weights.tensors[k].data[0] += 0.5
        #expect(changedPlugin.weights.identity != before && viaPlugin.weights.identity == before)
        #expect(changedPlugin.state === viaPlugin.state)
        let changed = try changedNative.logits(x, EngineContext(threads: ComputeThreads(2))).data
        #expect(changed != expected)
        #expect(try changedPlugin.logits(x, EngineContext(threads: ComputeThreads(2))).data == changed)
        #expect(try viaPlugin.logits(x, EngineContext(threads: ComputeThreads(2))).data == expected)
    }

    @Test func everyModelHandleIsDestroyedWithItsNetwork() throws {
        // The C plugin counts its live handles: one per network that ran, none once the
        // networks are gone, and a network's first call makes it (not the plugin's load).
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let plugin = try PluginLoader.load(try compileCPlugin(into: dir, name: "libclive.so"))
        let live = unsafeBitCast(try #require(dlsym(plugin.library.handle, "ctanh_live_models")), to: (@convention(c) () -> Int64).self)
        let config = NetworkConfig(architecture: "ctanh", inputShape: [1, 6, 6], numClasses: 3, unitChannels: [4, 8], unitBlocks: [2, 1], h: 0.1)
        let x = randomBatch([2, 1, 6, 6], seed: 3)
        do {
            let first = try Network(config: config, architecture: plugin, weights: Network(config: NetworkConfig(
                architecture: "hamiltonian", inputShape: [1, 6, 6], numClasses: 3, unitChannels: [4, 8], unitBlocks: [2, 1], h: 0.1), seed: 2).weights)
            let second = try Network(config: config, architecture: plugin, weights: first.weights)
            #expect(live() == 0)
            let a = try first.logits(x), b = try second.logits(x)
            #expect(a.data == b.data && live() == 2)
            _ = try first.logits(x)
            #expect(live() == 2)   // the handle is kept, not made per call
        }
        #expect(live() == 0)
        // Calls outside a network make a handle for the call alone.
        let state = try plugin.enter(randomBatch([1, 4, 3, 3], seed: 4))
        #expect(state.parts.count == 2 && live() == 0)
    }

    @Test(arguments: ["Hamiltonian", "Midpoint", "Leapfrog"])
    func inferenceRunsAUnitsBlocksInOnePluginCall(_ library: String) throws {
        // 37 blocks in one unit: forward runs them in runs of 32 and 5 (the first entering from
        // the unit's input, the last exiting to its output; the second unit in one run), and the
        // logits and evaluation counts are exactly the built-in's, block by block.
        let plugin = try PluginLoader.load(try bundledPlugin(library))
        let config = NetworkConfig(architecture: plugin.name, inputShape: [3, 6, 6], numClasses: 3, unitChannels: [8, 16],
                                   unitBlocks: [37, 2], h: 0.05)
        let (native, viaPlugin) = try networks(config, plugin, seed: 8)
        let x = randomBatch([2, 3, 6, 6], seed: 11)
        let a = EvaluationCounter(), b = EvaluationCounter()
        #expect(try viaPlugin.logits(x, EngineContext(counter: b)).data == native.logits(x, EngineContext(counter: a)).data)
        #expect(a.count == b.count && a.count == 39 * plugin.functionsPerBlock, "\(a.count) vs \(b.count)")
    }

    @Test(arguments: ["Hamiltonian", "Midpoint", "Leapfrog"])
    func aPluginSlicesALargeBatchAsTheEngineDoes(_ library: String) throws {
        // 16 images of 16×16 on two workers: the first unit's blocks run on 4 slices of 4 images
        // (BatchSlicing), inside the plugin's forward as in the built-in engine.
        let plugin = try PluginLoader.load(try bundledPlugin(library))
        let config = NetworkConfig(architecture: plugin.name, inputShape: [3, 16, 16], numClasses: 3, unitChannels: [16, 24],
                                   unitBlocks: [4, 2], h: 0.1)
        let (native, viaPlugin) = try networks(config, plugin, seed: 12)
        let x = randomBatch([16, 3, 16, 16], seed: 13)
        let two = ComputeThreads(2), a = EvaluationCounter(), b = EvaluationCounter()
        #expect(BatchSlicing.slices(of: BlockState([Tensor(zeros: [16, 8, 16, 16])]), threads: two)?.count == 4)
        let sliced = try viaPlugin.logits(x, EngineContext(threads: two, counter: b))
        #expect(sliced.data == (try native.logits(x, EngineContext(threads: two, counter: a))).data)
        #expect(a.count == b.count && a.count == 6 * plugin.functionsPerBlock, "\(a.count) vs \(b.count)")
        let whole = try native.logits(x)   // one thread: no slices
        #expect(zip(sliced.data, whole.data).allSatisfy { abs($0 - $1) <= 1e-5 * Swift.max(1, abs($1)) })
        // Training slices too, block by block, the plugin keeping each block's transformed
        // weights for its slices (one parameters generation): the built-in's gradients and
        // counts exactly.
        var (trainNative, trainPlugin) = (native, viaPlugin)
        let labels = (0..<16).map { $0 % 3 }, countA = EvaluationCounter(), countB = EvaluationCounter()
        var gA = native.weights.zeros(), gB = native.weights.zeros()
        let ra = try trainNative.trainingStep(x, labels: labels, mode: .reversible, gradients: &gA, inputGradient: true,
                                              EngineContext(threads: two, counter: countA))
        let rb = try trainPlugin.trainingStep(x, labels: labels, mode: .reversible, gradients: &gB, inputGradient: true,
                                              EngineContext(threads: two, counter: countB))
        #expect(ra.loss == rb.loss && ra.inputGradient?.data == rb.inputGradient?.data)
        for (name, (ta, tb)) in zip(gA.names, zip(gA.tensors, gB.tensors)) { #expect(ta.data == tb.data, "\(name)") }
        #expect(countA.count == countB.count && countA.count == 2 * 6 * plugin.functionsPerBlock)
    }

    @Test func aPluginInPlainCServes() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let plugin = try PluginLoader.load(try compileCPlugin(into: dir))
        #expect(plugin.name == "ctanh" && plugin.description.contains("plain C"))
        Architectures.register(plugin)
        defer { Architectures.unregister("ctanh") }
        let net = try Network(config: NetworkConfig(architecture: "ctanh", inputShape: [1, 6, 6], numClasses: 3,
                                                    unitChannels: [4, 8], unitBlocks: [2, 1], h: 0.1), seed: 2)
        var rng = SeededGenerator(seed: 3)
        let logits = try net.logits(Tensor.randomNormal([2, 1, 6, 6], using: &rng))
        #expect(logits.shape == [2, 3] && logits.data.allSatisfy(\.isFinite))
        #expect(try net.reversibilityError() < 1e-5)
        var copy = net, g = net.weights.zeros()
        #expect(throws: TensorError.self) {
            try copy.trainingStep(Tensor.randomNormal([1, 1, 6, 6], using: &rng), labels: [0], mode: .reversible, gradients: &g)
        }
        #expect(plugin.widthProblem([4, 6]) == "ctanh widths must differ by multiples of 4")
    }

    @Test func pluginsOfAnotherABIAreRefusedNamingBothVersions() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Built for ABI 1: its entry declines a 2.x host, as every 1.x plugin's does; the host
        // asks as a 1.x host would, to name its version.
        let old = try compileCPlugin(into: dir, name: "libold.so", abiMajor: 1)
        #expect(throws: PluginError.abiMismatch(old, plugin: "1.0", host: "2.0")) { try PluginLoader.load(old) }
        #expect(PluginError.abiMismatch(old, plugin: "1.0", host: "2.0").description.contains("built for ABI 1.0, this revserve speaks ABI 2.0"))
        // One that answers any host with a table of another major.
        let future = try compileCPlugin(into: dir, name: "libfuture.so", claimMajor: 3)
        #expect(throws: PluginError.abiMismatch(future, plugin: "3.0", host: "2.0")) { try PluginLoader.load(future) }
    }

    @Test func badLibrariesAreRefusedWithAReason() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wrongABI = try compileCPlugin(into: dir, name: "libwrong.so", claimMajor: 99)
        #expect(throws: PluginError.abiMismatch(wrongABI, plugin: "99.0", host: "2.0")) { try PluginLoader.load(wrongABI) }
        let notPlugin = dir.appendingPathComponent("libplain.so").path
        let source = dir.appendingPathComponent("plain.c")
        try Data("int answer(void) { return 42; }\n".utf8).write(to: source)
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
        cc.arguments = ["-shared", "-fPIC", source.path, "-o", notPlugin]
        try cc.run()
        cc.waitUntilExit()
        #expect(throws: PluginError.missingEntry(notPlugin)) { try PluginLoader.load(notPlugin) }
        let garbage = dir.appendingPathComponent("libgarbage.so").path
        try Data("not an ELF file".utf8).write(to: URL(fileURLWithPath: garbage))
        do { _ = try PluginLoader.load(garbage); Issue.record("garbage loaded") } catch {
            guard case .dlopen(let file, _) = error else { Issue.record("\(error)"); return }
            #expect(file == garbage)
        }
        let shared = try compileCPlugin(into: dir, name: "libshared.so")
        chmod(shared, 0o666)
        #expect(throws: PluginError.self) { try PluginLoader.load(shared) }
        #expect(throws: PluginError.unreadable("/nonexistent.so", reason: "no such file")) { try PluginLoader.load("/nonexistent.so") }

        // A registry loads what it can and reports the rest.
        chmod(shared, 0o644)
        let change = PluginRegistry(directory: dir.path).rescan()
        defer { Architectures.unregister("ctanh") }
        #expect(change.loaded.map(\.name) == ["ctanh"] && change.refused.count == 3, "\(change.refused)")
    }
}

#if canImport(Glibc)
import Glibc
#endif
