// PluginExport: the plugin side of revserve_plugin.h for an architecture written in Swift:
// one static rs_plugin table whose C functions convert host tensors to Tensor values, call the
// ReversibleArchitecture, and hand results back as plugin-owned lists and tapes. Each model
// handle (ExportedModel) keeps that network's kernel workspace and its parameters' copies, and
// frees them in model_destroy. A plugin library is one call: `PluginExport.entry(Hamiltonian(),
// ...)` from its exported symbol. Nothing Swift crosses the boundary; only the C types.

import Locking
import PluginABI
import RevNet
import Tensor

public enum PluginExport {
    /// The one architecture this library exports (set by `entry`, read by the C functions).
    nonisolated(unsafe) static var architecture: (any ReversibleArchitecture)?
    nonisolated(unsafe) static var table: UnsafeMutablePointer<rs_plugin>?
    static let lock = Locked<Void>(())

    /// The table for `architecture`, or nil if the host's ABI major is not ours.
    public static func entry(_ architecture: any ReversibleArchitecture, description: String,
                             hostMajor: UInt32, hostMinor: UInt32 = 0) -> UnsafePointer<rs_plugin>? {
        guard hostMajor == UInt32(REVSERVE_PLUGIN_ABI_MAJOR) else { return nil }
        return lock.withLock { _ in
            if let table { return UnsafePointer(table) }
            Self.architecture = architecture
            let t = UnsafeMutablePointer<rs_plugin>.allocate(capacity: 1)
            t.initialize(to: rs_plugin())
            t.pointee.abi_major = UInt32(REVSERVE_PLUGIN_ABI_MAJOR)
            t.pointee.abi_minor = UInt32(REVSERVE_PLUGIN_ABI_MINOR)
            t.pointee.name = UnsafePointer(strdup(architecture.name))
            t.pointee.description = UnsafePointer(strdup(description))
            t.pointee.functions_per_block = Int32(architecture.functionsPerBlock)
            t.pointee.transition_groups = Int32(architecture.transitionGroups)
            fill(t)
            table = t
            return UnsafePointer(t)
        }
    }

    private static func fill(_ t: UnsafeMutablePointer<rs_plugin>) {
        t.pointee.block_parameter_count = { width in Int32(PluginExport.arch.blockParameters(width: Int(width)).count) }
        t.pointee.block_parameter = { width, index, out, error in
            let specs = PluginExport.arch.blockParameters(width: Int(width))
            guard let out, index >= 0, Int(index) < specs.count else { return fail(error, "no parameter \(index)") }
            let spec = specs[Int(index)]
            var p = rs_parameter_spec()
            withUnsafeMutableBytes(of: &p.name) { raw in
                let bytes = Array(spec.name.utf8.prefix(raw.count - 1))
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            p.rank = Int32(spec.shape.count)
            withUnsafeMutableBytes(of: &p.shape) { raw in
                for (i, d) in spec.shape.enumerated() { raw.storeBytes(of: Int64(d), toByteOffset: i * 8, as: Int64.self) }
            }
            p.role = spec.role == .convolutionWeight ? Int32(RS_ROLE_CONVOLUTION_WEIGHT) : Int32(RS_ROLE_BIAS)
            out.pointee = p
            return rs_status(RS_OK)
        }
        t.pointee.check_widths = { widths, units, error in
            let w = (0..<Int(units)).map { Int(widths![$0]) }
            if let problem = PluginExport.arch.widthProblem(w) { return fail(error, problem, rs_status(RS_INVALID_ARGUMENT)) }
            return rs_status(RS_OK)
        }
        t.pointee.block_flops = { width, pixels in PluginExport.arch.blockFlops(width: Int(width), pixels: Int(pixels)) }

        t.pointee.model_create = { config, out, error in
            run(error) { () throws(TensorError) in
                guard let c = config?.pointee, c.units >= 1, c.units <= 1 << 16, let w = c.widths, let b = c.blocks else {
                    throw .invalidArgument(op: "model_create", detail: "a model needs at least one unit, with widths and blocks")
                }
                let widths = (0..<Int(c.units)).map { Int(w[$0]) }, blocks = (0..<Int(c.units)).map { Int(b[$0]) }
                guard blocks.allSatisfy({ $0 >= 1 }), widths.allSatisfy({ $0 >= 1 }) else {
                    throw .invalidArgument(op: "model_create", detail: "widths \(widths) and blocks \(blocks) must be positive")
                }
                if let problem = PluginExport.arch.widthProblem(widths) { throw .invalidArgument(op: "model_create", detail: problem) }
                out?.pointee = OpaquePointer(Unmanaged.passRetained(ExportedModel(blocks: blocks, h: c.h)).toOpaque())
            }
        }
        t.pointee.model_destroy = { model in
            if let model { Unmanaged<ExportedModel>.fromOpaque(UnsafeRawPointer(model)).release() }
        }
        t.pointee.enter = { _, x, out, error in
            run(error) { () throws(TensorError) in out?.pointee = export(try PluginExport.arch.enter(tensor(x!)).parts) }
        }
        t.pointee.exit = { _, state, parts, out, error in
            run(error) { () throws(TensorError) in
                out?.pointee = export([try PluginExport.arch.exit(BlockState(tensors(state, parts)))])
            }
        }
        t.pointee.exit_gradient = { _, dx, final, parts, out, error in
            run(error) { () throws(TensorError) in
                out?.pointee = export(try PluginExport.arch.exitGradient(tensor(dx!), finalState: BlockState(tensors(final, parts))).parts)
            }
        }
        t.pointee.enter_gradient = { _, dstate, parts, out, error in
            run(error) { () throws(TensorError) in
                out?.pointee = export([try PluginExport.arch.enterGradient(BlockState(tensors(dstate, parts)))])
            }
        }
        t.pointee.forward = { model, call, input, parts, out, tapes, error in
            run(error) { () throws(TensorError) in
                let (m, r) = try ExportedModel.checked(model, call, "forward")
                let arch = PluginExport.arch
                let counter = EvaluationCounter()
                let ctx = m.context(r, counter)
                let fromInput = r.flags & Int32(RS_RUN_FROM_UNIT_INPUT) != 0
                var state = fromInput ? try arch.enter(tensors(input, 1)[0]) : BlockState(tensors(input, parts))
                let blocks = Int(r.first_block)..<Int(r.first_block + r.count)
                if let tapes {
                    for (i, j) in blocks.enumerated() {
                        let (next, kept) = try arch.forward(block: j, parameters: m.parameters(r, i), state: state, h: m.h, ctx)
                        tapes[i] = OpaquePointer(Unmanaged.passRetained(TapeBox(kept)).toOpaque())
                        state = next
                    }
                } else {
                    let steps = blocks.enumerated().map { i, j in BlockStep(block: j, context: ctx) { m.parameters(r, i) } }
                    state = try arch.forward(steps: steps, state: state, h: m.h)
                }
                call!.pointee.evaluations = Int64(counter.count)
                out?.pointee = export(r.flags & Int32(RS_RUN_TO_UNIT_OUTPUT) != 0 ? [try arch.exit(state)] : state.parts)
            }
        }
        t.pointee.reconstruct = { model, call, output, parts, out, tape, error in
            run(error) { () throws(TensorError) in
                let (m, r) = try ExportedModel.checked(model, call, "reconstruct", oneBlock: true)
                let counter = EvaluationCounter()
                let (input, kept) = try PluginExport.arch.reconstruct(block: Int(r.first_block), parameters: m.parameters(r, 0),
                                                                      output: BlockState(tensors(output, parts)), h: m.h, m.context(r, counter))
                call!.pointee.evaluations = Int64(counter.count)
                out?.pointee = export(input.parts)
                tape?.pointee = OpaquePointer(Unmanaged.passRetained(TapeBox(kept)).toOpaque())
            }
        }
        t.pointee.backward = { model, call, tape, gradient, parts, gradients, out, error in
            run(error) { () throws(TensorError) in
                let (m, r) = try ExportedModel.checked(model, call, "backward", oneBlock: true)
                guard let tape, let gradients else { throw .invalidArgument(op: "backward", detail: "no tape or gradient buffers") }
                let counter = EvaluationCounter()
                let p = m.parameters(r, 0)
                var g = p.map { Tensor(zeros: $0.shape) }
                let box = Unmanaged<TapeBox>.fromOpaque(UnsafeRawPointer(tape)).takeUnretainedValue()
                let input = try PluginExport.arch.backward(block: Int(r.first_block), parameters: p, tape: box.tape,
                                                           outputGradient: BlockState(tensors(gradient, parts)),
                                                           gradients: &g, h: m.h, m.context(r, counter))
                call!.pointee.evaluations = Int64(counter.count)
                for (i, t) in g.enumerated() {
                    let dst = gradients[i]!
                    t.data.withUnsafeBufferPointer { src in for k in 0..<src.count { dst[k] += src[k] } }
                }
                out?.pointee = export(input.parts)
            }
        }
        t.pointee.tensors_count = { list in Int32(Unmanaged<TensorList>.fromOpaque(UnsafeRawPointer(list!)).takeUnretainedValue().tensors.count) }
        t.pointee.tensors_get = { list, index in
            Unmanaged<TensorList>.fromOpaque(UnsafeRawPointer(list!)).takeUnretainedValue().view(Int(index))
        }
        t.pointee.tensors_free = { list in
            if let list { Unmanaged<TensorList>.fromOpaque(UnsafeRawPointer(list)).release() }
        }
        t.pointee.tape_bytes = { tape in Int64(Unmanaged<TapeBox>.fromOpaque(UnsafeRawPointer(tape!)).takeUnretainedValue().tape.bytes) }
        t.pointee.tape_free = { tape in
            if let tape { Unmanaged<TapeBox>.fromOpaque(UnsafeRawPointer(tape)).release() }
        }
    }

    static var arch: any ReversibleArchitecture { architecture! }
}

/// Results handed to the host: the tensors stay alive (and their storage unmoved, as nothing
/// mutates them) until the host calls tensors_free.
final class TensorList {
    let tensors: [Tensor]
    init(_ tensors: [Tensor]) { self.tensors = tensors }

    func view(_ i: Int) -> rs_tensor_view {
        var v = rs_tensor_view()
        let t = tensors[i]
        v.data = t.data.withUnsafeBufferPointer { $0.baseAddress }
        v.rank = Int32(t.shape.count)
        withUnsafeMutableBytes(of: &v.shape) { raw in
            for (k, d) in t.shape.enumerated() { raw.storeBytes(of: Int64(d), toByteOffset: k * 8, as: Int64.self) }
        }
        return v
    }
}

final class TapeBox {
    let tape: BlockTape
    init(_ tape: BlockTape) { self.tape = tape }
}

func export(_ tensors: [Tensor]) -> OpaquePointer {
    OpaquePointer(Unmanaged.passRetained(TensorList(tensors)).toOpaque())
}

/// A host tensor copied into a Tensor.
func tensor(_ t: UnsafePointer<rs_tensor_in>) -> Tensor {
    let rank = Int(t.pointee.rank)
    let shape = withUnsafeBytes(of: t.pointee.shape) { raw in (0..<rank).map { Int(raw.load(fromByteOffset: $0 * 8, as: Int64.self)) } }
    let count = shape.reduce(1, *)
    return try! Tensor(shape: shape, data: Array(UnsafeBufferPointer(start: t.pointee.data, count: count)))
}

func tensors(_ list: UnsafePointer<rs_tensor_in>?, _ count: Int32) -> [Tensor] {
    (0..<Int(count)).map { tensor(list! + $0) }
}

/// A model handle: the network's shape, the kernels' workspace for its calls (kept weight
/// transforms and scratch buffers), and copies of the parameters of the current generation,
/// whose storage the workspace's weight cache then recognises without comparing the values.
/// model_destroy frees all of it.
final class ExportedModel: Sendable {
    let blocks: [Int], h: Float
    let workspace = KernelWorkspace(weightBudgetBytes: KernelWorkspace.inferenceWeightBudgetBytes)
    /// For calls whose parameters carry no generation: this model's scratch, no kept weights.
    let transient: KernelWorkspace
    private let kept = Locked<(generation: UInt64, byBlock: [Int64: [Tensor]])>((0, [:]))

    init(blocks: [Int], h: Float) {
        self.blocks = blocks
        self.h = h
        transient = KernelWorkspace(weightBudgetBytes: nil, sharingScratch: workspace)
    }

    /// The model and run of a call, checked against the model's shape.
    static func checked(_ model: OpaquePointer?, _ call: UnsafeMutablePointer<rs_run>?, _ what: String,
                        oneBlock: Bool = false) throws(TensorError) -> (ExportedModel, rs_run) {
        guard let model, let call else { throw .invalidArgument(op: what, detail: "no model or run") }
        let m = Unmanaged<ExportedModel>.fromOpaque(UnsafeRawPointer(model)).takeUnretainedValue()
        let r = call.pointee
        let u = Int(r.unit)
        guard u >= 0, u < m.blocks.count, r.first_block >= 0, r.count >= 1, Int(r.first_block) + Int(r.count) <= m.blocks[u],
              !oneBlock || r.count == 1, r.parameter_count >= 0, r.parameter_count == 0 || r.parameters != nil else {
            throw .invalidArgument(op: what, detail: "unit \(r.unit), blocks \(r.first_block)…\(Int(r.first_block) + Int(r.count) - 1) "
                                   + "do not fit a model of \(m.blocks) blocks per unit" + (oneBlock ? " (one block per call)" : ""))
        }
        return (m, r)
    }

    /// The engine's context for a run: the run's threads, `counter`, and this model's
    /// workspace (its kept transforms only for parameters with a generation).
    func context(_ r: rs_run, _ counter: EvaluationCounter) -> EngineContext {
        EngineContext(threads: ComputeThreads(Int(r.threads)), counter: counter,
                      workspace: r.parameters_generation == 0 ? transient : workspace)
    }

    /// Block i of the run's parameters: copied from the host's views, or the copies kept for
    /// the run's generation (a new generation drops the old one's copies and transforms).
    func parameters(_ r: rs_run, _ i: Int) -> [Tensor] {
        let n = Int(r.parameter_count)
        let copy = { tensors(r.parameters.map { $0 + i * n }, r.parameter_count) }
        let generation = r.parameters_generation
        guard generation != 0 else { return copy() }
        let key = Int64(r.unit) << 32 | Int64(Int(r.first_block) + i)
        let (found, stale) = kept.withLock { k -> ([Tensor]?, Bool) in
            if k.generation != generation { k = (generation, [:]); return (nil, true) }
            return (k.byBlock[key], false)
        }
        if stale { workspace.weights?.removeAll() }
        if let found { return found }
        let made = copy()
        kept.withLock { k in if k.generation == generation { k.byBlock[key] = made } }
        return made
    }
}

/// Runs `body`, turning a thrown error into the status and message of the ABI.
func run(_ out: UnsafeMutablePointer<rs_error>?, _ body: () throws(TensorError) -> Void) -> rs_status {
    do {
        try body()
        return rs_status(RS_OK)
    } catch {
        return fail(out, error.description)
    }
}

func fail(_ error: UnsafeMutablePointer<rs_error>?, _ message: String, _ status: rs_status = rs_status(RS_FAILED)) -> rs_status {
    if let error {
        withUnsafeMutableBytes(of: &error.pointee.message) { raw in
            let bytes = Array(message.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
    }
    return status
}

#if canImport(Glibc)
import Glibc
#endif
