// TrainingOptions: everything that defines a training run, validated before any work starts,
// and recorded in every checkpoint's /training group so that --resume can continue it exactly.

import Bounds
import Formats
import RevNet

public enum DatasetKind: String, Sendable, CaseIterable, Codable {
    case fashionMNIST = "fashion-mnist", cifar10, folder, synthetic
}

public enum ScheduleKind: String, Sendable, CaseIterable, Codable {
    /// Divide the rate by 10 at 50% and 75% of the run (the paper's schedule).
    case step
    /// Half a cosine from the initial rate down to 0.
    case cosine
}

public struct TrainingOptions: Sendable, Equatable {
    public var network: NetworkConfig
    public var dataset: DatasetKind
    /// Directory (fashion-mnist, cifar10) or root folder; unused for synthetic.
    public var dataPath: String
    public var epochs: Int
    /// Stop after this many steps in all, if smaller than epochs × steps per epoch.
    public var maxSteps: Int?
    public var batchSize: Int
    public var learningRate: Float
    public var momentum: Float = 0.9
    public var weightDecay: Float = 2e-4
    /// α of the smoothness regulariser (docs/spec/NETWORKS.md §3); 0 turns it off.
    public var smoothness: Float = 2e-4
    public var schedule: ScheduleKind = .step
    /// Linear warm-up from 0 over this many steps.
    public var warmupSteps: Int = 0
    /// Pad-4 random crop and horizontal flip.
    public var augment: Bool
    public var seed: UInt64
    public var threads: Int
    public var memory: MemoryMode = .reversible
    /// Images in the synthetic dataset (train; the test set has a fifth of it).
    public var syntheticCount: Int = 512

    public init(network: NetworkConfig, dataset: DatasetKind, dataPath: String, epochs: Int, maxSteps: Int? = nil,
                batchSize: Int, learningRate: Float, augment: Bool, seed: UInt64, threads: Int) {
        self.network = network
        self.dataset = dataset
        self.dataPath = dataPath
        self.epochs = epochs
        self.maxSteps = maxSteps
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.augment = augment
        self.seed = seed
        self.threads = threads
    }

    /// Checks the numbers; the network configuration is checked when it is built.
    public func validate() throws(TrainingError) {
        func bad(_ option: String, _ why: String) -> TrainingError { .invalidOption(option, why) }
        // Upper bounds keep epochs × steps per epoch (and every product with the batch size)
        // far inside Int: 10^6 epochs of 2^20 images is 2^40 images.
        for (option, value, bound) in [("--epochs", epochs, Self.epochsBound), ("--max-steps", maxSteps ?? 1, Self.stepsBound),
                                       ("--warmup-steps", warmupSteps, Self.warmupStepsBound), ("--threads", threads, Self.threadsBound),
                                       ("--synthetic-count", syntheticCount, Self.syntheticCountBound)] {
            if let why = bound.violation(option, value) { throw bad(option, String(why.dropFirst(option.count + 1))) }
        }
        guard batchSize >= 2, batchSize <= Self.batchSizeBound.upperBound else {
            throw bad("--batch-size", "must be from 2 (batch norm needs two values per channel) to \(Self.batchSizeBound.upperBound), got \(batchSize)")
        }
        guard learningRate > 0, learningRate.isFinite else { throw bad("--lr", "must be positive, got \(learningRate)") }
        guard momentum >= 0, momentum < 1 else { throw bad("--momentum", "must be in [0, 1), got \(momentum)") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw bad("--weight-decay", "must be finite and not negative, got \(weightDecay)") }
        guard smoothness >= 0, smoothness.isFinite else { throw bad("--smoothness", "must be finite and not negative, got \(smoothness)") }
    }

    public static let epochsBound = Bound(1...1_000_000, "epochs")
    public static let stepsBound = Bound(1...(1 << 40), "steps")
    public static let warmupStepsBound = Bound(0...(1 << 40), "steps")
    public static let batchSizeBound = Bound(2...65_536, "images")
    public static let threadsBound = Bound(1...256, "threads")
    public static let syntheticCountBound = Bound(2...(1 << 20), "images")

    /// The /training attributes that describe this run.
    var attributes: [String: AttributeValue] {
        var a: [String: AttributeValue] = [
            "dataset": .string(dataset.rawValue), "data": .string(dataPath), "epochs": .int(epochs),
            "batch_size": .int(batchSize), "lr": .float(learningRate), "momentum": .float(momentum),
            "weight_decay": .float(weightDecay), "smoothness": .float(smoothness), "schedule": .string(schedule.rawValue),
            "warmup_steps": .int(warmupSteps), "augment": .int(augment ? 1 : 0), "seed": .int(Int(truncatingIfNeeded: seed)),
            "memory_mode": .string(memory.rawValue), "synthetic_count": .int(syntheticCount),
        ]
        if let maxSteps { a["max_steps"] = .int(maxSteps) }
        return a
    }

    /// The options recorded in a checkpoint (for --resume), on top of its network configuration.
    static func restored(network: NetworkConfig, from a: [String: AttributeValue], threads: Int) throws(TrainingError) -> TrainingOptions {
        func string(_ k: String) throws(TrainingError) -> String {
            guard case .string(let s)? = a[k] else { throw .resume("the checkpoint's /training has no \(k) attribute") }
            return s
        }
        func int(_ k: String) throws(TrainingError) -> Int {
            guard case .int(let v)? = a[k] else { throw .resume("the checkpoint's /training has no \(k) attribute") }
            return v
        }
        func float(_ k: String) throws(TrainingError) -> Float {
            guard case .float(let v)? = a[k] else { throw .resume("the checkpoint's /training has no \(k) attribute") }
            return v
        }
        guard let dataset = DatasetKind(rawValue: try string("dataset")),
              let schedule = ScheduleKind(rawValue: try string("schedule")),
              let memory = MemoryMode(rawValue: try string("memory_mode")) else {
            throw .resume("the checkpoint's /training attributes name an unknown dataset, schedule or memory mode")
        }
        var o = TrainingOptions(network: network, dataset: dataset, dataPath: try string("data"), epochs: try int("epochs"),
                                maxSteps: a["max_steps"].flatMap { if case .int(let v) = $0 { v } else { nil } },
                                batchSize: try int("batch_size"), learningRate: try float("lr"),
                                augment: try int("augment") != 0, seed: UInt64(bitPattern: Int64(try int("seed"))), threads: threads)
        o.momentum = try float("momentum")
        o.weightDecay = try float("weight_decay")
        o.smoothness = try float("smoothness")
        o.schedule = schedule
        o.warmupSteps = try int("warmup_steps")
        o.memory = memory
        o.syntheticCount = try int("synthetic_count")
        return o
    }
}

/// What stops a training run, each with one line of explanation.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
    case invalidOption(String, String)
    case config(String)
    case data(String)
    case output(String)
    case resume(String)
    case numerics(String)

    public var description: String {
        switch self {
        case .invalidOption(let option, let why): return "\(option) \(why)"
        case .config(let s), .data(let s), .output(let s), .resume(let s), .numerics(let s): return s
        }
    }
}
