// SmoothnessRegularizer: the paper's R = α·h·Σ_j Σ_k ‖(K_{j+1,k} − K_{j,k}) / h‖²_F over
// consecutive blocks of each unit (docs/spec/NETWORKS.md §3), its value and its gradient.
// With D_j = K_{j+1} − K_j:  R = (α/h)·Σ_j ‖D_j‖²,  ∂R/∂K_j = (2α/h)·(D_{j−1} − D_j).

import RevNet
import Tensor

public enum SmoothnessRegularizer {
    /// Adds ∂R/∂K to `gradients` for every block convolution weight and returns R.
    public static func apply(_ network: Network, alpha: Float, gradients: inout ParameterSet) -> Float {
        guard alpha > 0 else { return 0 }
        let c = network.config, h = c.h
        var value: Double = 0
        for u in 0..<c.units {
            let names = network.architecture.blockParameters(width: c.unitChannels[u])
                .filter { $0.role == .convolutionWeight }.map(\.name)
            for name in names {
                let positions = (0..<c.unitBlocks[u]).map { network.weights.position(of: "units/\(u)/blocks/\($0)/\(name)")! }
                for j in 0..<(positions.count - 1) {
                    let a = network.weights.tensors[positions[j]], b = network.weights.tensors[positions[j + 1]]
                    let scale = 2 * alpha / h
                    var sum: Double = 0
                    // D = K_{j+1} − K_j: dR/dK_{j+1} += scale·D, dR/dK_j −= scale·D.
                    gradients.tensors[positions[j + 1]].data.withUnsafeMutableBufferPointer { gNext in
                        for i in gNext.indices {
                            let d = b.data[i] - a.data[i]
                            sum += Double(d) * Double(d)
                            gNext[i] += scale * d
                        }
                    }
                    gradients.tensors[positions[j]].data.withUnsafeMutableBufferPointer { gThis in
                        for i in gThis.indices { gThis[i] -= scale * (b.data[i] - a.data[i]) }
                    }
                    value += Double(alpha / h) * sum
                }
            }
        }
        return Float(value)
    }
}
