// ReversibleArchitecture: the small interface the engine drives. An architecture names its
// block parameters and, for one block at a time, runs forward, reconstructs the block's input
// from its output (the inverse, keeping what backward needs) and back-propagates. The engine
// never looks inside a block, so an architecture can live in a plugin library.

import Locking
import Tensor

/// One parameter tensor of a block: its dataset name (docs/spec/CHECKPOINT.md) and shape.
public struct ParameterSpec: Sendable, Equatable {
    public enum Role: Sendable, Equatable { case convolutionWeight, bias }
    public var name: String
    public var shape: [Int]
    public var role: Role
    public init(_ name: String, _ shape: [Int], _ role: Role) {
        self.name = name
        self.shape = shape
        self.role = role
    }
}

public protocol ReversibleArchitecture: Sendable {
    /// The name used in configurations and checkpoints.
    var name: String { get }
    /// Residual-function evaluations per block forward (Hamiltonian 2, Midpoint and Leapfrog 1).
    var functionsPerBlock: Int { get }
    /// Channel groups padded separately at a transition (Hamiltonian pads Y and Z: 2).
    var transitionGroups: Int { get }

    /// The parameters of one block in a unit of width `width`, in a fixed order.
    func blockParameters(width: Int) -> [ParameterSpec]
    /// Why these unit widths cannot be built, or nil when they can.
    func widthProblem(_ unitChannels: [Int]) -> String?
    /// Forward FLOPs of one block at width `width` on one image of `pixels` = H·W positions.
    func blockFlops(width: Int, pixels: Int) -> Double

    /// The block state for a unit input x (N, C, H, W), and the unit output for a final state.
    func enter(_ x: Tensor, _ ctx: EngineContext) throws(TensorError) -> BlockState
    func exit(_ state: BlockState, _ ctx: EngineContext) throws(TensorError) -> Tensor
    /// Gradients through `exit` (given the final state, for its shapes) and through `enter`.
    func exitGradient(_ dx: Tensor, finalState: BlockState, _ ctx: EngineContext) throws(TensorError) -> BlockState
    func enterGradient(_ dState: BlockState, _ ctx: EngineContext) throws(TensorError) -> Tensor

    /// Block j (zero-based within its unit) applied to `state`; also returns the tape for backward.
    func forward(block j: Int, parameters p: [Tensor], state: BlockState, h: Float,
                 _ ctx: EngineContext) throws(TensorError) -> (BlockState, BlockTape)
    /// The block's input from its output, evaluating each residual function once; the tape is the
    /// one `forward` would have kept, so backward can follow without re-running the block.
    func reconstruct(block j: Int, parameters p: [Tensor], output: BlockState, h: Float,
                     _ ctx: EngineContext) throws(TensorError) -> (BlockState, BlockTape)
    /// Back-propagates through block j: returns the gradient w.r.t. its input state and
    /// accumulates the parameter gradients into `gradients` (same order as `parameters`).
    func backward(block j: Int, parameters p: [Tensor], tape: BlockTape, outputGradient: BlockState,
                  gradients: inout [Tensor], h: Float, _ ctx: EngineContext) throws(TensorError) -> BlockState
    /// Blocks `blocks` in order from `state`, keeping no tapes (inference and reversible
    /// training); `parameters[i]` are those of block blocks.lowerBound + i. Returns the last
    /// block's output. The default is forwardEachBlock; a plugin runs them in one call.
    func forward(blocks: Range<Int>, parameters: [[Tensor]], state: BlockState, h: Float,
                 _ ctx: EngineContext) throws(TensorError) -> BlockState
    /// Inference through a whole unit from its input x: enter, forward(blocks:), exit (the
    /// default); a plugin does the three in one call, so its input and output cross once.
    func forwardUnit(blocks: Range<Int>, parameters: [[Tensor]], input x: Tensor, h: Float,
                     _ ctx: EngineContext) throws(TensorError) -> Tensor
}

extension ReversibleArchitecture {
    public func forward(blocks: Range<Int>, parameters: [[Tensor]], state: BlockState, h: Float,
                        _ ctx: EngineContext) throws(TensorError) -> BlockState {
        try forwardEachBlock(blocks: blocks, parameters: parameters, state: state, h: h, ctx)
    }

    public func forwardUnit(blocks: Range<Int>, parameters: [[Tensor]], input x: Tensor, h: Float,
                            _ ctx: EngineContext) throws(TensorError) -> Tensor {
        try exit(forward(blocks: blocks, parameters: parameters, state: enter(x, ctx), h: h, ctx), ctx)
    }

    /// enter, exit and their gradients outside a network (tests, tools).
    public func enter(_ x: Tensor) throws(TensorError) -> BlockState { try enter(x, EngineContext()) }
    public func exit(_ state: BlockState) throws(TensorError) -> Tensor { try exit(state, EngineContext()) }
    public func exitGradient(_ dx: Tensor, finalState: BlockState) throws(TensorError) -> BlockState {
        try exitGradient(dx, finalState: finalState, EngineContext())
    }
    public func enterGradient(_ dState: BlockState) throws(TensorError) -> Tensor { try enterGradient(dState, EngineContext()) }

    /// forward(blocks:) as one forward(block:) call per block, tapes dropped; on a batch big
    /// enough, on slices of it, one worker per slice (BatchSlicing.swift).
    public func forwardEachBlock(blocks: Range<Int>, parameters: [[Tensor]], state: BlockState, h: Float,
                                 _ ctx: EngineContext) throws(TensorError) -> BlockState {
        try forward(steps: blocks.enumerated().map { i, j in BlockStep(block: j, context: ctx) { parameters[i] } },
                    state: state, h: h)
    }

    /// The block's input from its output (inference-time inverse).
    public func inverse(block j: Int, parameters p: [Tensor], output: BlockState, h: Float,
                        _ ctx: EngineContext) throws(TensorError) -> BlockState {
        try reconstruct(block: j, parameters: p, output: output, h: h, ctx).0
    }

    /// Checks a state has the expected number of parts.
    func expectParts(_ state: BlockState, _ count: Int, block j: Int, _ what: String) throws(TensorError) {
        guard state.parts.count == count else {
            throw .invalidArgument(op: "\(name) block \(j)", detail: "\(what) must have \(count) part(s), got \(state.parts.count)")
        }
    }

    /// Checks the parameter list against the architecture's specification for width `width`.
    func expectParameters(_ p: [Tensor], width: Int, block j: Int) throws(TensorError) {
        let specs = blockParameters(width: width)
        guard p.count == specs.count else {
            throw .invalidArgument(op: "\(name) block \(j)", detail: "expected \(specs.count) parameters, got \(p.count)")
        }
        for (t, spec) in zip(p, specs) where t.shape != spec.shape {
            throw .shapeMismatch(op: "\(name) block \(j)", detail: "\(spec.name) must be \(spec.shape) for width \(width), got \(t.shape)")
        }
    }
}

/// The architectures by name: plugins registered at run time first (a plugin named like a
/// built-in replaces it), then the built-in ones.
public enum Architectures {
    public static let builtIn: [any ReversibleArchitecture] = [Hamiltonian(), Midpoint(), Leapfrog()]
    private static let registered = Locked<[String: any ReversibleArchitecture]>([:])

    public static func named(_ name: String) throws(ConfigError) -> any ReversibleArchitecture {
        if let plugin = registered.withLock({ $0[name] }) { return plugin }
        guard let a = builtIn.first(where: { $0.name == name }) else {
            throw .unknownArchitecture(name, known: known)
        }
        return a
    }

    /// Every name `named` resolves, sorted.
    public static var known: [String] { Set(builtIn.map(\.name)).union(registered.withLock { $0.keys }).sorted() }

    /// Makes `architecture` what its name resolves to (replacing an earlier registration).
    public static func register(_ architecture: any ReversibleArchitecture) {
        registered.withLock { $0[architecture.name] = architecture }
    }

    /// Removes a registration (the built-in of that name, if any, resolves again).
    public static func unregister(_ name: String) {
        _ = registered.withLock { $0.removeValue(forKey: name) }
    }
}
