// InferenceModel: the model interface the server uses: what a model takes and answers
// (its descriptor) and one call that runs a batch. Checkpoint-backed networks implement it,
// whether their architecture is built in or comes from a plugin library.

import Formats
import NetworkCheckpoint
import PluginHost
import RevNet
import Tensor

/// What the server needs to know about a model to check requests and describe it.
public struct ModelDescriptor: Sendable, Equatable {
    public var name: String
    public var version: Int
    /// The backend that runs it: "revserve-<architecture>".
    public var platform: String { "revserve-" + architecture }
    /// The architecture's name, and the plugin library that provides it (nil: built in).
    public var architecture: String
    public var plugin: String?
    /// [C, H, W] of one preprocessed input.
    public var inputShape: [Int]
    public var labels: [String]
    public var preprocessor: ImagePreprocessor

    public var classes: Int { labels.count }
    /// Floats in one preprocessed input.
    public var inputSize: Int { inputShape.reduce(1, *) }

    public init(name: String, version: Int, architecture: String, plugin: String? = nil, inputShape: [Int], labels: [String],
                preprocessor: ImagePreprocessor) {
        self.name = name
        self.version = version
        self.architecture = architecture
        self.plugin = plugin
        self.inputShape = inputShape
        self.labels = labels
        self.preprocessor = preprocessor
    }
}

public protocol InferenceModel: Sendable {
    var descriptor: ModelDescriptor { get }
    /// Logits (n · classes floats) for `n` preprocessed inputs (n · inputSize floats). Blocking:
    /// called only on a compute thread.
    func execute(_ inputs: [Float], count n: Int) throws -> [Float]
}

/// A reversible network loaded from an HDF5 checkpoint (docs/spec/CHECKPOINT.md).
public struct CheckpointModel: InferenceModel {
    public let descriptor: ModelDescriptor
    public let network: Network
    private let context: EngineContext

    /// Loads `path` as version `version` of model `name` (through `reader`'s child process when
    /// given), running kernels on `threads` threads; `labels` replaces the checkpoint's.
    public init(name: String, version: Int, path: String, threads: ComputeThreads, labels: [String]? = nil,
                reader: CheckpointReader? = nil) throws(FormatError) {
        let loaded = try ModelCheckpoint.load(path, reader: reader)
        // The reading child validated these, but the child is the process a damaged file may
        // have derailed: what the serving path indexes by is checked again here.
        let config = loaded.network.config
        guard loaded.labels.count == config.numClasses else {
            throw .checkpoint(file: path, path: "/labels", problem: "\(loaded.labels.count) labels for \(config.numClasses) classes")
        }
        guard loaded.preprocessor.inputShape == config.inputShape, loaded.preprocessor.mean.count == config.inputShape[0],
              loaded.preprocessor.std.count == config.inputShape[0], loaded.preprocessor.std.allSatisfy({ $0.isFinite && $0 > 0 }),
              loaded.preprocessor.mean.allSatisfy(\.isFinite) else {
            throw .checkpoint(file: path, path: "/preprocessing", problem: "mean and std must have one finite value per input channel (std positive)")
        }
        network = loaded.network
        context = EngineContext(threads: threads)
        descriptor = ModelDescriptor(name: name, version: version, architecture: network.config.architecture,
                                     plugin: (network.architecture as? PluginArchitecture)?.library.source, inputShape: network.config.inputShape, labels: labels ?? loaded.labels,
                                     preprocessor: loaded.preprocessor)
    }

    public func execute(_ inputs: [Float], count n: Int) throws -> [Float] {
        try execute(inputs, count: n, context: context)
    }

    /// `execute` on `threads` threads instead of the model's own (a load's warm-up).
    public func execute(_ inputs: [Float], count n: Int, threads: ComputeThreads) throws -> [Float] {
        try execute(inputs, count: n, context: threads == context.threads ? context : EngineContext(threads: threads))
    }

    private func execute(_ inputs: [Float], count n: Int, context: EngineContext) throws -> [Float] {
        let x = try Tensor(shape: [n] + descriptor.inputShape, data: inputs)
        let logits = try network.logits(x, context).data
        // A plugin decides the shapes it returns; the batcher slices this array per request.
        guard logits.count == n * descriptor.classes else {
            throw ModelOutputError(expected: n * descriptor.classes, got: logits.count, model: descriptor.name)
        }
        return logits
    }
}

/// A model returned logits of the wrong size (a plugin's bug): the batch fails, the daemon stays.
public struct ModelOutputError: Error, CustomStringConvertible {
    public var expected: Int, got: Int, model: String
    public var description: String { "model '\(model)' returned \(got) logits where \(expected) were expected" }
}
