// SlicedBackward: reversible backprop through a unit on slices of the batch, one worker per
// slice, block by block (BatchSlicing.swift).
//
// A block's reconstruction and backward touch a slice's state a dozen times (four residual
// evaluations and their vector-Jacobian products); on one worker per slice they stay in that
// core's cache and need no fork-join per convolution. The slices of a block share a cache of
// its transformed weights, dropped after the block (a plugin keeps its own on its model
// handle, for the parameters' generation). Parameter gradients are sums over the
// batch: each chunk of slices accumulates into its own copy of the block's gradients, added in
// chunk order, so a step is repeatable for a thread count. The copies are per block, not per
// unit: a unit of hamiltonian-1202 holds 29 MB of parameters.

import Tensor

extension Network {
    /// dState at unit u's input from its output state and output gradient, accumulating the
    /// blocks' parameter gradients into `gradients`, the batch cut into `slices`.
    func reversibleBackward(unit u: Int, slices: [Range<Int>], output: BlockState, outputGradient: BlockState,
                            gradients: inout ParameterSet, _ ctx: EngineContext) throws(TensorError) -> BlockState {
        let arch = architecture, h = config.h, chunks = ctx.threads.chunks(of: slices.count).count
        var states = try BatchSlicing.split(output, slices), dStates = try BatchSlicing.split(outputGradient, slices)
        for j in stride(from: config.unitBlocks[u] - 1, through: 0, by: -1) {
            let p = blockParameters(unit: u, block: j)
            // Each chunk's own tensors: copies of one zero set would share storage, and the
            // workers' copy-on-write of it would race.
            var partials = (0..<chunks).map { _ in p.map { Tensor(zeros: $0.shape) } }
            var blockContext = ctx
            blockContext.workspace = KernelWorkspace(weightBudgetBytes: BatchSlicing.blockCacheBytes, sharingScratch: ctx.workspace)
            // A generation of the block's own: a plugin keeps its transforms for these slices and
            // drops them when the next block's begins, as the workspace above goes with the block.
            blockContext.parametersGeneration = ParameterSet.freshGeneration()
            try states.withUnsafeMutableBufferPointer { (state: inout UnsafeMutableBufferPointer<BlockState>) throws(TensorError) in
            try dStates.withUnsafeMutableBufferPointer { (dState: inout UnsafeMutableBufferPointer<BlockState>) throws(TensorError) in
            try partials.withUnsafeMutableBufferPointer { (partial: inout UnsafeMutableBufferPointer<[Tensor]>) throws(TensorError) in
                let (state, dState, partial) = (state, dState, partial)
                try BatchSlicing.forEach(slices.count, threads: ctx.threads) { s, chunk throws(TensorError) in
                    let inner = BatchSlicing.context(blockContext, slice: s)
                    let (input, tape) = try arch.reconstruct(block: j, parameters: p, output: state[s], h: h, inner)
                    dState[s] = try arch.backward(block: j, parameters: p, tape: tape, outputGradient: dState[s],
                                                  gradients: &partial[chunk], h: h, inner)
                    state[s] = input
                }
            }
            }
            }
            try gradients.withTensors(at: layout.blocks[u][j]) { g throws(TensorError) in
                for chunk in partials {
                    for k in g.indices { try g[k].add(chunk[k]) }
                }
            }
        }
        return try BatchSlicing.join(dStates)
    }
}
