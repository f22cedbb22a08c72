// PluginArchitecture: a plugin library seen by the engine as a ReversibleArchitecture: every
// block call goes through the C table with the host's tensors as read-only views, results are
// copied out of the plugin's lists (then freed), and tapes stay on the plugin's side behind a
// handle that frees itself.

import PluginABI
import RevNet
import Tensor

extension PluginArchitecture {
    /// Asks every registered plugin to drop what it keeps across calls (PluginLibrary.releaseCaches).
    public static func releaseCaches() {
        for name in Architectures.known {
            ((try? Architectures.named(name)) as? PluginArchitecture)?.library.releaseCaches()
        }
    }
}

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

    public func enter(_ x: Tensor) throws(TensorError) -> BlockState {
        BlockState(try call("enter") { views, out, e in views([x]) { t.enter($0, out, e) } })
    }

    public func exit(_ state: BlockState) throws(TensorError) -> Tensor {
        try call("exit") { views, out, e in views(state.parts) { t.exit($0, Int32(state.parts.count), out, e) } }[0]
    }

    public func exitGradient(_ dx: Tensor, finalState: BlockState) throws(TensorError) -> BlockState {
        BlockState(try call("exit_gradient") { views, out, e in
            views([dx] + finalState.parts) { t.exit_gradient($0, $0 + 1, Int32(finalState.parts.count), out, e) }
        })
    }

    public func enterGradient(_ dState: BlockState) throws(TensorError) -> Tensor {
        try call("enter_gradient") { views, out, e in views(dState.parts) { t.enter_gradient($0, Int32(dState.parts.count), out, e) } }[0]
    }

    public func forward(block j: Int, parameters p: [Tensor], state: BlockState, h: Float,
                        _ ctx: EngineContext) throws(TensorError) -> (BlockState, BlockTape) {
        try blockCall("forward", j, p, state.parts, h, ctx) { call, parts, count, out, tape, e in
            t.forward(call, parts, count, out, tape, e)
        }
    }

    /// The name of block j's parameter values (ABI 1.2's parameters_id): the context's scope
    /// (the weights' identity and the unit) and the block, or 0 when the context has no scope.
    private func parametersID(_ ctx: EngineContext, block j: Int) -> UInt64 {
        ctx.parametersScope == 0 || j >= 1 << 16 || ctx.parametersScope >= 1 << 47 ? 0 : ctx.parametersScope << 16 | UInt64(j)
    }

    /// The plugin's release_caches: a sliced training step's blocks ask it to keep their
    /// weights' transforms for their slices (weights_fixed), and the step releases them.
    public func releaseCachedWeights() { library.releaseCaches() }

    /// Inference through several blocks in one plugin call (ABI 1.1's forward_blocks), in runs
    /// of at most 32 blocks (the parameter views nest one closure per tensor); block by block
    /// for a plugin without it.
    public func forward(blocks: Range<Int>, parameters: [[Tensor]], state: BlockState, h: Float,
                        _ ctx: EngineContext) throws(TensorError) -> BlockState {
        guard let run = library.forwardBlocks else {
            return try forwardEachBlock(blocks: blocks, parameters: parameters, state: state, h: h, ctx)
        }
        var state = state
        for start in stride(from: 0, to: blocks.count, by: 32) {
            let run32 = start..<Swift.min(blocks.count, start + 32)
            var out: OpaquePointer?, error = rs_error()
            let status = withBlockCalls(first: blocks.lowerBound + start, parameters[run32], h: h, ctx) { calls, count in
                withViews(state.parts) { states in run(calls, count, states, Int32(state.parts.count), &out, &error) }
            }
            guard status == RS_OK, let out else {
                throw .invalidArgument(op: "\(name) plugin forward_blocks, blocks \(blocks.lowerBound + run32.lowerBound)…\(blocks.lowerBound + run32.upperBound - 1)",
                                       detail: message(error))
            }
            state = BlockState(try copyOut(out, "forward_blocks"))
        }
        return state
    }

    /// Inference through a whole unit in one plugin call (ABI 1.2's forward_unit), so that its
    /// input and output cross the boundary once; enter, forward(blocks:) and exit for a plugin
    /// without it or a unit of more than 32 blocks.
    public func forwardUnit(blocks: Range<Int>, parameters: [[Tensor]], input x: Tensor, h: Float,
                            _ ctx: EngineContext) throws(TensorError) -> Tensor {
        guard let run = library.forwardUnit, blocks.count <= 32 else {
            return try exit(forward(blocks: blocks, parameters: parameters, state: enter(x), h: h, ctx))
        }
        var out: OpaquePointer?, error = rs_error()
        let status = withBlockCalls(first: blocks.lowerBound, parameters[...], h: h, ctx) { calls, count in
            withViews([x]) { input in run(calls, count, input, &out, &error) }
        }
        guard status == RS_OK, let out else {
            throw .invalidArgument(op: "\(name) plugin forward_unit, blocks \(blocks.lowerBound)…\(blocks.upperBound - 1)",
                                   detail: message(error))
        }
        let output = try copyOut(out, "forward_unit")
        guard output.count == 1 else {
            throw .invalidArgument(op: "\(name) plugin forward_unit", detail: "returned \(output.count) tensors, expected the unit's output alone")
        }
        return output[0]
    }

    /// Runs `body` with one rs_block_call per block of `parameters` (blocks first, first + 1,
    /// …), and counts their evaluations when it succeeds.
    private func withBlockCalls(first: Int, _ parameters: ArraySlice<[Tensor]>, h: Float, _ ctx: EngineContext,
                                _ body: (UnsafeMutablePointer<rs_block_call>, Int32) -> rs_status) -> rs_status {
        var evaluations: Int64 = 0
        let status = withViews(Array(parameters)) { params in
            var calls = params.indices.map { i in
                rs_block_call(block: Int32(first + i), parameters: params[i],
                              parameter_count: Int32(parameters[parameters.startIndex + i].count), h: h,
                              threads: Int32(ctx.threads.count), evaluations: 0, weights_fixed: ctx.keepsWeights ? 1 : 0,
                              parameters_id: parametersID(ctx, block: first + i))
            }
            let s = calls.withUnsafeMutableBufferPointer { body($0.baseAddress!, Int32($0.count)) }
            evaluations = calls.reduce(0) { $0 + $1.evaluations }
            return s
        }
        if status == RS_OK { ctx.counter?.increment(by: Int(evaluations)) }
        return status
    }

    public func reconstruct(block j: Int, parameters p: [Tensor], output: BlockState, h: Float,
                            _ ctx: EngineContext) throws(TensorError) -> (BlockState, BlockTape) {
        try blockCall("reconstruct", j, p, output.parts, h, ctx) { call, parts, count, out, tape, e in
            t.reconstruct(call, parts, count, out, tape, e)
        }
    }

    public func backward(block j: Int, parameters p: [Tensor], tape: BlockTape, outputGradient: BlockState,
                         gradients: inout [Tensor], h: Float, _ ctx: EngineContext) throws(TensorError) -> BlockState {
        guard let handle = (tape.external as? PluginTape)?.handle else {
            throw .invalidArgument(op: "\(name) block \(j)", detail: "the tape was not made by this plugin")
        }
        let table = t
        // Gradient buffers the plugin accumulates into, copied back after the call.
        let buffers = gradients.map { UnsafeMutablePointer<Float>.allocate(capacity: max(1, $0.count)) }
        defer { buffers.forEach { $0.deallocate() } }   // on every path (this once leaked them all on success)
        for (b, g) in zip(buffers, gradients) { g.data.withUnsafeBufferPointer { b.update(from: $0.baseAddress!, count: $0.count) } }
        let pointers: [UnsafeMutablePointer<Float>?] = buffers.map { $0 }
        let (state, _) = try blockCall("backward", j, p, outputGradient.parts, h, ctx) { call, parts, count, out, _, e in
            pointers.withUnsafeBufferPointer { table.backward(call, handle, parts, count, $0.baseAddress, out, e) }
        }
        for i in gradients.indices {
            let n = gradients[i].count
            gradients[i].data.withUnsafeMutableBufferPointer { dst in dst.baseAddress!.update(from: buffers[i], count: n) }
        }
        return state
    }

    // MARK: plumbing

    private typealias Views = ([Tensor], (UnsafePointer<rs_tensor_in>) -> rs_status) -> rs_status

    /// Runs a table function that returns a tensor list; copies the list out and frees it.
    private func call(_ what: String, _ body: (Views, UnsafeMutablePointer<OpaquePointer?>, UnsafeMutablePointer<rs_error>) -> rs_status)
        throws(TensorError) -> [Tensor] {
        var out: OpaquePointer?, error = rs_error()
        let status = body({ tensors, f in withViews(tensors, f) }, &out, &error)
        guard status == RS_OK, let out else { throw .invalidArgument(op: "\(name) plugin \(what)", detail: message(error)) }
        return try copyOut(out, what)
    }

    private func blockCall(_ what: String, _ j: Int, _ p: [Tensor], _ parts: [Tensor], _ h: Float, _ ctx: EngineContext,
                           _ body: (UnsafeMutablePointer<rs_block_call>, UnsafePointer<rs_tensor_in>, Int32,
                                    UnsafeMutablePointer<OpaquePointer?>, UnsafeMutablePointer<OpaquePointer?>,
                                    UnsafeMutablePointer<rs_error>) -> rs_status) throws(TensorError) -> (BlockState, BlockTape) {
        var out: OpaquePointer?, tape: OpaquePointer?, error = rs_error()
        var evaluations: Int64 = 0
        let status = withViews(p) { params in
            withViews(parts) { states in
                var call = rs_block_call(block: Int32(j), parameters: params, parameter_count: Int32(p.count), h: h,
                                         threads: Int32(ctx.threads.count), evaluations: 0,
                                         weights_fixed: ctx.keepsWeights ? 1 : 0,
                                         parameters_id: parametersID(ctx, block: j))
                let s = body(&call, states, Int32(parts.count), &out, &tape, &error)
                evaluations = call.evaluations
                return s
            }
        }
        guard status == RS_OK, let out else {
            if let tape { t.tape_free(tape) }
            throw .invalidArgument(op: "\(name) plugin \(what), block \(j)", detail: message(error))
        }
        ctx.counter?.increment(by: Int(evaluations))
        let state = BlockState(try copyOut(out, what))
        return (state, tape.map { BlockTape(external: PluginTape(library, $0)) } ?? BlockTape([]))
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

/// Views of several lists at once (one per block), valid inside `body` only.
func withViews<R>(_ lists: [[Tensor]], _ body: ([UnsafePointer<rs_tensor_in>]) -> R) -> R {
    func bind(_ i: Int, _ bound: [UnsafePointer<rs_tensor_in>]) -> R {
        guard i < lists.count else { return body(bound) }
        return withViews(lists[i]) { bind(i + 1, bound + [$0]) }
    }
    return bind(0, [])
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
