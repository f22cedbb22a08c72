// PluginArchitecture: a plugin library seen by the engine as a ReversibleArchitecture: every
// call goes through the C table on the model handle of the network it is for (made on first
// use and destroyed with the network), with the host's tensors as read-only views; results are
// copied out of the plugin's lists (then freed), and tapes stay on the plugin's side behind a
// handle that frees itself.

import PluginABI
import RevNet
import Tensor

public struct PluginArchitecture: ReversibleArchitecture, @unchecked Sendable {   // the table is immutable and thread-safe (header)
    public let library: PluginLibrary
    public let name: String
    public let description: String
    public let functionsPerBlock: Int
    public let transitionGroups: Int
    private var t: rs_plugin { library.table.pointee }

    init(_ library: PluginLibrary) {
        self.library = library
        let t = library.table.pointee
        name = String(cString: t.name)
        description = t.description.map { String(cString: $0) } ?? ""
        functionsPerBlock = Int(t.functions_per_block)
        transitionGroups = Int(t.transition_groups)
    }

    // What the host accepts from a plugin's table and returned lists: a plugin is trusted
    // code, but a wrong number from it must fail one call, not trap in the daemon.
    static let maxTransitionGroups = 64
    static let maxFunctionsPerBlock = 64
    /// Tensors in one returned list, and parameters of one block.
    static let maxListCount = 64
    /// Dimensions of a tensor (rs_tensor's shape has 4 slots).
    static let maxRank = 4
    /// Values in one returned tensor (4 GiB of float32 is far past any batch the daemon runs).
    static let maxTensorValues = 1 << 30

    public func blockParameters(width: Int) -> [ParameterSpec] {
        let n = Int(t.block_parameter_count(Int64(width)))
        guard (0...Self.maxListCount).contains(n) else { return [] }
        return (0..<n).compactMap { i in
            var spec = rs_parameter_spec(), error = rs_error()
            guard t.block_parameter(Int64(width), Int32(i), &spec, &error) == RS_OK, let shape = Self.shape(spec.shape, rank: spec.rank) else {
                return nil
            }
            let name = withUnsafeBytes(of: spec.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return ParameterSpec(name, shape, spec.role == RS_ROLE_BIAS ? .bias : .convolutionWeight)
        }
    }

    /// A shape from the ABI's four 64-bit slots, nil unless its rank is 0…4, every dimension is
    /// non-negative and the product is at most maxTensorValues.
    static func shape<Slots>(_ slots: Slots, rank: Int32) -> [Int]? {
        guard (0...Int32(maxRank)).contains(rank) else { return nil }
        let dims = withUnsafeBytes(of: slots) { raw in
            (0..<Int(rank)).map { raw.count >= ($0 + 1) * 8 ? raw.load(fromByteOffset: $0 * 8, as: Int64.self) : -1 }
        }
        var product = 1
        for d in dims {
            guard d >= 0, let v = Int(exactly: d) else { return nil }
            let (p, overflow) = product.multipliedReportingOverflow(by: v)
            guard !overflow, p <= maxTensorValues else { return nil }
            product = p
        }
        return dims.map { Int($0) }
    }

    public func widthProblem(_ unitChannels: [Int]) -> String? {
        var error = rs_error()
        let widths = unitChannels.map(Int64.init)
        return t.check_widths(widths, Int32(widths.count), &error) == RS_OK ? nil : message(error)
    }

    public func blockFlops(width: Int, pixels: Int) -> Double { t.block_flops(Int64(width), Int64(pixels)) }

    // MARK: model handles

    /// The plugin's handle for the network of `ctx`, made once per network and destroyed with
    /// it; outside a network, a handle of one unit of `width` with `blocks` blocks, for this
    /// call only.
    private func model(_ ctx: EngineContext, width: Int, blocks: Int, h: Float) throws(TensorError) -> PluginModel {
        guard let network = ctx.network else {
            return try PluginModel(library, name: name, widths: [width], blocks: [blocks], h: h)
        }
        return try network.handle(for: library) { () throws(TensorError) in
            try PluginModel(library, name: name, widths: network.config.unitChannels, blocks: network.config.unitBlocks, h: network.config.h)
        }
    }

    /// The generation a call passes: the parameters' own when the caller keeps weight
    /// transforms (inference, or the slices of one block in a training step), as the built-in
    /// kernels do with the caller's workspace; otherwise 0, so that a training step's plugin
    /// keeps nothing it would throw away at the next step.
    private func generation(_ ctx: EngineContext) -> UInt64 { ctx.keepsWeights ? ctx.parametersGeneration : 0 }

    /// The unit a call names: the context's within a network, 0 for a one-unit handle.
    private func unit(_ ctx: EngineContext) -> Int32 { ctx.network == nil ? 0 : Int32(ctx.unit) }

    /// A unit's width from a state: each of its parts carries width / transitionGroups channels.
    private func width(ofState parts: [Tensor]) -> Int {
        (parts.first.map { $0.rank == 4 ? $0.shape[1] : 0 } ?? 0) * transitionGroups
    }

    public func enter(_ x: Tensor, _ ctx: EngineContext) throws(TensorError) -> BlockState {
        let m = try model(ctx, width: x.rank == 4 ? x.shape[1] : 0, blocks: 1, h: 0)
        return BlockState(try call("enter") { views, out, e in views([x]) { t.enter(m.handle, $0, out, e) } })
    }

    public func exit(_ state: BlockState, _ ctx: EngineContext) throws(TensorError) -> Tensor {
        let m = try model(ctx, width: width(ofState: state.parts), blocks: 1, h: 0)
        return try single("exit", call("exit") { views, out, e in views(state.parts) { t.exit(m.handle, $0, Int32(state.parts.count), out, e) } })
    }

    public func exitGradient(_ dx: Tensor, finalState: BlockState, _ ctx: EngineContext) throws(TensorError) -> BlockState {
        let m = try model(ctx, width: dx.rank == 4 ? dx.shape[1] : 0, blocks: 1, h: 0)
        return BlockState(try call("exit_gradient") { views, out, e in
            views([dx] + finalState.parts) { t.exit_gradient(m.handle, $0, $0 + 1, Int32(finalState.parts.count), out, e) }
        })
    }

    public func enterGradient(_ dState: BlockState, _ ctx: EngineContext) throws(TensorError) -> Tensor {
        let m = try model(ctx, width: width(ofState: dState.parts), blocks: 1, h: 0)
        return try single("enter_gradient", call("enter_gradient") { views, out, e in
            views(dState.parts) { t.enter_gradient(m.handle, $0, Int32(dState.parts.count), out, e) }
        })
    }

    // MARK: runs of blocks

    /// Runs of at most this many blocks per call: the parameter views nest one closure per
    /// tensor, and a deeper nesting would only grow the stack.
    static let maxRunBlocks = 32

    public func forward(block j: Int, parameters p: [Tensor], state: BlockState, h: Float,
                        _ ctx: EngineContext) throws(TensorError) -> (BlockState, BlockTape) {
        try oneBlock("forward", j, p, state, h, ctx) { handle, run, views, parts, out, tape, e in
            t.forward(handle, run, views, parts, out, tape, e)
        }
    }

    public func reconstruct(block j: Int, parameters p: [Tensor], output: BlockState, h: Float,
                            _ ctx: EngineContext) throws(TensorError) -> (BlockState, BlockTape) {
        try oneBlock("reconstruct", j, p, output, h, ctx) { handle, run, views, parts, out, tape, e in
            t.reconstruct(handle, run, views, parts, out, tape, e)
        }
    }

    /// Inference through several blocks: one plugin call per run of maxRunBlocks, no tapes.
    public func forward(blocks: Range<Int>, parameters: [[Tensor]], state: BlockState, h: Float,
                        _ ctx: EngineContext) throws(TensorError) -> BlockState {
        BlockState(try forwardRuns(blocks, parameters, state.parts, fromUnitInput: false, toUnitOutput: false, h, ctx))
    }

    /// Inference through a whole unit from its input: the unit's input and output cross the
    /// boundary once (RS_RUN_FROM_UNIT_INPUT on the first run, RS_RUN_TO_UNIT_OUTPUT on the last).
    public func forwardUnit(blocks: Range<Int>, parameters: [[Tensor]], input x: Tensor, h: Float,
                            _ ctx: EngineContext) throws(TensorError) -> Tensor {
        try single("forward", forwardRuns(blocks, parameters, [x], fromUnitInput: true, toUnitOutput: true, h, ctx))
    }

    /// `blocks` forward from `input` in runs of at most maxRunBlocks, keeping no tapes; the
    /// first run may enter from the unit's input and the last exit to its output.
    private func forwardRuns(_ blocks: Range<Int>, _ parameters: [[Tensor]], _ input: [Tensor], fromUnitInput: Bool,
                             toUnitOutput: Bool, _ h: Float, _ ctx: EngineContext) throws(TensorError) -> [Tensor] {
        let width = fromUnitInput ? (input.first.map { $0.rank == 4 ? $0.shape[1] : 0 } ?? 0) : width(ofState: input)
        let m = try model(ctx, width: width, blocks: blocks.upperBound, h: h)
        var current = input
        for start in stride(from: 0, to: blocks.count, by: Self.maxRunBlocks) {
            let part = start..<Swift.min(blocks.count, start + Self.maxRunBlocks)
            let flags = (fromUnitInput && start == 0 ? Int32(RS_RUN_FROM_UNIT_INPUT) : 0)
                | (toUnitOutput && part.upperBound == blocks.count ? Int32(RS_RUN_TO_UNIT_OUTPUT) : 0)
            let tensors = current
            current = try run("forward", m, ctx, first: blocks.lowerBound + start, Array(parameters[part]), flags: flags) { handle, run, e in
                var out: OpaquePointer?
                let status = withViews(tensors) { t.forward(handle, run, $0, Int32(tensors.count), &out, nil, e) }
                return (status, out)
            }
        }
        return current
    }

    /// A one-block forward or reconstruct: a state in, a state and the block's tape out.
    private func oneBlock(_ what: String, _ j: Int, _ p: [Tensor], _ state: BlockState, _ h: Float, _ ctx: EngineContext,
                          _ call: (OpaquePointer, UnsafeMutablePointer<rs_run>, UnsafePointer<rs_tensor_in>, Int32,
                                   UnsafeMutablePointer<OpaquePointer?>, UnsafeMutablePointer<OpaquePointer?>,
                                   UnsafeMutablePointer<rs_error>) -> rs_status) throws(TensorError) -> (BlockState, BlockTape) {
        let m = try model(ctx, width: width(ofState: state.parts), blocks: j + 1, h: h)
        var tape: OpaquePointer?
        let parts = try run(what, m, ctx, first: j, [p], flags: 0) { handle, run, e in
            var out: OpaquePointer?
            let status = withViews(state.parts) { call(handle, run, $0, Int32(state.parts.count), &out, &tape, e) }
            return (status, out)
        }
        return (BlockState(parts), tape.map { BlockTape(external: PluginTape(library, $0)) } ?? BlockTape([]))
    }

    public func backward(block j: Int, parameters p: [Tensor], tape: BlockTape, outputGradient: BlockState,
                         gradients: inout [Tensor], h: Float, _ ctx: EngineContext) throws(TensorError) -> BlockState {
        guard let handle = (tape.external as? PluginTape)?.handle else {
            throw .invalidArgument(op: "\(name) block \(j)", detail: "the tape was not made by this plugin")
        }
        let m = try model(ctx, width: width(ofState: outputGradient.parts), blocks: j + 1, h: h)
        let table = t
        // Gradient buffers the plugin accumulates into, copied back after the call.
        let buffers = gradients.map { UnsafeMutablePointer<Float>.allocate(capacity: max(1, $0.count)) }
        defer { buffers.forEach { $0.deallocate() } }
        for (b, g) in zip(buffers, gradients) { g.data.withUnsafeBufferPointer { b.update(from: $0.baseAddress!, count: $0.count) } }
        let pointers: [UnsafeMutablePointer<Float>?] = buffers.map { $0 }
        let parts = try run("backward", m, ctx, first: j, [p], flags: 0) { model, run, e in
            var out: OpaquePointer?
            let status = withViews(outputGradient.parts) { g in
                pointers.withUnsafeBufferPointer { table.backward(model, run, handle, g, Int32(outputGradient.parts.count), $0.baseAddress, &out, e) }
            }
            return (status, out)
        }
        for i in gradients.indices {
            let n = gradients[i].count
            gradients[i].data.withUnsafeMutableBufferPointer { dst in dst.baseAddress!.update(from: buffers[i], count: n) }
        }
        return BlockState(parts)
    }

    /// One rs_run of blocks first… with `parameters` (one list per block), made for `body`,
    /// which calls the table and returns its status and list; the list is copied out and freed,
    /// and the evaluations are counted on success.
    private func run(_ what: String, _ m: PluginModel, _ ctx: EngineContext, first: Int, _ parameters: [[Tensor]], flags: Int32,
                     _ body: (OpaquePointer, UnsafeMutablePointer<rs_run>, UnsafeMutablePointer<rs_error>) -> (rs_status, OpaquePointer?))
        throws(TensorError) -> [Tensor] {
        let perBlock = parameters.first?.count ?? 0
        guard parameters.allSatisfy({ $0.count == perBlock }) else {
            throw .invalidArgument(op: "\(name) plugin \(what)", detail: "blocks of one run must have the same number of parameters")
        }
        var error = rs_error()
        var evaluations: Int64 = 0
        let (status, out) = withViews(parameters.flatMap { $0 }) { views -> (rs_status, OpaquePointer?) in
            var call = rs_run(unit: unit(ctx), first_block: Int32(first), count: Int32(parameters.count), parameters: views,
                              parameter_count: Int32(perBlock), parameters_generation: generation(ctx),
                              threads: Int32(ctx.threads.count), flags: flags, evaluations: 0)
            let result = body(m.handle, &call, &error)
            evaluations = call.evaluations
            return result
        }
        let blocks = parameters.count > 1 ? "blocks \(first)…\(first + parameters.count - 1)" : "block \(first)"
        guard status == RS_OK, let out else {
            throw .invalidArgument(op: "\(name) plugin \(what), unit \(unit(ctx)), \(blocks)", detail: message(error))
        }
        ctx.counter?.increment(by: Int(evaluations))
        return try copyOut(out, what)
    }

    // MARK: plumbing

    /// The one tensor a call returns (a unit's input or output): any other count fails the call.
    private func single(_ what: String, _ list: [Tensor]) throws(TensorError) -> Tensor {
        guard list.count == 1 else {
            throw .invalidArgument(op: "\(name) plugin \(what)", detail: "returned \(list.count) tensors where one was expected")
        }
        return list[0]
    }

    private typealias Views = ([Tensor], (UnsafePointer<rs_tensor_in>) -> rs_status) -> rs_status

    /// Runs a table function that returns a tensor list; copies the list out and frees it.
    private func call(_ what: String, _ body: (Views, UnsafeMutablePointer<OpaquePointer?>, UnsafeMutablePointer<rs_error>) -> rs_status)
        throws(TensorError) -> [Tensor] {
        var out: OpaquePointer?, error = rs_error()
        let status = body({ tensors, f in withViews(tensors, f) }, &out, &error)
        guard status == RS_OK, let out else { throw .invalidArgument(op: "\(name) plugin \(what)", detail: message(error)) }
        return try copyOut(out, what)
    }

    /// Copies a returned tensor list into tensors and frees it; a list the ABI does not allow
    /// (a count, rank or dimension out of range, no data) fails the call.
    private func copyOut(_ list: OpaquePointer, _ what: String) throws(TensorError) -> [Tensor] {
        defer { t.tensors_free(list) }
        let n = Int(t.tensors_count(list))
        guard (0...Self.maxListCount).contains(n) else {
            throw .invalidArgument(op: "\(name) plugin \(what)", detail: "returned a list of \(n) tensors (0…\(Self.maxListCount) allowed)")
        }
        var tensors: [Tensor] = []
        for i in 0..<n {
            let v = t.tensors_get(list, Int32(i))
            guard let shape = Self.shape(v.shape, rank: v.rank) else {
                throw .invalidArgument(op: "\(name) plugin \(what)", detail: "returned tensor \(i) with rank \(v.rank) or a dimension out of range")
            }
            let count = shape.reduce(1, *)   // within maxTensorValues: checked by shape(_:rank:)
            guard count == 0 || v.data != nil else {
                throw .invalidArgument(op: "\(name) plugin \(what)", detail: "returned tensor \(i) without data")
            }
            tensors.append(try Tensor(shape: shape, data: count == 0 ? [] : Array(UnsafeBufferPointer(start: v.data, count: count))))
        }
        return tensors
    }

    private func message(_ error: rs_error) -> String {
        withUnsafeBytes(of: error.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}

/// Views of host tensors for one call (valid inside `body` only).
func withViews<R>(_ tensors: [Tensor], _ body: (UnsafePointer<rs_tensor_in>) -> R) -> R {
    var views = [rs_tensor_in](repeating: rs_tensor_in(), count: max(1, tensors.count))
    func bind(_ i: Int) -> R {
        guard i < tensors.count else { return views.withUnsafeBufferPointer { body($0.baseAddress!) } }
        return tensors[i].data.withUnsafeBufferPointer { buffer in
            views[i].data = buffer.baseAddress
            views[i].rank = Int32(tensors[i].shape.count)
            withUnsafeMutableBytes(of: &views[i].shape) { raw in
                for (k, d) in tensors[i].shape.enumerated() { raw.storeBytes(of: Int64(d), toByteOffset: k * 8, as: Int64.self) }
            }
            return bind(i + 1)
        }
    }
    return bind(0)
}

/// A tape held by the plugin; freed through its table when the engine lets go of it.
final class PluginTape: ExternalTape, @unchecked Sendable {   // the handle is used by one call at a time (header)
    let library: PluginLibrary
    let handle: OpaquePointer
    let bytes: Int

    init(_ library: PluginLibrary, _ handle: OpaquePointer) {
        self.library = library
        self.handle = handle
        bytes = Int(library.table.pointee.tape_bytes(handle))
    }

    deinit { library.table.pointee.tape_free(handle) }
}

/// A plugin's model handle (rs_model) for one network; model_destroy when the network lets go.
final class PluginModel: @unchecked Sendable {   // the handle is the plugin's to guard (header: THREADING)
    let library: PluginLibrary
    let handle: OpaquePointer

    init(_ library: PluginLibrary, name: String, widths: [Int], blocks: [Int], h: Float) throws(TensorError) {
        self.library = library
        var out: OpaquePointer?, error = rs_error()
        let w = widths.map(Int64.init), b = blocks.map(Int32.init)
        let status = w.withUnsafeBufferPointer { wp in
            b.withUnsafeBufferPointer { bp in
                var config = rs_model_config(units: Int32(widths.count), widths: wp.baseAddress, blocks: bp.baseAddress, h: h)
                return library.table.pointee.model_create(&config, &out, &error)
            }
        }
        guard status == RS_OK, let out else {
            throw .invalidArgument(op: "\(name) plugin model_create",
                                   detail: withUnsafeBytes(of: error.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
        }
        handle = out
    }

    deinit { library.table.pointee.model_destroy(handle) }
}
