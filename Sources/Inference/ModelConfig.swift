// ModelConfig: a model's optional models/NAME/config.json: which architecture it must be,
// batching settings, the version policy (Triton's: latest n, all, specific), and a labels
// override. Unknown keys are refused so that a typo is not silently ignored.

import Bounds
import Foundation

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

    // Bounds of the keys without a flag of their own (the batching keys share the flags').
    /// The largest config.json read.
    public static let maxFileBytes = 1 << 20
    public static let numVersionsBound = Bound(1...1000, "versions")
    public static let versionBound = Bound(1...999_999_999)
    public static let maxSpecificVersions = 1000
    public static let maxLabels = 100_000
    public static let maxLabelBytes = 1024
    /// reversibility_tolerance: a relative error, so above 1 it accepts anything.
    public static let maxReversibilityTolerance: Float = 1
    static let jsonShape = JSONShapeLimits(maxDepth: 8, maxObjectMembers: 64, maxObjectsInArray: 64, maxScalars: 200_000)

    /// config.json as written: snake_case keys, every one optional. Numbers are read as Double
    /// and checked here, so that 1e300, 2^63 or 0.5 where an integer goes is refused with the
    /// key's name and bound rather than a decoder's "not valid JSON".
    private struct File: Decodable {
        struct PolicyArguments: Decodable {
            var num_versions: Double?
            var versions: [Double]?
        }
        var architecture: String?
        var max_batch_size: Double?
        var max_queue_delay_us: Double?
        var max_queue: Double?
        var version_policy: [String: PolicyArguments]?
        var labels: [String]?
        var reversibility_tolerance: Double?
    }
    private static let keys: Set = ["architecture", "max_batch_size", "max_queue_delay_us", "max_queue", "version_policy",
                                    "labels", "reversibility_tolerance"]

    /// Parses config.json's bytes; `path` is for messages.
    public static func parse(_ data: Data, path: String) throws(RepositoryError) -> ModelConfig {
        func bad(_ why: String) -> RepositoryError { .badConfig(path, reason: why) }
        guard data.count <= maxFileBytes else { throw bad("larger than \(maxFileBytes) bytes") }
        do { try JSONShape.check(data, jsonShape) } catch { throw bad(error.message) }
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
                let key = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined().dropFirst()
                throw bad("\(key) must be \(type == Double.self ? "a number" : type == String.self ? "a string" : "\(type)")")
            default: throw bad("\(e)")
            }
        } catch { throw bad("\(error)") }

        var c = ModelConfig()
        if let a = f.architecture {
            guard !a.isEmpty else { throw bad("architecture must be a non-empty string") }
            c.architecture = a
        }
        /// An integer key within its bound.
        func integer(_ key: String, _ value: Double?, _ bound: Bound) throws(RepositoryError) -> Int? {
            guard let value else { return nil }
            guard let v = Int(exactly: value), bound.range.contains(v) else {
                let shown = value.rounded() == value && abs(value) < 1e18 ? String(Int(value)) : "\(value)"
                throw bad(bound.refusal(key, shown))
            }
            return v
        }
        c.maxBatchSize = try integer("max_batch_size", f.max_batch_size, BatchingConfiguration.maxBatchBound)
        c.maxQueue = try integer("max_queue", f.max_queue, BatchingConfiguration.maxQueueBound)
        c.maxQueueDelayMicroseconds = try integer("max_queue_delay_us", f.max_queue_delay_us, BatchingConfiguration.maxQueueDelayMicrosecondsBound)
        if let t = f.reversibility_tolerance {
            // Float(t) > 0: 1e-300 is above 0 as a Double but 0 as the Float the self-test compares with.
            guard t > 0, Float(t) > 0, t <= Double(maxReversibilityTolerance) else {
                throw bad("reversibility_tolerance must be a number above 0 and at most \(maxReversibilityTolerance), got \(t)")
            }
            c.reversibilityTolerance = Float(t)
        }
        if let labels = f.labels {
            guard !labels.isEmpty, labels.count <= maxLabels else { throw bad("labels must be an array of 1 to \(maxLabels) strings, got \(labels.count)") }
            if let long = labels.firstIndex(where: { $0.utf8.count > maxLabelBytes }) {
                throw bad("labels[\(long)] is \(labels[long].utf8.count) bytes; a label has at most \(maxLabelBytes)")
            }
            c.labels = labels
        }
        if let policy = f.version_policy {
            guard policy.count == 1, let (kind, args) = policy.first else {
                throw bad(#"version_policy must be one of {"latest": {"num_versions": n}}, {"all": {}}, {"specific": {"versions": [..]}}"#)
            }
            switch kind {
            case "latest":
                let n = try integer("version_policy latest: num_versions", args.num_versions, numVersionsBound) ?? 1
                c.versionPolicy = .latest(n)
            case "all":
                c.versionPolicy = .all
            case "specific":
                guard let versions = args.versions, !versions.isEmpty, versions.count <= maxSpecificVersions else {
                    throw bad("version_policy specific: versions must be an array of 1 to \(maxSpecificVersions) versions")
                }
                var wanted: [Int] = []
                for v in versions { wanted.append(try integer("version_policy specific: each version", v, versionBound)!) }
                c.versionPolicy = .specific(wanted)
            default:
                throw bad("unknown version_policy '\(kind)' (latest, all or specific)")
            }
        }
        return c
    }
}
