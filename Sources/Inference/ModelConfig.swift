// ModelConfig: a model's optional models/NAME/config.json: which architecture it must be,
// batching settings, the version policy (Triton's: latest n, all, specific), and a labels
// override. Unknown keys are refused so that a typo is not silently ignored.

import Foundation

public enum VersionPolicy: Sendable, Equatable, CustomStringConvertible {
    case latest(Int)
    case all
    case specific([Int])

    /// The versions to serve among those on disk.
    public func select(_ available: [Int]) -> [Int] {
        let sorted = available.sorted()
        switch self {
        case .latest(let n): return Array(sorted.suffix(n))
        case .all: return sorted
        case .specific(let wanted): return sorted.filter(wanted.contains)
        }
    }

    public var description: String {
        switch self {
        case .latest(let n): return "latest(\(n))"
        case .all: return "all"
        case .specific(let v): return "specific(\(v.map(String.init).joined(separator: ", ")))"
        }
    }
}

public struct ModelConfig: Sendable, Equatable {
    /// The architecture (plugin) every version must use; nil accepts what the checkpoint says.
    public var architecture: String?
    public var maxBatchSize: Int?
    public var maxQueueDelayMicroseconds: Int?
    public var maxQueue: Int?
    public var versionPolicy: VersionPolicy = .latest(1)
    /// Replaces the checkpoint's labels (must have one per class).
    public var labels: [String]?
    /// Largest reversibility self-test error accepted (max|inverse(forward(x)) − x| / max|x|).
    public var reversibilityTolerance: Float = 1e-3

    public init() {}

    public static let fileName = "config.json"

    /// config.json as written: snake_case keys, every one optional.
    private struct File: Decodable {
        struct PolicyArguments: Decodable {
            var num_versions: Int?
            var versions: [Int]?
        }
        var architecture: String?
        var max_batch_size: Int?
        var max_queue_delay_us: Int?
        var max_queue: Int?
        var version_policy: [String: PolicyArguments]?
        var labels: [String]?
        var reversibility_tolerance: Float?
    }
    private static let keys: Set = ["architecture", "max_batch_size", "max_queue_delay_us", "max_queue", "version_policy",
                                    "labels", "reversibility_tolerance"]

    /// Parses config.json's bytes; `path` is for messages.
    public static func parse(_ data: Data, path: String) throws(RepositoryError) -> ModelConfig {
        func bad(_ why: String) -> RepositoryError { .badConfig(path, reason: why) }
        guard let object = try? JSONSerialization.jsonObject(with: data), let o = object as? [String: Any] else {
            throw bad("not a JSON object")
        }
        if let unknown = o.keys.sorted().first(where: { !keys.contains($0) }) {
            throw bad("unknown key '\(unknown)' (known: \(keys.sorted().joined(separator: ", ")))")
        }
        let f: File
        do { f = try JSONDecoder().decode(File.self, from: data) } catch let e as DecodingError {
            switch e {
            case .typeMismatch(let type, let c), .valueNotFound(let type, let c):
                throw bad("\(c.codingPath.map(\.stringValue).joined(separator: ".")) must be \(type == Int.self ? "an integer" : "\(type)")")
            default: throw bad("\(e)")
            }
        } catch { throw bad("\(error)") }

        var c = ModelConfig()
        if let a = f.architecture {
            guard !a.isEmpty else { throw bad("architecture must be a non-empty string") }
            c.architecture = a
        }
        if let n = f.max_batch_size, n < 1 { throw bad("max_batch_size must be a positive integer") }
        if let n = f.max_queue, n < 1 { throw bad("max_queue must be a positive integer") }
        if let n = f.max_queue_delay_us, n < 0 { throw bad("max_queue_delay_us must be a non-negative integer") }
        c.maxBatchSize = f.max_batch_size
        c.maxQueue = f.max_queue
        c.maxQueueDelayMicroseconds = f.max_queue_delay_us
        if let t = f.reversibility_tolerance {
            guard t > 0, t.isFinite else { throw bad("reversibility_tolerance must be a positive number") }
            c.reversibilityTolerance = t
        }
        if let labels = f.labels {
            guard !labels.isEmpty else { throw bad("labels must be a non-empty array of strings") }
            c.labels = labels
        }
        if let policy = f.version_policy {
            guard policy.count == 1, let (kind, args) = policy.first else {
                throw bad(#"version_policy must be one of {"latest": {"num_versions": n}}, {"all": {}}, {"specific": {"versions": [..]}}"#)
            }
            switch kind {
            case "latest":
                let n = args.num_versions ?? 1
                guard n >= 1 else { throw bad("version_policy latest: num_versions must be a positive integer") }
                c.versionPolicy = .latest(n)
            case "all":
                c.versionPolicy = .all
            case "specific":
                guard let versions = args.versions, !versions.isEmpty, versions.allSatisfy({ $0 >= 1 }) else {
                    throw bad("version_policy specific: versions must be a non-empty array of positive integers")
                }
                c.versionPolicy = .specific(versions)
            default:
                throw bad("unknown version_policy '\(kind)' (latest, all or specific)")
            }
        }
        return c
    }
}
