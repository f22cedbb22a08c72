// ModelCheckpoint: networks to and from checkpoint files: the glue between RevNet's Network
// and Formats' Checkpoint (which knows tensors, not networks), for Inference and Training alike.

import Formats
import RevNet
import Tensor

/// A network read from a checkpoint, with what it needs to classify images.
public struct LoadedModel: Sendable {
    public var network: Network
    public var labels: [String]
    public var preprocessor: ImagePreprocessor
    /// The file's full contents (optimiser state and training record included).
    public var checkpoint: Checkpoint
}

public enum ModelCheckpoint {
    /// The /weights layout for a checkpoint's configuration (CheckpointFile.Layout).
    public static let layout: CheckpointFile.Layout = { config in
        do throws(ConfigError) {
            return try Network.weightLayout(for: networkConfig(config))
        } catch .invalid(let field, let reason) {
            // Config fields carry the checkpoint's attribute names (bn_eps, unit_channels, …).
            throw CheckpointFile.LayoutError(path: "/config", problem: "attribute \(field): \(reason)")
        } catch {
            throw error
        }
    }

    public static func networkConfig(_ c: CheckpointConfig) -> NetworkConfig {
        NetworkConfig(architecture: c.architecture, inputShape: c.inputShape, numClasses: c.numClasses,
                      unitChannels: c.unitChannels, unitBlocks: c.unitBlocks, h: c.h, bnEps: c.bnEps)
    }

    /// Reads, validates and builds the network in `path`: through `reader`'s child process when
    /// given (libhdf5 then never parses the file in this process), else in-process.
    public static func load(_ path: String, reader: CheckpointReader? = nil) throws(FormatError) -> LoadedModel {
        let checkpoint: Checkpoint
        if let reader { checkpoint = try reader.read(path) } else { checkpoint = try CheckpointFile.read(path, layout: layout) }
        let config = networkConfig(checkpoint.config)
        var weights = ParameterSet()
        for w in checkpoint.weights { weights.append(w.name, w.tensor) }
        let network: Network
        do {
            network = try Network(config: config, architecture: Architectures.named(config.architecture), weights: weights)
        } catch {
            throw .checkpoint(file: path, path: "/config", problem: error.description)
        }
        let preprocessor = ImagePreprocessor(inputShape: checkpoint.config.inputShape,
                                             mean: checkpoint.config.mean, std: checkpoint.config.std)
        return LoadedModel(network: network, labels: checkpoint.labels, preprocessor: preprocessor, checkpoint: checkpoint)
    }

    /// The checkpoint for a network with its labels and normalisation, and optionally the
    /// optimiser's state and a training record.
    public static func checkpoint(_ network: Network, labels: [String], mean: [Float], std: [Float],
                                  optimizerState: OptimizerState? = nil, training: TrainingRecord? = nil) -> Checkpoint {
        let c = network.config
        let config = CheckpointConfig(architecture: c.architecture, inputShape: c.inputShape, numClasses: c.numClasses,
                                      unitChannels: c.unitChannels, unitBlocks: c.unitBlocks, h: c.h, bnEps: c.bnEps,
                                      mean: mean, std: std)
        let weights = zip(network.weights.names, network.weights.tensors).map { NamedTensor($0, $1) }
        return Checkpoint(config: config, labels: labels, weights: weights, optimizer: optimizerState, training: training)
    }
}
