// BatchSlicing: a unit's blocks run on slices of the batch, one worker per slice, at batch
// sizes that give every worker whole slices of images.
//
// Splitting each convolution over the workers (the kernels' own threading) costs a fork-join
// per convolution, and each block's state makes a round trip through memory between its
// convolutions: at batch 64 a unit's state is megabytes. On one worker per slice, a slice's
// data stays in that core's cache. Two orders:
// - slice by slice through every block (inference, whose weights' transforms are kept in the
//   model's workspace): a slice's state stays in cache from block to block;
// - block by block over all slices (training): the slices of a block share a cache of its
//   transformed weights, dropped after the block, since training changes the weights every
//   step and a whole unit's transforms would not fit (hamiltonian-1202: 236 MB).

import Tensor

/// One block of a run of blocks, with the context its engine calls get (a plugin gets one per
/// block, with its own evaluation counter). `parameters` makes the block's parameters when they
/// are needed: a plugin copies them out of the host's views, and holding a whole unit's copies
/// at once costs page faults (glibc returns the memory between calls).
public struct BlockStep {
    public var block: Int
    public var parameters: () -> [Tensor]
    public var context: EngineContext
    public init(block: Int, context: EngineContext, parameters: @escaping () -> [Tensor]) {
        self.block = block
        self.parameters = parameters
        self.context = context
    }
}

public enum BatchSlicing {
    /// Pixels (images × H × W) a slice needs at least: on fewer, the convolutions' sgemms get
    /// too narrow (an 8×8 image is only 4 Winograd tiles).
    static let minimumPixels = 1024
    /// The budget of a block's cache of transformed weights (a block holds at most four).
    static let blockCacheBytes = 32 << 20

    /// The batch ranges of `state`'s slices, or nil when slicing does not pay: one worker, or
    /// fewer than two slices per worker of at least minimumPixels each.
    public static func slices(of state: BlockState, threads: ComputeThreads) -> [Range<Int>]? {
        guard threads.count > 1, let x = state.parts.first, x.rank == 4, x.shape[2] * x.shape[3] > 0 else { return nil }
        let n = x.shape[0], pixels = x.shape[2] * x.shape[3]
        // Up to about eight slices per worker: small slices stay in cache and even out a busy
        // core.
        let size = Swift.max((minimumPixels + pixels - 1) / pixels, (n + 8 * threads.count - 1) / (8 * threads.count))
        let count = (n + size - 1) / size
        guard count >= 2 * threads.count else { return nil }
        return (0..<count).map { i in (i * size)..<Swift.min(n, (i + 1) * size) }
    }

    /// `state` cut into `slices`, and joined back.
    static func split(_ state: BlockState, _ slices: [Range<Int>]) throws(TensorError) -> [BlockState] {
        try slices.map { r throws(TensorError) in BlockState(try state.parts.map { t throws(TensorError) in try t.batchItems(r) }) }
    }
    static func join(_ slices: [BlockState]) throws(TensorError) -> BlockState {
        BlockState(try slices[0].parts.indices.map { k throws(TensorError) in
            try Tensor.concatenatingBatches(slices.map { $0.parts[k] })
        })
    }

    /// The context for slice s's engine calls: one thread, and the counter for the first slice
    /// only, so that an evaluation counter sees one pass over the batch, as without slicing.
    static func context(_ ctx: EngineContext, slice s: Int) -> EngineContext {
        var inner = ctx
        inner.threads = .one
        if s > 0 { inner.counter = nil }
        return inner
    }

    /// body(s, chunk) for every slice s in 0..<count, the slices spread over `threads` in
    /// contiguous chunks (threads.chunks(of: count)); body runs single-threaded. Throws the
    /// first slice's error, if any slice failed.
    static func forEach(_ count: Int, threads: ComputeThreads,
                        _ body: (_ slice: Int, _ chunk: Int) throws(TensorError) -> Void) throws(TensorError) {
        var failures = [TensorError?](repeating: nil, count: count)
        failures.withUnsafeMutableBufferPointer { failure in
            threads.forEachChunk(of: count) { chunk, range in
                for s in range {
                    do throws(TensorError) { try body(s, chunk) } catch { failure[s] = error }
                }
            }
        }
        if let error = failures.lazy.compactMap({ $0 }).first { throw error }
    }
}

extension ReversibleArchitecture {
    /// `steps` in order from `state`, keeping no tapes (forward(blocks:)'s work), on slices of
    /// the batch when that pays (BatchSlicing); the steps' contexts share one thread count.
    public func forward(steps: [BlockStep], state: BlockState, h: Float) throws(TensorError) -> BlockState {
        let threads = steps.first?.context.threads ?? .one
        guard let slices = BatchSlicing.slices(of: state, threads: threads) else {
            var s = state
            for step in steps { s = try forward(block: step.block, parameters: step.parameters(), state: s, h: h, step.context).0 }
            return s
        }
        let parameters = steps.map { $0.parameters() }   // every slice needs every block's
        var parts = try BatchSlicing.split(state, slices)
        try parts.withUnsafeMutableBufferPointer { (part: inout UnsafeMutableBufferPointer<BlockState>) throws(TensorError) in
            let part = part
            if steps.allSatisfy(\.context.keepsWeights) {
                try BatchSlicing.forEach(slices.count, threads: threads) { s, _ throws(TensorError) in
                    for (step, p) in zip(steps, parameters) {
                        part[s] = try forward(block: step.block, parameters: p, state: part[s], h: h,
                                              BatchSlicing.context(step.context, slice: s)).0
                    }
                }
                return
            }
            for (step, p) in zip(steps, parameters) {
                var ctx = step.context
                ctx.workspace = KernelWorkspace(weightBudgetBytes: BatchSlicing.blockCacheBytes, sharingScratch: step.context.workspace)
                try BatchSlicing.forEach(slices.count, threads: threads) { s, _ throws(TensorError) in
                    part[s] = try forward(block: step.block, parameters: p, state: part[s], h: h,
                                          BatchSlicing.context(ctx, slice: s)).0
                }
            }
        }
        return try BatchSlicing.join(parts)
    }
}
