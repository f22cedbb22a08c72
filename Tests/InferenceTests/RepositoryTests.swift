// RepositoryTests: config.json parsing, version policies, and the RepositoryManager driving a
// ModelStore from a directory, without sockets: what loads, what is retired, what a failure
// leaves serving, explicit unload/load and the index.

import Foundation
import Formats
@testable import Inference
import Logging
import RevNet
import Tensor
import Testing
import Training
import NetworkCheckpoint

/// A temporary repository; `write` puts a random-weight checkpoint at NAME/VERSION/model.h5.
final class TemporaryRepository: @unchecked Sendable {
    let url: URL
    init() throws {
        url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("rs-repo-" + UUID().uuidString.prefix(8))
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    var path: String { url.path }

    func write(_ name: String, _ version: Int, architecture: String = "midpoint", seed: UInt64 = 1, blocks: [Int] = [1, 1]) throws {
        let dir = url.appendingPathComponent("\(name)/\(version)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let network = try Network(config: NetworkConfig(architecture: architecture, inputShape: [1, 6, 6], numClasses: 3,
                                                        unitChannels: [4, 8], unitBlocks: blocks, h: 0.1), seed: seed)
        try CheckpointFile.write(ModelCheckpoint.checkpoint(network, labels: ["a", "b", "c"], mean: [0], std: [1]),
                                 to: dir.appendingPathComponent("model.h5").path)
    }

    func config(_ name: String, _ json: String) throws {
        try FileManager.default.createDirectory(at: url.appendingPathComponent(name), withIntermediateDirectories: true)
        try Data(json.utf8).write(to: url.appendingPathComponent("\(name)/config.json"))
    }

    func manager(_ store: ModelStore) -> RepositoryManager {
        RepositoryManager(directory: path, settings: LoadSettings(batching: BatchingConfiguration(maxBatch: 4), threads: .one),
                          store: store, compute: ComputeThread(), observer: { _ in BatchObserver() },
                          logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }
}

@Suite struct RepositoryTests {
    /// The repository's decisions for one model, as RepositoryManager runs them: (policy,
    /// versions on disk, each one's standing, serving now) → what to do next.
    @Test func versionDecisionsFollowTheTable() {
        typealias S = VersionPolicy.Standing
        let cases: [(VersionPolicy, [Int: S], Set<Int>, VersionPolicy.Decision)] = [
            // A new newest version is tried first; then it serves and the old one retires.
            (.latest(1), [1: .ready, 2: .untried], [1], .load(2)),
            (.latest(1), [1: .ready, 2: .ready], [1, 2], .settle(keep: [2], retire: [1])),
            // A broken newest version falls back to the one before it, which keeps serving.
            (.latest(1), [1: .ready, 2: .failed], [1], .settle(keep: [1], retire: [])),
            // An older untried version is tried when the newer ones fail.
            (.latest(1), [1: .untried, 2: .failed], [], .load(1)),
            // Nothing ready that the policy wants: whatever serves stays.
            (.latest(1), [3: .failed], [1], .settle(keep: [], retire: [])),
            // latest(2) wants two ready versions, newest first; older ones retire.
            (.latest(2), [1: .ready, 2: .failed, 3: .ready, 4: .ready], [1, 3], .settle(keep: [3, 4], retire: [1])),
            (.latest(2), [1: .untried, 2: .failed, 3: .ready], [3], .load(1)),
            // all: every version, untried ones first from the newest.
            (.all, [1: .ready, 2: .untried, 3: .untried], [1], .load(3)),
            (.all, [1: .ready, 2: .failed, 3: .ready], [1, 3, 7], .settle(keep: [1, 3], retire: [7])),
            // specific: only those named, in any order; others retire once one is ready.
            (.specific([1, 3]), [1: .ready, 2: .ready, 3: .untried], [1, 2], .load(3)),
            (.specific([1, 3]), [1: .ready, 2: .ready, 3: .ready], [1, 2, 3], .settle(keep: [1, 3], retire: [2])),
            (.specific([5]), [1: .ready], [1], .settle(keep: [], retire: [])),
        ]
        for (policy, standing, serving, expected) in cases {
            let decision = policy.decide(onDisk: Array(standing.keys), standing: { standing[$0]! }, serving: serving)
            #expect(decision == expected, "\(policy) \(standing.sorted { $0.key < $1.key }) serving \(serving.sorted())")
        }
        #expect(VersionPolicy.specific([5]).hasCandidates([1, 2]) == false && VersionPolicy.latest(1).hasCandidates([]) == false)
    }

    @Test func configParsingAndPolicies() throws {
        let c = try ModelConfig.parse(Data(#"{"architecture":"leapfrog","max_batch_size":8,"max_queue_delay_us":0,"version_policy":{"specific":{"versions":[1,3]}},"labels":["x"]}"#.utf8), path: "c")
        #expect(c.architecture == "leapfrog" && c.maxBatchSize == 8 && c.maxQueueDelayMicroseconds == 0 && c.labels == ["x"])
        #expect(c.versionPolicy == .specific([1, 3]) && c.versionPolicy.select([1, 2, 3, 4]) == [1, 3])
        #expect(VersionPolicy.latest(2).select([5, 1, 9, 3]) == [5, 9] && VersionPolicy.all.select([2, 1]) == [1, 2])
        #expect(try ModelConfig.parse(Data(#"{"version_policy":{"latest":{}}}"#.utf8), path: "c").versionPolicy == .latest(1))
        for (json, fragment) in [(#"{"max_batch":4}"#, "unknown key 'max_batch'"), (#"{"max_batch_size":0}"#, "max_batch_size must be an integer from 1 to 4096 images, got 0"), (#"{"max_queue":true}"#, "max_queue must be a number"),
                                 (#"{"version_policy":{"newest":{}}}"#, "unknown version_policy"), ("[1]", "not a JSON object"),
                                 (#"{"version_policy":{"specific":{"versions":[0]}}}"#, "each version must be an integer from 1"), (#"{"labels":[]}"#, "labels must be an array of 1 to")] {
            #expect(throws: RepositoryError.self) { try ModelConfig.parse(Data(json.utf8), path: "c") }
            do { _ = try ModelConfig.parse(Data(json.utf8), path: "c") } catch { #expect(error.description.contains(fragment), "\(json): \(error)") }
        }
    }

    @Test func everyNumericKeyIsBoundedWhateverNumberItHolds() throws {
        let templates = [("max_batch_size", #"{"max_batch_size":V}"#), ("max_queue_delay_us", #"{"max_queue_delay_us":V}"#),
                         ("max_queue", #"{"max_queue":V}"#), ("num_versions", #"{"version_policy":{"latest":{"num_versions":V}}}"#),
                         ("version", #"{"version_policy":{"specific":{"versions":[V]}}}"#), ("reversibility_tolerance", #"{"reversibility_tolerance":V}"#)]
        let values = ["-1", "0", "1", "4096", "4097", "2147483647", "2147483648", "-2147483649", "9007199254740993", "4611686018427387904",
                      "9223372036854775807", "9223372036854775808", "-9223372036854775809", "1e300", "-1e300", "1e-300", "0.5", "2.5", "1E2", "\"4\"", "true", "[]", "{}"]
        var accepted = 0
        for (key, template) in templates {
            for v in values {
                do {
                    let c = try ModelConfig.parse(Data(template.replacingOccurrences(of: "V", with: v).utf8), path: "c")
                    accepted += 1
                    // Whatever was accepted is within the bounds, and its derived settings are computed without a trap.
                    let batching = LoadSettings(batching: BatchingConfiguration(), threads: .one).batching(for: c)
                    #expect(BatchingConfiguration.maxBatchBound.range.contains(batching.maxBatch), "\(key) = \(v)")
                    #expect(batching.maxQueueDelay <= 60_000_000_000, "\(key) = \(v)")
                    #expect(c.reversibilityTolerance > 0 && c.reversibilityTolerance <= 1, "\(key) = \(v)")
                } catch {
                    #expect(error.description.contains(key), "\(key) = \(v): the refusal does not name the key: \(error)")
                }
            }
        }
        #expect(accepted >= 10 && accepted <= 40, "accepted \(accepted)")
    }

    @Test(.timeLimit(.minutes(slowdownMinutes))) func managerLoadsSwapsRetiresAndKeepsTheServingVersionOnFailure() async throws {
        let repo = try TemporaryRepository()
        try repo.write("m", 1)
        try repo.write("all", 1)
        try repo.write("all", 2, seed: 2)
        try repo.config("all", #"{"version_policy":{"all":{}}}"#)
        try FileManager.default.createDirectory(at: repo.url.appendingPathComponent("m/.publish-9"), withIntermediateDirectories: true)
        let store = ModelStore(), manager = repo.manager(store)
        await manager.reconcile()
        #expect(store.entry("m")?.ready == [1] && store.entry("all")?.ready == [1, 2])
        #expect(try store.resolve("all").descriptor.version == 2 && store.resolve("all", version: 1).descriptor.version == 1)
        #expect((try store.resolve("m").reversibilityError ?? 1) < 1e-5)

        // A new version swaps in; the old one is retired but its instance keeps working for a holder.
        let held = try store.resolve("m")
        try repo.write("m", 2, seed: 3)
        await manager.reconcile()
        #expect(store.entry("m")?.ready == [2])
        #expect(try await held.scheduler.infer([Float](repeating: 0.5, count: 36), images: 1).logits.count == 3)

        // A broken newer version: the index says why, version 2 serves on.
        let broken = repo.url.appendingPathComponent("m/3")
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        try Data("not hdf5".utf8).write(to: broken.appendingPathComponent("model.h5"))
        await manager.reconcile()
        #expect(try store.resolve("m").descriptor.version == 2)
        let row = await manager.index().first { $0.name == "m" && $0.version == 3 }
        #expect(row?.state == "UNAVAILABLE" && (row?.reason.contains("cannot read") ?? false), "\(String(describing: row))")
        // Unchanged files are not retried on every scan.
        let before = await manager.generation
        await manager.reconcile()
        #expect(await manager.generation == before + 1 && store.entry("m")?.versions[3]?.state == .unavailable)

        // Wrong architecture against config.json.
        try repo.config("m", #"{"architecture":"hamiltonian"}"#)
        await manager.reconcile()
        #expect(store.entry("m")?.ready.isEmpty == false)
        #expect(store.entry("m")?.versions[2]?.reason.contains("requires hamiltonian") ?? false, "\(String(describing: store.entry("m")?.versions[2]))")

        // Explicit unload and load; a removed model disappears.
        try await manager.unloadModel("all")
        #expect(throws: ModelLookupError.self) { try store.resolve("all") }
        await manager.reconcile()
        #expect(store.entry("all")?.ready.isEmpty == true, "an unloaded model stays unloaded across scans")
        try await manager.loadModel("all")
        #expect(store.entry("all")?.ready == [1, 2])
        await #expect(throws: RepositoryControlError.unknownModel("ghost")) { try await manager.loadModel("ghost") }
        try FileManager.default.removeItem(at: repo.url.appendingPathComponent("all"))
        await manager.reconcile()
        #expect(store.entry("all") == nil)
    }

    @Test(.timeLimit(.minutes(slowdownMinutes))) func aVersionFailingTheReversibilitySelfTestIsRefused() async throws {
        let repo = try TemporaryRepository()
        try repo.write("m", 1, blocks: [4, 4])   // a start-up block alone inverts exactly; later ones round
        try repo.config("m", #"{"reversibility_tolerance": 1e-12}"#)
        let store = ModelStore(), manager = repo.manager(store)
        await manager.reconcile()
        let v = try #require(store.entry("m")?.versions[1])
        #expect(v.state == .unavailable && v.reason.contains("reversibility self-test failed") && v.reason.contains("1e-12"), "\(v.reason)")
        try repo.config("m", #"{"reversibility_tolerance": 1e-3}"#)
        await manager.reconcile()
        #expect(store.entry("m")?.ready == [1])
    }

    @Test func invalidNamesAreIgnored() {
        for bad in ["", ".hidden", "a/b", "..", "x y", String(repeating: "a", count: 129), "é"] {
            #expect(!ModelRepository.isValidName(bad), "\(bad)")
        }
        for good in ["fashion", "m-1", "a.b_c", "V2"] { #expect(ModelRepository.isValidName(good)) }
    }
}
