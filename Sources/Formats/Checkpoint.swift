// Checkpoint: the contents of a checkpoint file, format v1 (docs/spec/CHECKPOINT.md), as plain values:
// header and configuration, labels, weights by name, and the optional optimiser state and
// training record. Formats knows tensors, not networks: which weights an architecture needs is
// supplied by the caller when reading (see CheckpointFile.read).

import Tensor

public struct CheckpointConfig: Sendable, Equatable, Codable {
    public var architecture: String
    /// [C_in, H, W]
    public var inputShape: [Int]
    public var numClasses: Int
    public var unitChannels: [Int]
    public var unitBlocks: [Int]
    public var h: Float
    public var bnEps: Float
    /// Per input channel, applied after scaling pixels to [0, 1]: (x − mean) / std.
    public var mean: [Float]
    public var std: [Float]

    public init(architecture: String, inputShape: [Int], numClasses: Int, unitChannels: [Int],
                unitBlocks: [Int], h: Float, bnEps: Float = 1e-5, mean: [Float], std: [Float]) {
        self.architecture = architecture
        self.inputShape = inputShape
        self.numClasses = numClasses
        self.unitChannels = unitChannels
        self.unitBlocks = unitBlocks
        self.h = h
        self.bnEps = bnEps
        self.mean = mean
        self.std = std
    }
}

public struct NamedTensor: Sendable, Equatable {
    public var name: String
    public var tensor: Tensor
    public init(_ name: String, _ tensor: Tensor) {
        self.name = name
        self.tensor = tensor
    }
}

/// What `revserve train` needs to resume exactly (the `/optimizer` group).
public struct OptimizerState: Sendable, Equatable {
    /// Momentum buffers under the weights' names.
    public var buffers: [NamedTensor]
    public var step: Int
    public var epoch: Int
    public var learningRate: Float
    public init(buffers: [NamedTensor], step: Int, epoch: Int, learningRate: Float) {
        self.buffers = buffers
        self.step = step
        self.epoch = epoch
        self.learningRate = learningRate
    }
}

/// The `/training` group: attributes (dataset, seed, epochs, …) and per-epoch history series.
public struct TrainingRecord: Sendable, Equatable, Codable {
    public var attributes: [String: AttributeValue]
    /// Series such as loss, train_accuracy, test_accuracy, seconds: one value per epoch.
    public var history: [String: [Float]]
    public init(attributes: [String: AttributeValue] = [:], history: [String: [Float]] = [:]) {
        self.attributes = attributes
        self.history = history
    }
}

public struct Checkpoint: Sendable, Equatable {
    public static let format = "revserve.checkpoint"
    public static let formatVersion = 1

    public var config: CheckpointConfig
    /// Class names in output order; `config.numClasses` of them.
    public var labels: [String]
    /// Datasets under /weights, by relative name (e.g. "units/0/blocks/3/K1").
    public var weights: [NamedTensor]
    public var optimizer: OptimizerState?
    public var training: TrainingRecord?

    public init(config: CheckpointConfig, labels: [String], weights: [NamedTensor],
                optimizer: OptimizerState? = nil, training: TrainingRecord? = nil) {
        self.config = config
        self.labels = labels
        self.weights = weights
        self.optimizer = optimizer
        self.training = training
    }
}
