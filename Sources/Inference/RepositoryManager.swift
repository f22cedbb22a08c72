// RepositoryManager: keeps the ModelStore in step with the repository directory: it scans,
// loads the versions each model's policy selects (in the background, on load threads of their
// own, never the compute thread that runs batches; through ModelLoader's checks), swaps a new
// instance in only once it is ready, retires
// versions the policy no longer selects once a selected one is ready, and leaves the serving
// version untouched when a new one fails (the index shows why). Explicit load/unload and the
// repository index are here too. An actor: one reconciliation at a time.

import Bounds
import CShims
import Logging
import Tensor
#if canImport(Glibc)
import Glibc
#endif

/// One row of POST /v2/repository/index.
public struct IndexEntry: Sendable, Equatable {
    public var name: String
    public var version: Int?
    public var state: String
    public var reason: String
}

public enum RepositoryControlError: Error, Equatable, CustomStringConvertible {
    case unknownModel(String)
    case loadFailed(String, reason: String)

    public var description: String {
        switch self {
        case .unknownModel(let name): return "no model '\(name)' in the repository"
        case .loadFailed(let name, let reason): return "model '\(name)' failed to load: \(reason)"
        }
    }
}

public actor RepositoryManager {
    public nonisolated let directory: String
    private let settings: LoadSettings
    private let store: ModelStore
    /// Runs the serving models' batches.
    private let compute: ComputeThread
    /// Load slots: threads that run loads (check, read, warm-up, self-test) beside the compute
    /// thread, sharing the cores with it. A load that hangs holds one slot, and models load
    /// side by side.
    private var freeLoaders: [ComputeThread]
    private var loaderWaiters: [CheckedContinuation<ComputeThread, Never>] = []
    private let observer: @Sendable (String) -> BatchObserver
    private let logger: Logger

    /// The last scan.
    private var sources: [String: ModelSource] = [:]
    /// What was last tried per model and version: the file's and config's fingerprints, so that
    /// an unchanged broken file is not retried on every scan.
    private var attempted: [String: [Int: [UInt64]]] = [:]
    /// Models unloaded on request: not loaded again until a load request.
    private var unloaded: Set<String> = []
    private var reconciling = false
    private var again = false
    /// Reconciliations completed (tests and the watcher wait on it).
    public private(set) var generation = 0

    /// Load slots by default: with two, a load that hangs cannot hold up the others.
    public static let defaultLoadSlots = 2
    /// Each slot is a thread, and each load holds a model's memory twice while it warms.
    public static let loadSlotsBound = Bound(1...64, "slots")

    public init(directory: String, settings: LoadSettings, store: ModelStore, compute: ComputeThread,
                loadSlots: Int = defaultLoadSlots, observer: @escaping @Sendable (String) -> BatchObserver, logger: Logger) {
        self.directory = directory
        self.settings = settings
        self.store = store
        self.compute = compute
        freeLoaders = (0..<max(1, loadSlots)).map { _ in ComputeThread(name: "revserve-load") }
        self.observer = observer
        self.logger = logger
    }

    /// Scans the repository and brings the store in line with it. Calls that arrive while a
    /// reconciliation runs are folded into one more pass after it.
    public func reconcile() async {
        if reconciling { again = true; return }
        reconciling = true
        defer { reconciling = false }
        repeat {
            again = false
            await reconcileOnce()
            generation += 1
        } while again
    }

    private func reconcileOnce() async {
        let scanned: [ModelSource]
        do { scanned = try ModelRepository.scan(directory) } catch {
            logger.error("\(error)")
            store.markFirstScanDone()   // nothing to wait for: unknown names are unknown
            return
        }
        let onDisk = Dictionary(uniqueKeysWithValues: scanned.map { ($0.name, $0) })
        // Models whose directory went away stop being served.
        for name in sources.keys where onDisk[name] == nil {
            logger.info("model '\(name)': removed from the repository; unloading")
            await retire(name, versions: store.entry(name).map { Array($0.versions.keys) } ?? [])
            store.remove(name)
            attempted[name] = nil
        }
        sources = onDisk
        // Every model is known (LOADING) before the first one loads: models wait for a load
        // slot, and a model waiting its turn must not look unknown (404) meanwhile.
        for source in scanned where !unloaded.contains(source.name) && store.entry(source.name) == nil {
            store.update(source.name) { $0.pending = true }
        }
        store.markFirstScanDone()
        // Models are brought up to date side by side (each takes a load slot per version it
        // loads); a model's own versions go one after another, newest first.
        await withTaskGroup(of: Void.self) { group in
            for source in scanned where !unloaded.contains(source.name) {
                group.addTask { await self.bringUpToDateAndSettle(source) }
            }
        }
    }

    private func bringUpToDateAndSettle(_ source: ModelSource) async {
        await bringUpToDate(source)
        store.update(source.name) { $0.pending = false }
    }

    /// Waits for a free load slot.
    private func acquireLoader() async -> ComputeThread {
        if let loader = freeLoaders.popLast() { return loader }
        return await withCheckedContinuation { loaderWaiters.append($0) }
    }

    private func releaseLoader(_ loader: ComputeThread) {
        if loaderWaiters.isEmpty { freeLoaders.append(loader) } else { loaderWaiters.removeFirst().resume(returning: loader) }
    }

    private func bringUpToDate(_ source: ModelSource) async {
        let name = source.name
        let config: ModelConfig
        switch source.config {
        case .failure(let error):
            store.update(name) { $0.reason = error.description }
            if attempted[name]?[0] != source.configFingerprint {
                logger.error("model '\(name)': \(error); the versions it serves stay as they are")
                attempted[name, default: [:]][0] = source.configFingerprint
            }
            return
        case .success(let c):
            config = c
        }
        let onDisk = Array(source.versions.keys)
        let policy = config.versionPolicy
        store.update(name) { $0.reason = policy.hasCandidates(onDisk) ? "" : "no version directory with \(ModelRepository.checkpointName) matches the version policy \(policy)" }
        // VersionPolicy.decide makes every decision; this loop only carries them out.
        while true {
            let entry = store.entry(name)
            let serving = Set(entry?.versions.values.filter { $0.state == .ready }.map(\.version) ?? [])
            let decision = policy.decide(onDisk: onDisk, standing: { version in
                guard let file = source.versions[version], attempted[name]?[version] == file.fingerprint + source.configFingerprint else {
                    return .untried
                }
                return entry?.versions[version]?.state == .ready ? .ready : .failed
            }, serving: serving)
            switch decision {
            case .load(let version):
                guard let file = source.versions[version] else { return }
                attempted[name, default: [:]][version] = file.fingerprint + source.configFingerprint
                await load(name, version: version, file: file, config: config)
            case .settle(let keep, let retire):
                // Failed entries stay (the index shows why) while their files are on disk.
                guard !keep.isEmpty else { return }
                await self.retire(name, versions: retire)
                store.update(name) { e in
                    for v in e.versions.keys where source.versions[v] == nil || (v < (keep.min() ?? 0) && e.versions[v]?.state != .ready) {
                        e.versions[v] = nil
                    }
                }
                return
            }
        }
    }

    /// Loads one version in the background; on success swaps it in, on failure records why and
    /// leaves whatever serves untouched.
    private func load(_ name: String, version: Int, file: VersionFile, config: ModelConfig) async {
        let previous = store.entry(name)?.versions[version]?.serving
        store.update(name) { e in
            // A version being replaced keeps serving (and stays READY) while its successor loads.
            if e.versions[version]?.state != .ready { e.versions[version] = .init(version: version, state: .loading) }
        }
        logger.info("model '\(name)' version \(version): loading \(file.path)")
        let settings = self.settings
        // While models serve, a load computes on its own slot's thread only, so that batches
        // keep the kernels' worker threads; before anything serves it may use them all.
        let threads = store.serving.isEmpty ? settings.threads : .one
        let loader = await acquireLoader()
        let result: Result<(CheckpointModel, Float), ModelLoadError>
        do {
            result = .success(try await loader.run { () throws -> (CheckpointModel, Float) in
                try ModelLoader.load(name: name, version: version, file: file, config: config, settings: settings, loadThreads: threads)
            })
        } catch let error as ModelLoadError {
            result = .failure(error)
        } catch {
            result = .failure(.checkpoint("\(error)"))
        }
        releaseLoader(loader)
        switch result {
        case .success(let (model, reversibility)):
            let statistics = ModelStatistics()
            let scheduler = BatchScheduler(configuration: settings.batching(for: config), inputSize: model.descriptor.inputSize,
                                           classes: model.descriptor.classes, compute: compute, statistics: statistics,
                                           observer: observer(name)) { inputs, n in try model.execute(inputs, count: n) }
            let serving = ServingModel(model: model, scheduler: scheduler, statistics: statistics, reversibilityError: reversibility)
            store.update(name) { $0.versions[version] = .init(version: version, state: .ready, serving: serving) }
            logger.info("model '\(name)' version \(version) ready (\(model.descriptor.platform), input \(model.descriptor.inputShape), \(model.descriptor.classes) classes, reversibility error \(reversibility))")
            if let previous { await previous.scheduler.flush() }
        case .failure(let error):
            store.update(name) { e in
                if previous != nil {
                    // The old file's instance keeps serving; the index says the new file failed.
                    e.versions[version]?.reason = "a changed checkpoint failed to load, the previous one still serves: \(error)"
                } else {
                    e.versions[version] = .init(version: version, state: .unavailable, reason: error.description)
                }
            }
            logger.error("model '\(name)' version \(version) failed to load: \(error)")
        }
    }

    /// Takes versions out of service. Requests holding them finish; their queues run at once.
    private func retire(_ name: String, versions: [Int]) async {
        guard !versions.isEmpty else { return }
        var retired: [ServingModel] = []
        store.update(name) { e in
            for v in versions {
                if let s = e.versions[v]?.serving { retired.append(s) }
                e.versions[v] = nil
            }
        }
        for s in retired {
            logger.info("model '\(name)' version \(s.descriptor.version): unloaded")
            await s.scheduler.flush()
        }
        // Give freed weights back to the system (glibc keeps small blocks otherwise). A retired
        // version's network state (kept transforms, scratch, plugin handles) goes when its last
        // request ends.
        _ = rs_malloc_trim()
    }

    /// Reloads, through the usual load-check-swap path, every model whose served versions use
    /// one of `architectures` (after a plugin library was replaced).
    public func reloadModels(using architectures: Set<String>) async {
        for entry in store.all where entry.versions.values.contains(where: { $0.serving.map { architectures.contains($0.descriptor.architecture) } ?? false }) {
            logger.info("model '\(entry.name)': reloading on the new plugin")
            attempted[entry.name] = nil
        }
        await reconcile()
    }

    // MARK: explicit control

    /// Loads (or reloads) `name` from the repository now and reports whether a version is ready.
    public func loadModel(_ name: String) async throws(RepositoryControlError) {
        guard ModelRepository.isValidName(name),
              sources[name] != nil || !ModelRepository.scanModel(name, in: directory + "/" + name).versions.isEmpty else {
            throw .unknownModel(name)
        }
        unloaded.remove(name)
        attempted[name] = nil
        await reconcile()
        guard let entry = store.entry(name) else { throw .unknownModel(name) }
        if entry.ready.isEmpty {
            let reason = entry.versions.values.first { !$0.reason.isEmpty }?.reason ?? entry.reason
            throw .loadFailed(name, reason: reason.isEmpty ? "no version is ready" : reason)
        }
    }

    /// Stops serving `name` until a load request.
    public func unloadModel(_ name: String) async throws(RepositoryControlError) {
        guard let entry = store.entry(name) else { throw .unknownModel(name) }
        unloaded.insert(name)
        attempted[name] = nil
        await retire(name, versions: Array(entry.versions.keys))
        store.update(name) { $0.reason = "unloaded by request" }
    }

    /// Every model in the repository or the store, with each version's state.
    public func index() -> [IndexEntry] {
        var rows: [IndexEntry] = []
        let names = Set(sources.keys).union(store.all.map(\.name)).sorted()
        for name in names {
            let entry = store.entry(name)
            var versions = entry?.versions ?? [:]
            for v in sources[name]?.versions.keys ?? [:].keys where versions[v] == nil {
                let why = unloaded.contains(name) ? "unloaded by request"
                    : "not selected by the version policy" + ((try? sources[name]?.config.get()).map { " \($0.versionPolicy)" } ?? "")
                versions[v] = .init(version: v, state: .unavailable, reason: why)
            }
            if versions.isEmpty {
                rows.append(IndexEntry(name: name, version: nil, state: ModelState.unavailable.rawValue, reason: entry?.reason ?? ""))
            }
            // A refused config.json is the model's, not a version's: every row says so, while
            // the versions loaded before it keep serving.
            var refusedConfig: String?
            if case .failure(let error)? = sources[name]?.config { refusedConfig = "\(error) (the versions loaded before it stay)" }
            for v in versions.keys.sorted() {
                let e = versions[v]!
                let reason = [e.reason, refusedConfig ?? ""].filter { !$0.isEmpty }.joined(separator: "; ")
                rows.append(IndexEntry(name: name, version: v, state: e.state.rawValue, reason: reason))
            }
        }
        return rows
    }
}
