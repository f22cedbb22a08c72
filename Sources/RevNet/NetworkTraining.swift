// NetworkTraining: one training step's forward and backward pass, in either memory mode.
//
// - standard: every block keeps its tape (inputs and activations of its residual functions)
//   from forward to backward. Memory grows with depth.
// - reversible: each unit keeps only its final state (docs/spec/NETWORKS.md §3); backward walks the unit
//   from its last block to its first, reconstructing each block's input from its output with one
//   evaluation of each residual function, whose tape then serves that block's backward at once
//   (RevNet's algorithm: no separate inverse-then-rerun). Memory is O(units), flat in depth.
// Stem and head keep their activations in both modes. Batch norm runs in training mode and
// updates its running statistics, hence `mutating`.

import Tensor

public enum MemoryMode: String, Sendable, CaseIterable, Codable {
    case standard, reversible
}

public struct TrainingStepResult: Sendable {
    /// Mean cross-entropy over the batch.
    public var loss: Float
    /// (N, classes), from the training-mode forward pass.
    public var logits: Tensor
    /// ∂loss/∂input (N, C_in, H, W), when requested.
    public var inputGradient: Tensor?
    /// Bytes of activations the engine held between the end of forward and the start of backward.
    public var keptBytes: Int
}

extension Network {
    /// Forward and backward on a batch: returns the loss and accumulates ∂loss/∂weights into
    /// `gradients` (a `weights.zeros()`-shaped set; running statistics get no gradient).
    public mutating func trainingStep(_ x: Tensor, labels: [Int], mode: MemoryMode,
                                      gradients: inout ParameterSet, inputGradient wantInputGradient: Bool = false,
                                      _ ctx: EngineContext = EngineContext()) throws(TensorError) -> TrainingStepResult {
        try checkInput(x, op: "Network.trainingStep")
        guard gradients.names == weights.names else {
            throw .invalidArgument(op: "Network.trainingStep", detail: "gradients must have the layout of the network's weights")
        }
        let units = config.units, arch = architecture, h = config.h
        let networkContext = within(ctx)

        // ---- forward ----
        let stemConv = try Conv3x3.forward(x, weight: weights.tensors[layout.stemConv], threads: ctx.threads)
        let (stemNorm, stemCache) = try batchNormTrain(stemConv, layout.stemBN)
        let stemOut = ReLU.forward(stemNorm)

        var tapes: [[BlockTape?]] = []                // standard mode only
        var finalStates: [BlockState?] = []
        var unitOutputShapes: [[Int]] = []
        var activation = stemOut
        for u in 0..<units {
            var ctx = networkContext
            ctx.unit = u
            var state = try arch.enter(activation, ctx)
            var unitTapes: [BlockTape?] = []
            let blocks = 0..<config.unitBlocks[u]
            switch mode {
            case .standard:
                for j in blocks {
                    let (next, tape) = try arch.forward(block: j, parameters: blockParameters(unit: u, block: j),
                                                       state: state, h: h, ctx)
                    unitTapes.append(tape)
                    state = next
                }
            case .reversible:   // no tapes: the blocks as inference runs them (sliced over the batch)
                state = try arch.forward(blocks: blocks, parameters: blocks.map { blockParameters(unit: u, block: $0) },
                                         state: state, h: h, ctx)
            }
            tapes.append(unitTapes)
            activation = try arch.exit(state, ctx)
            finalStates.append(state)
            unitOutputShapes.append(activation.shape)
            if u + 1 < units { activation = try transition(activation, to: u + 1) }
        }
        let headInput = activation
        let (headNorm, headCache) = try batchNormTrain(headInput, layout.headBN)
        let headOut = ReLU.forward(headNorm)
        let pooled = try GlobalAvgPool.forward(headOut)
        let logits = try Linear.forward(pooled, weight: weights.tensors[layout.fcWeight], bias: weights.tensors[layout.fcBias])
        let (loss, probabilities) = try SoftmaxCrossEntropy.forward(logits, labels: labels)

        let kept = [x, stemConv, stemOut, headInput, headOut, pooled, probabilities].reduce(0) { $0 + $1.count * 4 }
            + tapes.joined().reduce(0) { $0 + ($1?.bytes ?? 0) }
            + finalStates.reduce(0) { $0 + ($1?.bytes ?? 0) }

        // ---- backward ----
        var d = try SoftmaxCrossEntropy.backward(probabilities: probabilities, labels: labels)
        let fcWeight = weights.tensors[layout.fcWeight]
        d = try gradients.withPair(layout.fcWeight, layout.fcBias) { [d] dW, dB throws(TensorError) in
            try Linear.backward(d, input: pooled, weight: fcWeight, dWeight: &dW, dBias: &dB)
        }
        d = try GlobalAvgPool.backward(d, inputShape: headOut.shape)
        d = try ReLU.backward(d, input: headOut)
        d = try batchNormBackward(d, input: headInput, cache: headCache, layout.headBN, &gradients)

        for u in stride(from: units - 1, through: 0, by: -1) {
            var ctx = networkContext
            ctx.unit = u
            if u + 1 < units {
                let (before, after) = transitionPadding(to: u + 1)
                d = try ChannelPad.backward(d, before: before, after: after, groups: arch.transitionGroups)
                d = try AvgPool2x2.backward(d, inputShape: unitOutputShapes[u])
            }
            var state = finalStates[u]!
            finalStates[u] = nil                       // let the stored state go as soon as it is used
            var dState = try arch.exitGradient(d, finalState: state, ctx)
            if mode == .reversible, let slices = BatchSlicing.slices(of: state, threads: ctx.threads) {
                dState = try reversibleBackward(unit: u, slices: slices, output: state, outputGradient: dState,
                                                gradients: &gradients, ctx)
            } else {
                for j in stride(from: config.unitBlocks[u] - 1, through: 0, by: -1) {
                    let p = blockParameters(unit: u, block: j)
                    let tape: BlockTape
                    switch mode {
                    case .standard:
                        tape = tapes[u][j]!
                        tapes[u][j] = nil
                    case .reversible:
                        (state, tape) = try arch.reconstruct(block: j, parameters: p, output: state, h: h, ctx)
                    }
                    dState = try gradients.withTensors(at: layout.blocks[u][j]) { g throws(TensorError) in
                        try arch.backward(block: j, parameters: p, tape: tape, outputGradient: dState,
                                          gradients: &g, h: h, ctx)
                    }
                }
            }
            d = try arch.enterGradient(dState, ctx)
        }

        d = try ReLU.backward(d, input: stemOut)
        d = try batchNormBackward(d, input: stemConv, cache: stemCache, layout.stemBN, &gradients)
        try Conv3x3.accumulateWeightGradient(&gradients.tensors[layout.stemConv], input: x, outputGradient: d,
                                             threads: ctx.threads)
        let dx = wantInputGradient
            ? try Conv3x3.inputGradient(d, weight: weights.tensors[layout.stemConv], threads: ctx.threads) : nil
        return TrainingStepResult(loss: loss, logits: logits, inputGradient: dx, keptBytes: kept)
    }

    mutating func batchNormTrain(_ x: Tensor, _ p: BatchNormPositions) throws(TensorError) -> (Tensor, BatchNormCache) {
        let gamma = weights.tensors[p.gamma], beta = weights.tensors[p.beta], eps = config.bnEps
        return try weights.withPair(p.mean, p.variance) { mean, variance throws(TensorError) in
            try BatchNorm.forwardTraining(x, gamma: gamma, beta: beta, runningMean: &mean, runningVar: &variance,
                                          momentum: 0.1, eps: eps)
        }
    }

    func batchNormBackward(_ dy: Tensor, input x: Tensor, cache: BatchNormCache, _ p: BatchNormPositions,
                           _ gradients: inout ParameterSet) throws(TensorError) -> Tensor {
        let gamma = weights.tensors[p.gamma]
        return try gradients.withPair(p.gamma, p.beta) { dGamma, dBeta throws(TensorError) in
            try BatchNorm.backward(dy, input: x, gamma: gamma, cache: cache, dGamma: &dGamma, dBeta: &dBeta)
        }
    }
}
