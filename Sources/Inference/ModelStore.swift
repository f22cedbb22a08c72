// ModelStore: what the daemon serves right now: per model, per version, its state (LOADING,
// READY, UNAVAILABLE with a reason) and, when ready, its instance (model, batcher,
// statistics). Requests resolve an instance here and keep it for their whole life, so a swap
// never disturbs them: the store only drops its own reference, and the instance is freed when
// its last request ends. Only the RepositoryManager changes the store.

import Locking

public enum ModelState: String, Sendable {
    case loading = "LOADING"
    case ready = "READY"
    case unavailable = "UNAVAILABLE"
}

/// A ready model version: its model, batcher, statistics and self-test result.
public struct ServingModel: Sendable {
    public var model: any InferenceModel
    public var scheduler: BatchScheduler
    public var statistics: ModelStatistics
    /// max|inverse(forward(x)) − x| / max|x| over the units, measured when it loaded.
    public var reversibilityError: Float?
    public var descriptor: ModelDescriptor { model.descriptor }

    public init(model: any InferenceModel, scheduler: BatchScheduler, statistics: ModelStatistics, reversibilityError: Float? = nil) {
        self.model = model
        self.scheduler = scheduler
        self.statistics = statistics
        self.reversibilityError = reversibilityError
    }
}

public enum ModelLookupError: Error, Equatable, CustomStringConvertible {
    case unknownModel(String, known: [String])
    case unknownVersion(String, version: Int, serving: [Int])
    case notReady(String, version: Int?, state: ModelState, reason: String)

    public var description: String {
        switch self {
        case .unknownModel(let name, let known):
            return "unknown model '\(name)'; this server has " + (known.isEmpty ? "no models" : known.map { "'\($0)'" }.joined(separator: ", "))
        case .unknownVersion(let name, let version, let serving):
            return "model '\(name)' has no version \(version) loaded"
                + (serving.isEmpty ? "" : "; it serves version\(serving.count == 1 ? "" : "s") \(serving.map(String.init).joined(separator: ", "))")
        case .notReady(let name, let version, let state, let reason):
            return "model '\(name)'\(version.map { " version \($0)" } ?? "") is not ready (\(state.rawValue))" + (reason.isEmpty ? "" : ": \(reason)")
        }
    }
}

public final class ModelStore: Sendable {
    public struct Version: Sendable {
        public var version: Int
        public var state: ModelState
        public var reason: String
        public var serving: ServingModel?

        public init(version: Int, state: ModelState, reason: String = "", serving: ServingModel? = nil) {
            self.version = version
            self.state = state
            self.reason = reason
            self.serving = serving
        }
    }

    public struct Entry: Sendable {
        public var name: String
        public var versions: [Int: Version] = [:]
        /// A problem of the model as a whole (bad config.json, unloaded, no versions).
        public var reason = ""
        /// Seen in the repository and about to be loaded (behind other models' loading).
        public var pending = false

        public init(name: String) { self.name = name }

        /// Ready versions, ascending.
        public var ready: [Int] { versions.values.filter { $0.state == .ready }.map(\.version).sorted() }
        /// The model's state as one word: READY if any version is, else LOADING if any loads.
        public var state: ModelState {
            if versions.values.contains(where: { $0.state == .ready }) { return .ready }
            if pending || versions.values.contains(where: { $0.state == .loading }) { return .loading }
            return .unavailable
        }
    }

    private let models = Locked<[String: Entry]>([:])
    /// Until the first repository scan has registered every model, an unknown name may be a
    /// model not read yet: such lookups answer "loading", not "unknown".
    private let firstScanDone = Locked(false)

    /// Called once every model of the first scan has an entry.
    public func markFirstScanDone() { firstScanDone.withLock { $0 = true } }

    public init() {}

    /// Changes (or creates) model `name`'s entry.
    public func update(_ name: String, _ change: (inout Entry) -> Void) {
        models.withLock { m in
            var entry = m[name] ?? Entry(name: name)
            change(&entry)
            m[name] = entry
        }
    }

    public func remove(_ name: String) {
        _ = models.withLock { $0.removeValue(forKey: name) }
    }

    /// Every model, sorted by name.
    public var all: [Entry] { models.withLock { $0.values.sorted { $0.name < $1.name } } }

    public func entry(_ name: String) -> Entry? { models.withLock { $0[name] } }

    /// Every ready instance, by model name then version.
    public var serving: [ServingModel] {
        all.flatMap { e in e.versions.keys.sorted().compactMap { e.versions[$0]?.serving } }
    }

    /// The instance for `name` at `version`, or its newest ready version.
    public func resolve(_ name: String, version: Int? = nil) throws(ModelLookupError) -> ServingModel {
        guard let entry = entry(name) else {
            if !firstScanDone.withLock({ $0 }) {
                throw .notReady(name, version: nil, state: .loading, reason: "the server is still reading its model repository")
            }
            throw .unknownModel(name, known: all.map(\.name))
        }
        if let version {
            guard let v = entry.versions[version] else { throw .unknownVersion(name, version: version, serving: entry.ready) }
            guard v.state == .ready, let serving = v.serving else {
                throw .notReady(name, version: version, state: v.state, reason: v.reason)
            }
            return serving
        }
        if let newest = entry.ready.last, let serving = entry.versions[newest]?.serving { return serving }
        let reason = entry.versions.values.sorted { $0.version > $1.version }.first { !$0.reason.isEmpty }?.reason ?? entry.reason
        throw .notReady(name, version: nil, state: entry.state, reason: reason)
    }
}
