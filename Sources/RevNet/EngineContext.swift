// EngineContext: what every engine call carries: the compute threads; an optional counter of
// residual-function evaluations (tests use it to prove that reversible backprop evaluates each
// block function exactly once forward and once backward); the kernels' workspace (kept weight
// transforms and scratch); and, when the call is for a network, that network's state, the unit
// and the generation of its parameters, which a plugin architecture needs for its model handle.

import Synchronization
import Tensor

public struct EngineContext: Sendable {
    public var threads: ComputeThreads
    public var counter: EvaluationCounter?
    /// Where convolutions keep transformed weights and find scratch: a loaded model's own
    /// (inference keeps its weights' transforms), or a scope that shares them, e.g. the slices
    /// of one block in a training step (SlicedBackward.swift). Without one, each call
    /// transforms its weights again.
    public var workspace: KernelWorkspace
    /// The network the calls belong to (Network.state): a plugin architecture keeps its model
    /// handle there. Nil for calls outside a network (tests, tools).
    public var network: NetworkState?
    /// The unit the calls belong to, within `network`.
    public var unit = 0
    /// Names the values of the parameters the calls pass, per (unit, block): the same number
    /// means the same values (ParameterSet.identity); 0 promises nothing.
    public var parametersGeneration: UInt64 = 0

    public init(threads: ComputeThreads = .one, counter: EvaluationCounter? = nil, workspace: KernelWorkspace = .unowned) {
        self.threads = threads
        self.counter = counter
        self.workspace = workspace
    }

    /// Whether convolutions keep the weights' transforms between calls.
    public var keepsWeights: Bool { workspace.weights != nil }
}

/// Counts residual-function evaluations (K-σ-Kᵀ or σ(A·+b) applications), thread-safely.
public final class EvaluationCounter: Sendable {
    private let value = Atomic<Int>(0)
    public init() {}
    public var count: Int { value.load(ordering: .relaxed) }
    public func increment(by n: Int = 1) { value.add(n, ordering: .relaxed) }
    public func reset() { value.store(0, ordering: .relaxed) }
}
