// TrainingCheckpoint: a training run's checkpoint: the network with its optimiser's momentum
// buffers, step and epoch (ModelCheckpoint writes the rest).

import Formats
import NetworkCheckpoint
import RevNet

extension ModelCheckpoint {
    /// The checkpoint of `network` mid-training: `optimizer`'s momentum buffers (trainable
    /// tensors only), its step and epoch, and optionally the training record.
    public static func checkpoint(_ network: Network, labels: [String], mean: [Float], std: [Float],
                                  optimizer o: (sgd: SGD, step: Int, epoch: Int), training: TrainingRecord? = nil) -> Checkpoint {
        let state = OptimizerState(buffers: zip(o.sgd.velocity.names, o.sgd.velocity.tensors)
                                       .filter { Network.isTrainable($0.0) }.map { NamedTensor($0, $1) },
                                   step: o.step, epoch: o.epoch, learningRate: o.sgd.learningRate)
        return checkpoint(network, labels: labels, mean: mean, std: std, optimizerState: state, training: training)
    }
}
