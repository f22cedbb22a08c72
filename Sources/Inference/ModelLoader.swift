// ModelLoader: turns one version directory into a ready instance, or says why not: the
// checkpoint is read and validated (docs/spec/CHECKPOINT.md: shapes, and every weight finite), its
// architecture must match config.json, a labels override must fit, a warm-up batch of the largest
// batch size must give finite logits, and a reversibility self-test (every unit forward then
// inverse on a probe batch) must reconstruct its input within the tolerance. Blocking: runs on
// a load slot's thread (RepositoryManager), never the thread that runs batches.

import Bounds
import Formats
import RevNet
import Tensor

public enum ModelLoadError: Error, Equatable, CustomStringConvertible {
    case checkpoint(String)
    case wrongArchitecture(file: String, expected: String, found: String)
    case labels(file: String, count: Int, classes: Int)
    case warmup(String)
    /// The largest batch would hold more input values than BatchingConfiguration.maxBatchInputValues.
    case batchTooLarge(maxBatch: Int, inputSize: Int, fromConfig: Bool)
    case notReversible(error: Float, tolerance: Float)

    public var description: String {
        switch self {
        case .checkpoint(let s): return s
        case .wrongArchitecture(let file, let expected, let found):
            return "\(file): the checkpoint is a \(found) network but config.json requires \(expected)"
        case .labels(let file, let count, let classes):
            return "config.json gives \(count) labels but \(file) has \(classes) classes"
        case .warmup(let s): return "warm-up failed: \(s)"
        case .batchTooLarge(let maxBatch, let inputSize, let fromConfig):
            return "a batch of \(maxBatch) images of \(inputSize) values would hold more than \(BatchingConfiguration.maxBatchInputValues) input values; "
                + (fromConfig ? "lower max_batch_size in config.json" : "lower the server's --max-batch (or set max_batch_size in config.json)")
        case .notReversible(let error, let tolerance):
            return "reversibility self-test failed: inverse(forward(x)) differs from x by \(error) (relative), above the tolerance \(tolerance) (reversibility_tolerance in config.json)"
        }
    }
}

public struct LoadSettings: Sendable {
    public var batching: BatchingConfiguration
    public var threads: ComputeThreads
    /// Reads each checkpoint in a child process (the daemon sets it; nil: in-process).
    public var reader: CheckpointReader?
    public init(batching: BatchingConfiguration, threads: ComputeThreads, reader: CheckpointReader? = nil) {
        self.batching = batching
        self.threads = threads
        self.reader = reader
    }

    /// Kernels on `threadCount` threads (nil: one per online core).
    public init(batching: BatchingConfiguration, threadCount: Int?, reader: CheckpointReader? = nil) {
        self.init(batching: batching, threads: threadCount.map(ComputeThreads.init) ?? .all, reader: reader)
    }

    /// The daemon's batching with config.json's overrides.
    public func batching(for config: ModelConfig) -> BatchingConfiguration {
        BatchingConfiguration(maxBatch: config.maxBatchSize ?? batching.maxBatch,
                              maxQueueDelay: config.maxQueueDelayMicroseconds.flatMap { Checked.nanoseconds($0, scale: 1000) } ?? batching.maxQueueDelay,
                              maxQueue: config.maxQueue ?? batching.maxQueue)
    }
}

public enum ModelLoader {
    /// A checked, warmed model for `file`, with its self-test error. The warm-up and self-test
    /// compute on `loadThreads` (the served model runs on `settings.threads`). Blocking.
    public static func load(name: String, version: Int, file: VersionFile, config: ModelConfig,
                            settings: LoadSettings, loadThreads: ComputeThreads? = nil) throws(ModelLoadError) -> (CheckpointModel, Float) {
        let loadThreads = loadThreads ?? settings.threads
        let model: CheckpointModel
        do {
            model = try CheckpointModel(name: name, version: version, path: file.path, threads: settings.threads, labels: config.labels,
                                        reader: settings.reader)
        } catch {
            throw .checkpoint(error.description)
        }
        let network = model.network
        if let expected = config.architecture, expected != network.config.architecture {
            throw .wrongArchitecture(file: file.path, expected: expected, found: network.config.architecture)
        }
        if let labels = config.labels, labels.count != network.config.numClasses {
            throw .labels(file: file.path, count: labels.count, classes: network.config.numClasses)
        }
        let d = model.descriptor
        // Warm-up: a full batch, so that the first requests find buffers sized for the largest one.
        let batch = settings.batching(for: config).maxBatch
        guard let values = Checked.product(batch, d.inputSize), values <= BatchingConfiguration.maxBatchInputValues else {
            throw .batchTooLarge(maxBatch: batch, inputSize: d.inputSize, fromConfig: config.maxBatchSize != nil)
        }
        do {
            let logits = try model.execute([Float](repeating: 0, count: values), count: batch, threads: loadThreads)
            guard logits.allSatisfy(\.isFinite) else { throw ModelLoadError.warmup("the logits of a zero batch are not finite") }
        } catch let e as ModelLoadError {
            throw e
        } catch {
            throw .warmup("\(error)")
        }
        let reversibility: Float
        do {
            reversibility = try network.reversibilityError(images: 2, seed: 7, EngineContext(threads: loadThreads))
        } catch {
            throw .warmup("self-test: \(error)")
        }
        guard reversibility <= config.reversibilityTolerance else {
            throw .notReversible(error: reversibility, tolerance: config.reversibilityTolerance)
        }
        return (model, reversibility)
    }
}
