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

    /// Parses config.json's bytes; `path` is for messages.
    public static func parse(_ data: Data, path: String) throws(RepositoryError) -> ModelConfig {
        func bad(_ why: String) -> RepositoryError { .badConfig(path, reason: why) }
        guard let object = try? JSONSerialization.jsonObject(with: data), let o = object as? [String: Any] else {
            throw bad("not a JSON object")
        }
        let known: Set = ["architecture", "max_batch_size", "max_queue_delay_us", "max_queue", "version_policy", "labels",
                          "reversibility_tolerance"]
        if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw bad("unknown key '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        var c = ModelConfig()
        if let a = o["architecture"] {
            guard let s = a as? String, !s.isEmpty else { throw bad("architecture must be a non-empty string") }
            c.architecture = s
        }
        func positive(_ key: String, allowZero: Bool = false) throws(RepositoryError) -> Int? {
            guard let v = o[key] else { return nil }
            guard let n = (v as? NSNumber).flatMap({ Int(exactly: $0.doubleValue) }), n > 0 || (allowZero && n == 0),
                  !(v is Bool) else {
                throw bad("\(key) must be a \(allowZero ? "non-negative" : "positive") integer")
            }
            return n
        }
        c.maxBatchSize = try positive("max_batch_size")
        c.maxQueueDelayMicroseconds = try positive("max_queue_delay_us", allowZero: true)
        c.maxQueue = try positive("max_queue")
        if let t = o["reversibility_tolerance"] {
            guard let v = (t as? NSNumber)?.floatValue, v > 0, !(t is Bool) else { throw bad("reversibility_tolerance must be a positive number") }
            c.reversibilityTolerance = v
        }
        if let l = o["labels"] {
            guard let labels = l as? [String], !labels.isEmpty else { throw bad("labels must be a non-empty array of strings") }
            c.labels = labels
        }
        if let p = o["version_policy"] {
            guard let policy = p as? [String: Any], policy.count == 1, let (kind, value) = policy.first else {
                throw bad(#"version_policy must be one of {"latest": {"num_versions": n}}, {"all": {}}, {"specific": {"versions": [..]}}"#)
            }
            let args = value as? [String: Any] ?? [:]
            switch kind {
            case "latest":
                let n = args["num_versions"].map { ($0 as? NSNumber).flatMap { Int(exactly: $0.doubleValue) } } ?? 1
                guard let n, n >= 1 else { throw bad("version_policy latest: num_versions must be a positive integer") }
                c.versionPolicy = .latest(n)
            case "all":
                c.versionPolicy = .all
            case "specific":
                guard let list = args["versions"] as? [NSNumber], !list.isEmpty,
                      let versions = Optional(list.compactMap { Int(exactly: $0.doubleValue) }), versions.count == list.count,
                      versions.allSatisfy({ $0 >= 1 }) else {
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
