// BlockState and BlockTape: what flows between reversible blocks, and what a block keeps for its
// backward pass.
//
// A state is a short list of tensors whose meaning the architecture defines:
// - Hamiltonian: [Y, Z], the two halves of the unit's channels;
// - Midpoint, Leapfrog (two-step schemes): [Y₀] entering a unit, then [Y_{j−1}, Y_j] after block j.
// Keeping the previous state in the list is what makes a two-step scheme's start-up step
// invertible inside the engine: block 1's inverse just drops Y₁.

import Tensor

public struct BlockState: Sendable {
    public var parts: [Tensor]
    public init(_ parts: [Tensor]) { self.parts = parts }

    /// Bytes of float data held.
    public var bytes: Int { parts.reduce(0) { $0 + $1.count * MemoryLayout<Float>.size } }
}

/// The activations one block keeps between its forward (or reconstruction) and its backward:
/// for every residual function it evaluated, that function's input and activation. A plugin
/// architecture keeps them on its side of the C ABI and puts a handle in `external`.
public struct BlockTape: Sendable {
    public var tensors: [Tensor]
    public var external: (any ExternalTape)?
    public init(_ tensors: [Tensor]) { self.tensors = tensors }
    public init(external: any ExternalTape) {
        self.tensors = []
        self.external = external
    }

    public var bytes: Int { tensors.reduce(0) { $0 + $1.count * MemoryLayout<Float>.size } + (external?.bytes ?? 0) }
}

/// A tape held outside the engine (by a plugin); freed when the last copy goes.
public protocol ExternalTape: AnyObject, Sendable {
    var bytes: Int { get }
}
