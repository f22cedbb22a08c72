// EngineContext: what every engine call carries: the compute threads, and an optional counter of
// residual-function evaluations (tests use it to prove that reversible backprop evaluates each
// block function exactly once forward and once backward), and whether the weights stay fixed
// from call to call (inference), which lets convolutions keep their transformed weights.

import Synchronization
import Tensor

public struct EngineContext: Sendable {
    public var threads: ComputeThreads
    public var counter: EvaluationCounter?
    /// The weights will be used again unchanged (inference): convolutions then keep their
    /// Winograd-transformed weights (Conv3x3.forward's weightsFixed). Network.logits sets it;
    /// training leaves it off, since its weights change every step and kept transforms would
    /// only hold memory.
    public var weightsFixed: Bool
    /// Where convolutions keep transformed weights for the other calls of a scope that shares
    /// them, e.g. the slices of one block in a training step (SlicedBackward.swift). Without
    /// it, each slice would transform the block's weights again (16% of a training step).
    public var weightCache: WinogradWeightCache?
    /// Nonzero: names the values of the parameters the calls with this context get, given the
    /// block (ParameterSet.identity and the unit, set by Network.logits): a plugin architecture
    /// passes it on per block (rs_block_call.parameters_id).
    public var parametersScope: UInt64 = 0

    public init(threads: ComputeThreads = .one, counter: EvaluationCounter? = nil, weightsFixed: Bool = false,
                weightCache: WinogradWeightCache? = nil) {
        self.threads = threads
        self.counter = counter
        self.weightsFixed = weightsFixed
        self.weightCache = weightCache
    }

    /// Whether convolutions will keep the weights' transforms (the process's cache or a scope's).
    public var keepsWeights: Bool { weightsFixed || weightCache != nil }
}

/// Counts residual-function evaluations (K-σ-Kᵀ or σ(A·+b) applications), thread-safely.
public final class EvaluationCounter: Sendable {
    private let value = Atomic<Int>(0)
    public init() {}
    public var count: Int { value.load(ordering: .relaxed) }
    public func increment(by n: Int = 1) { value.add(n, ordering: .relaxed) }
    public func reset() { value.store(0, ordering: .relaxed) }
}
