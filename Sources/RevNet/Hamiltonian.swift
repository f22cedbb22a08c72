// Hamiltonian: the Hamiltonian reversible block (docs/spec/NETWORKS.md §2), forward, reconstruction and
// backward side by side. State [Y, Z] = the two halves of the unit's C channels.
//
//   forward:  Y ← Y + h·K1ᵀσ(K1 Z + b1);  Z ← Z − h·K2ᵀσ(K2 Y + b2)   (with the new Y)
//   inverse:  Z ← Z + h·K2ᵀσ(K2 Y + b2);  Y ← Y − h·K1ᵀσ(K1 Z + b1)
//
// Parameters, in order: K1, K2 (C/2, C/2, 3, 3); b1, b2 (C/2). Tape: [Z, a1, Y', a2], the inputs
// and activations of f1 (at Z) and f2 (at the updated Y').

import Tensor

public struct Hamiltonian: ReversibleArchitecture {
    public init() {}
    public var name: String { "hamiltonian" }
    public var functionsPerBlock: Int { 2 }
    public var transitionGroups: Int { 2 }

    public func blockParameters(width: Int) -> [ParameterSpec] {
        let c = width / 2
        return [ParameterSpec("K1", [c, c, 3, 3], .convolutionWeight), ParameterSpec("K2", [c, c, 3, 3], .convolutionWeight),
                ParameterSpec("b1", [c], .bias), ParameterSpec("b2", [c], .bias)]
    }

    public func widthProblem(_ unitChannels: [Int]) -> String? {
        if let u = unitChannels.firstIndex(where: { $0 % 2 != 0 }) {
            return "unit \(u) has width \(unitChannels[u]); a Hamiltonian unit splits its channels into two equal halves Y and Z, so the width must be even"
        }
        for u in 1..<unitChannels.count where (unitChannels[u] - unitChannels[u - 1]) % 4 != 0 {
            return "widths \(unitChannels[u - 1]) → \(unitChannels[u]) differ by \(unitChannels[u] - unitChannels[u - 1]); the Hamiltonian transition pads each half symmetrically, so the difference must be divisible by 4"
        }
        return nil
    }

    public func blockFlops(width: Int, pixels: Int) -> Double {
        let c = Double(width / 2)
        return 4 * 2 * c * c * 9 * Double(pixels)   // K1, K1ᵀ, K2, K2ᵀ
    }

    public func enter(_ x: Tensor, _ ctx: EngineContext) throws(TensorError) -> BlockState {
        let c = x.rank == 4 ? x.shape[1] : 0
        guard c % 2 == 0 else {
            throw .shapeMismatch(op: "hamiltonian unit", detail: "input \(x.shape) needs an even channel count")
        }
        return BlockState([try x.channels(0..<(c / 2)), try x.channels((c / 2)..<c)])
    }

    public func exit(_ state: BlockState, _ ctx: EngineContext) throws(TensorError) -> Tensor {
        try expectParts(state, 2, block: -1, "unit state")
        return try Tensor.concatenatingChannels(state.parts)
    }

    public func exitGradient(_ dx: Tensor, finalState: BlockState, _ ctx: EngineContext) throws(TensorError) -> BlockState {
        try enter(dx, ctx)
    }

    public func enterGradient(_ dState: BlockState, _ ctx: EngineContext) throws(TensorError) -> Tensor {
        try exit(dState, ctx)
    }

    public func forward(block j: Int, parameters p: [Tensor], state: BlockState, h: Float,
                        _ ctx: EngineContext) throws(TensorError) -> (BlockState, BlockTape) {
        try expectParts(state, 2, block: j, "input state")
        try expectParameters(p, width: 2 * state.parts[0].shape[1], block: j)
        let (y, z) = (state.parts[0], state.parts[1])
        let (f1, t1) = try SymmetricResidual.evaluate(z, weight: p[0], bias: p[2], ctx)
        let y1 = try combine(h, f1, 1, y)
        let (f2, t2) = try SymmetricResidual.evaluate(y1, weight: p[1], bias: p[3], ctx)
        let z1 = try combine(-h, f2, 1, z)
        return (BlockState([y1, z1]), BlockTape(t1 + t2))
    }

    public func reconstruct(block j: Int, parameters p: [Tensor], output: BlockState, h: Float,
                            _ ctx: EngineContext) throws(TensorError) -> (BlockState, BlockTape) {
        try expectParts(output, 2, block: j, "output state")
        try expectParameters(p, width: 2 * output.parts[0].shape[1], block: j)
        let (y1, z1) = (output.parts[0], output.parts[1])
        let (f2, t2) = try SymmetricResidual.evaluate(y1, weight: p[1], bias: p[3], ctx)
        let z = try combine(h, f2, 1, z1)
        let (f1, t1) = try SymmetricResidual.evaluate(z, weight: p[0], bias: p[2], ctx)
        let y = try combine(-h, f1, 1, y1)
        return (BlockState([y, z]), BlockTape(t1 + t2))
    }

    public func backward(block j: Int, parameters p: [Tensor], tape: BlockTape, outputGradient: BlockState,
                         gradients g: inout [Tensor], h: Float, _ ctx: EngineContext) throws(TensorError) -> BlockState {
        try expectParts(outputGradient, 2, block: j, "output gradient")
        let (dy1, dz1) = (outputGradient.parts[0], outputGradient.parts[1])
        // Z' = Z − h·f2(Y'): Z passes dZ' through; Y' receives J_f2ᵀ(−h·dZ').
        let v2 = dz1.scaled(by: -h)
        let dyFromF2 = try g.withPair(1, 3) { dK2, db2 throws(TensorError) in
            try SymmetricResidual.vjp(v2, tape: tape.tensors[2...], weight: p[1], dK: &dK2, db: &db2, ctx)
        }
        let dy = try combine(1, dy1, 1, dyFromF2)
        // Y' = Y + h·f1(Z): Y passes dY through; Z receives J_f1ᵀ(h·dY).
        let v1 = dy.scaled(by: h)
        let dzFromF1 = try g.withPair(0, 2) { dK1, db1 throws(TensorError) in
            try SymmetricResidual.vjp(v1, tape: tape.tensors[0...], weight: p[0], dK: &dK1, db: &db1, ctx)
        }
        return BlockState([dy, try combine(1, dz1, 1, dzFromF1)])
    }
}
