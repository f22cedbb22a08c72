// Network: a whole reversible network (docs/spec/NETWORKS.md §1): stem, units of reversible blocks,
// transitions, head. Holds the configuration, the architecture and the weights, and runs
// inference (batch norm in eval mode). Training lives in NetworkTraining.swift.
//
// Weight names are docs/spec/CHECKPOINT.md's: stem/conv/weight, stem/bn/{weight,bias,running_mean,
// running_var}, units/<u>/blocks/<j>/<param>, head/bn/…, head/fc/{weight,bias}.

import Tensor

public struct Network: Sendable {
    public let config: NetworkConfig
    public let architecture: any ReversibleArchitecture
    /// Every tensor of the model, trainable or not (batch-norm running statistics).
    public var weights: ParameterSet
    let layout: Layout
    /// What the network keeps between calls (kept weight transforms, scratch, plugin handles).
    public let state: NetworkState

    /// Positions of the named tensors in `weights`, computed once.
    struct Layout: Sendable {
        var stemConv: Int
        var stemBN: BatchNormPositions
        var blocks: [[[Int]]]          // [unit][block] → positions of the block's parameters
        var headBN: BatchNormPositions
        var fcWeight: Int, fcBias: Int
    }

    struct BatchNormPositions: Sendable {
        var gamma: Int, beta: Int, mean: Int, variance: Int
    }

    /// A network with freshly initialised weights (the authors' scheme, see `initialWeights`).
    public init(config: NetworkConfig, seed: UInt64 = 0) throws(ConfigError) {
        let arch = try Architectures.named(config.architecture)
        try config.validate(for: arch)
        var rng = SeededGenerator(seed: seed)
        let (weights, layout) = withUnsafeMutablePointer(to: &rng) { Self.initialWeights(config, arch, $0) }
        self.config = config
        self.architecture = arch
        self.weights = weights
        self.layout = layout
        state = NetworkState(config)
    }

    /// A network with the given weights: every tensor of the layout must be present with its shape.
    /// Throws a message naming the missing or mis-shaped tensor.
    public init(config: NetworkConfig, architecture: any ReversibleArchitecture,
                weights given: ParameterSet) throws(ConfigError) {
        try config.validate(for: architecture)
        var (weights, layout) = Self.initialWeights(config, architecture, nil)
        for (i, name) in weights.names.enumerated() {
            guard let t = given[name] else {
                throw .invalid(field: "weights/\(name)", reason: "missing; expected shape \(weights.tensors[i].shape)")
            }
            guard t.shape == weights.tensors[i].shape else {
                throw .invalid(field: "weights/\(name)", reason: "has shape \(t.shape), expected \(weights.tensors[i].shape)")
            }
            weights.tensors[i] = t
        }
        self.config = config
        self.architecture = architecture
        self.weights = weights
        self.layout = layout
        state = NetworkState(config)
    }

    /// Names and shapes of every weight tensor a configuration needs, in order (what a
    /// checkpoint must hold under /weights). Throws for an unknown architecture or bad shapes.
    public static func weightLayout(for config: NetworkConfig) throws(ConfigError) -> [(name: String, shape: [Int])] {
        let arch = try Architectures.named(config.architecture)
        try config.validate(for: arch)
        let (weights, _) = initialWeights(config, arch, nil)
        return zip(weights.names, weights.tensors).map { ($0, $1.shape) }
    }

    /// Names and shapes of every weight tensor, in order, with random initial values (zeros and
    /// ones when `rng` is nil: only the layout is wanted): conv weights
    /// normal with std sqrt(2 / (9·C_out)), biases 0, batch norm γ = 1, β = 0, running mean 0 and
    /// variance 1 (the authors' code); the FC layer as PyTorch's nn.Linear does it, uniform in
    /// ±1/sqrt(C_U) [choice: the paper does not say].
    static func initialWeights(_ c: NetworkConfig, _ arch: any ReversibleArchitecture,
                               _ rng: UnsafeMutablePointer<SeededGenerator>?) -> (ParameterSet, Layout) {
        var w = ParameterSet()
        func conv(_ shape: [Int]) -> Tensor {
            guard let rng else { return Tensor(zeros: shape) }
            return Tensor.randomNormal(shape, std: (2 / Float(9 * shape[0])).squareRoot(), using: &rng.pointee)
        }
        func uniform(_ shape: [Int], _ bound: Float) -> Tensor {
            guard let rng else { return Tensor(zeros: shape) }
            return Tensor.randomUniform(shape, in: -bound...bound, using: &rng.pointee)
        }
        func batchNorm(_ prefix: String, _ width: Int) -> BatchNormPositions {
            BatchNormPositions(gamma: w.append("\(prefix)/weight", Tensor(repeating: 1, shape: [width])),
                               beta: w.append("\(prefix)/bias", Tensor(zeros: [width])),
                               mean: w.append("\(prefix)/running_mean", Tensor(zeros: [width])),
                               variance: w.append("\(prefix)/running_var", Tensor(repeating: 1, shape: [width])))
        }
        let c1 = c.unitChannels[0], cu = c.unitChannels[c.units - 1]
        let stemConv = w.append("stem/conv/weight", conv([c1, c.inputShape[0], 3, 3]))
        let stemBN = batchNorm("stem/bn", c1)
        var blocks: [[[Int]]] = []
        for u in 0..<c.units {
            var unit: [[Int]] = []
            for j in 0..<c.unitBlocks[u] {
                unit.append(arch.blockParameters(width: c.unitChannels[u]).map { spec in
                    let t = spec.role == .convolutionWeight ? conv(spec.shape) : Tensor(zeros: spec.shape)
                    return w.append("units/\(u)/blocks/\(j)/\(spec.name)", t)
                })
            }
            blocks.append(unit)
        }
        let headBN = batchNorm("head/bn", cu)
        let bound = 1 / Float(cu).squareRoot()
        let fcWeight = w.append("head/fc/weight", uniform([c.numClasses, cu], bound))
        let fcBias = w.append("head/fc/bias", uniform([c.numClasses], bound))
        return (w, Layout(stemConv: stemConv, stemBN: stemBN, blocks: blocks, headBN: headBN,
                          fcWeight: fcWeight, fcBias: fcBias))
    }

    /// True for tensors that training updates (not the batch-norm running statistics).
    public static func isTrainable(_ name: String) -> Bool {
        !(name.hasSuffix("/running_mean") || name.hasSuffix("/running_var"))
    }

    /// Number of trainable scalars.
    public var parameterCount: Int {
        zip(weights.names, weights.tensors).reduce(0) { $0 + (Self.isTrainable($1.0) ? $1.1.count : 0) }
    }

    /// The parameters of block j of unit u.
    func blockParameters(unit u: Int, block j: Int) -> [Tensor] {
        layout.blocks[u][j].map { weights.tensors[$0] }
    }

    /// `ctx` for calls on this network: its state, and the generation of its current weights.
    func within(_ ctx: EngineContext) -> EngineContext {
        var ctx = ctx
        ctx.network = state
        ctx.parametersGeneration = weights.identity
        return ctx
    }

    /// Checks an input batch against the configured input shape.
    func checkInput(_ x: Tensor, op: String) throws(TensorError) {
        guard x.rank == 4, Array(x.shape.dropFirst()) == config.inputShape else {
            throw .shapeMismatch(op: op, detail: "input must be (N, \(config.inputShape.map(String.init).joined(separator: ", "))), got \(x.shape)")
        }
    }

    // MARK: Inference

    /// Logits (N, classes) for a batch x (N, C_in, H, W), batch norm in eval mode.
    public func logits(_ x: Tensor, _ ctx: EngineContext = EngineContext()) throws(TensorError) -> Tensor {
        try checkInput(x, op: "Network.logits")
        var ctx = within(ctx)
        if !ctx.keepsWeights { ctx.workspace = state.workspace }   // inference keeps its transforms
        var h = try stem(x, ctx)
        for u in 0..<config.units {
            h = try runUnit(u, input: h, ctx)
            if u + 1 < config.units { h = try transition(h, to: u + 1) }
        }
        return try head(h)
    }

    func stem(_ x: Tensor, _ ctx: EngineContext) throws(TensorError) -> Tensor {
        let c = try Conv3x3.forward(x, weight: weights.tensors[layout.stemConv], threads: ctx.threads)
        return try batchNormEval(c, layout.stemBN, relu: true)
    }

    func head(_ x: Tensor) throws(TensorError) -> Tensor {
        let pooled = try GlobalAvgPool.forward(try batchNormEval(x, layout.headBN, relu: true))
        return try Linear.forward(pooled, weight: weights.tensors[layout.fcWeight], bias: weights.tensors[layout.fcBias])
    }

    /// Batch norm with running statistics, then ReLU (always so in the stem and the head).
    func batchNormEval(_ x: Tensor, _ p: BatchNormPositions, relu: Bool) throws(TensorError) -> Tensor {
        try BatchNorm.forwardInference(x, gamma: weights.tensors[p.gamma], beta: weights.tensors[p.beta],
                                       runningMean: weights.tensors[p.mean], runningVar: weights.tensors[p.variance],
                                       eps: config.bnEps, relu: relu)
    }

    /// Unit u on input x (N, C_u, H_u, W_u), no tapes kept.
    func runUnit(_ u: Int, input x: Tensor, _ ctx: EngineContext) throws(TensorError) -> Tensor {
        let blocks = 0..<config.unitBlocks[u]
        var ctx = ctx
        ctx.unit = u
        return try architecture.forwardUnit(blocks: blocks, parameters: blocks.map { blockParameters(unit: u, block: $0) },
                                            input: x, h: config.h, ctx)
    }

    /// Transition into unit `next`: 2×2 average pooling, then symmetric zero channels
    /// (per group: Hamiltonian pads Y and Z separately).
    func transition(_ x: Tensor, to next: Int) throws(TensorError) -> Tensor {
        let (before, after) = transitionPadding(to: next)
        return try ChannelPad.forward(AvgPool2x2.forward(x), before: before, after: after,
                                      groups: architecture.transitionGroups)
    }

    func transitionPadding(to next: Int) -> (Int, Int) {
        let extra = (config.unitChannels[next] - config.unitChannels[next - 1]) / (2 * architecture.transitionGroups)
        return (extra, extra)
    }

    /// Forward FLOPs for one image (convolutions and the FC layer; elementwise work not counted).
    public var flopsPerImage: Double {
        let c = config
        let (h0, w0) = c.resolution(unit: 0)
        var flops = 2 * Double(c.unitChannels[0] * c.inputShape[0] * 9 * h0 * w0)
        for u in 0..<c.units {
            let (h, w) = c.resolution(unit: u)
            flops += Double(c.unitBlocks[u]) * architecture.blockFlops(width: c.unitChannels[u], pixels: h * w)
        }
        return flops + 2 * Double(c.numClasses * c.unitChannels[c.units - 1])
    }
}
