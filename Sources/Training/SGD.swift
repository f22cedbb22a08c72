// SGD: stochastic gradient descent with momentum and weight decay, PyTorch's formulation:
//   g ← ∇ + wd·w (conv and FC weights only),  v ← μ·v + g,  w ← w − lr·v.
// The momentum buffers share the weights' layout, so a step is one flat loop per tensor.

import RevNet
import Tensor

public struct SGD: Sendable {
    public var learningRate: Float
    public var momentum: Float
    public var weightDecay: Float
    /// Momentum buffers, index-aligned with the network's weights.
    public private(set) var velocity: ParameterSet
    /// Which tensors get weight decay (docs/spec/NETWORKS.md §3: all conv and FC weights).
    private let decays: [Bool]
    private let trainable: [Bool]

    public init(for network: Network, learningRate: Float, momentum: Float = 0.9, weightDecay: Float = 2e-4) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        velocity = network.weights.zeros()
        trainable = network.weights.names.map(Network.isTrainable)
        decays = network.weights.names.map(SGD.isDecayed)
    }

    /// Conv weights (stem/conv/weight and every block's K, K1, K2) and the FC weight; not biases or
    /// batch-norm parameters.
    public static func isDecayed(_ name: String) -> Bool {
        let leaf = name.split(separator: "/").last.map(String.init) ?? name
        return name == "stem/conv/weight" || name == "head/fc/weight" || (name.hasPrefix("units/") && leaf.hasPrefix("K"))
    }

    /// Restores a momentum buffer (when resuming); the shape must match.
    public mutating func setVelocity(at position: Int, _ tensor: Tensor) {
        precondition(velocity.tensors[position].shape == tensor.shape, "momentum buffer shape")
        velocity.tensors[position] = tensor
    }

    /// Bytes of optimiser state.
    public var stateBytes: Int { velocity.bytes }

    /// One update of `weights` from `gradients` (same layout).
    public mutating func step(_ weights: inout ParameterSet, gradients: ParameterSet) {
        let (lr, mu, wd) = (learningRate, momentum, weightDecay)
        for k in 0..<weights.count where trainable[k] {
            let decay = decays[k] ? wd : 0
            weights.tensors[k].data.withUnsafeMutableBufferPointer { w in
                velocity.tensors[k].data.withUnsafeMutableBufferPointer { v in
                    gradients.tensors[k].data.withUnsafeBufferPointer { g in
                        for i in w.indices {
                            v[i] = mu * v[i] + g[i] + decay * w[i]
                            w[i] -= lr * v[i]
                        }
                    }
                }
            }
        }
    }
}
