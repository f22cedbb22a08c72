// KernelWorkspace: what the kernels keep between the calls of one owner (a loaded model, one
// block of a training step): the Winograd transforms of its weights, found by content, and a
// free list of scratch buffers sized for its shapes. The owner holds the workspace and frees
// it by letting go, so retiring one model frees exactly its memory and no other model's.

public final class KernelWorkspace: Sendable {
    /// Transformed weights kept for the next call, or nil: transform on every call (weights
    /// that change, as in training).
    public let weights: WinogradWeightCache?
    let scratch: ScratchBuffers

    /// A workspace that keeps up to `weightBudgetBytes` of transformed weights (nil: none),
    /// with scratch buffers of its own, or those of `sharingScratch`.
    public init(weightBudgetBytes: Int?, sharingScratch other: KernelWorkspace? = nil) {
        weights = weightBudgetBytes.map { WinogradWeightCache(budgetBytes: $0) }
        scratch = other?.scratch ?? ScratchBuffers()
    }

    /// For callers without an owner (tools, training outside a block's scope): no kept weights,
    /// the process's scratch buffers.
    public static let unowned = KernelWorkspace(weights: nil, scratch: .shared)

    private init(weights: WinogradWeightCache?, scratch: ScratchBuffers) {
        self.weights = weights
        self.scratch = scratch
    }

    /// A model's inference workspace: room for several large networks' convolutions.
    public static let inferenceWeightBudgetBytes = 64 << 20
}
