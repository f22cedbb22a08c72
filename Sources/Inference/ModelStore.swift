// ModelStore: the models the daemon serves, by name: each one's state (LOADING, READY,
// UNAVAILABLE with a reason), the version it serves and its batcher. Requests resolve a model
// here; the loader moves models between states. Issue 7 grows this into the hot-swapping
// repository.

import Synchronization

public enum ModelState: String, Sendable {
    case loading = "LOADING"
    case ready = "READY"
    case unavailable = "UNAVAILABLE"
}

/// A ready model: its description, its batcher and its statistics.
public struct ServingModel: Sendable {
    public var model: any InferenceModel
    public var scheduler: BatchScheduler
    public var statistics: ModelStatistics
    public var descriptor: ModelDescriptor { model.descriptor }

    public init(model: any InferenceModel, scheduler: BatchScheduler, statistics: ModelStatistics) {
        self.model = model
        self.scheduler = scheduler
        self.statistics = statistics
    }
}

public enum ModelLookupError: Error, Equatable, CustomStringConvertible {
    case unknownModel(String, known: [String])
    case unknownVersion(String, version: Int, serving: Int?)
    case notReady(String, state: ModelState, reason: String)

    public var description: String {
        switch self {
        case .unknownModel(let name, let known):
            return "unknown model '\(name)'; this server has " + (known.isEmpty ? "no models" : known.map { "'\($0)'" }.joined(separator: ", "))
        case .unknownVersion(let name, let version, let serving):
            return "model '\(name)' has no version \(version) loaded" + (serving.map { "; it serves version \($0)" } ?? "")
        case .notReady(let name, let state, let reason):
            return "model '\(name)' is not ready (\(state.rawValue))" + (reason.isEmpty ? "" : ": \(reason)")
        }
    }
}

public final class ModelStore: Sendable {
    public struct Entry: Sendable {
        public var name: String
        public var state: ModelState
        /// The version loading or served; nil when none could be chosen.
        public var version: Int?
        public var reason: String
        public var serving: ServingModel?
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    public func setLoading(_ name: String, version: Int?) {
        entries.withLock { $0[name] = Entry(name: name, state: .loading, version: version, reason: "", serving: nil) }
    }

    public func setReady(_ serving: ServingModel) {
        let d = serving.descriptor
        entries.withLock { $0[d.name] = Entry(name: d.name, state: .ready, version: d.version, reason: "", serving: serving) }
    }

    public func setUnavailable(_ name: String, version: Int?, reason: String) {
        entries.withLock { $0[name] = Entry(name: name, state: .unavailable, version: version, reason: reason, serving: nil) }
    }

    /// Every model, sorted by name.
    public var all: [Entry] { entries.withLock { $0.values.sorted { $0.name < $1.name } } }

    /// The ready model `name` (at `version` if given).
    public func resolve(_ name: String, version: Int? = nil) throws(ModelLookupError) -> ServingModel {
        let entry = entries.withLock { $0[name] }
        guard let entry else { throw .unknownModel(name, known: all.map(\.name)) }
        if let version, version != entry.version {
            throw .unknownVersion(name, version: version, serving: entry.version)
        }
        guard entry.state == .ready, let serving = entry.serving else {
            throw .notReady(name, state: entry.state, reason: entry.reason)
        }
        return serving
    }

    /// The entry of `name` (whatever its state), if the store knows it.
    public func entry(_ name: String) -> Entry? { entries.withLock { $0[name] } }
}
