// PluginExport: the plugin side of revserve_plugin.h for an architecture written in Swift:
// one static rs_plugin table whose C functions convert host tensors to Tensor values, call the
// ReversibleArchitecture, and hand results back as plugin-owned lists and tapes. A plugin
// library is one call: `PluginExport.entry(Hamiltonian(), ...)` from its exported symbol.
// Nothing Swift crosses the boundary; only the C types of the header.

import Locking
import PluginABI
import RevNet
import Tensor

public enum PluginExport {
    /// The one architecture this library exports (set by `entry`, read by the C functions).
    nonisolated(unsafe) static var architecture: (any ReversibleArchitecture)?
    nonisolated(unsafe) static var table: UnsafeMutablePointer<rs_plugin>?
    /// The host's ABI minor: rs_block_call.weights_fixed exists only from 1.1 on, parameters_id
    /// from 1.2.
    nonisolated(unsafe) static var hostMinor: UInt32 = 0
    static let lock = Locked<Void>(())

    /// The table for `architecture`, or nil if the host's ABI major is not ours.
    public static func entry(_ architecture: any ReversibleArchitecture, description: String,
                             hostMajor: UInt32, hostMinor: UInt32 = 0) -> UnsafePointer<rs_plugin>? {
        guard hostMajor == UInt32(REVSERVE_PLUGIN_ABI_MAJOR) else { return nil }
        return lock.withLock { _ in
            Self.hostMinor = hostMinor
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
            t.pointee.release_caches = {
                Conv3x3.releaseCaches()
                KeptParameters.shared.removeAll()
            }
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

        t.pointee.enter = { x, out, error in
            run(error) { () throws(TensorError) in out?.pointee = export(try PluginExport.arch.enter(tensor(x!)).parts) }
        }
        t.pointee.exit = { state, parts, out, error in
            run(error) { () throws(TensorError) in
                out?.pointee = export([try PluginExport.arch.exit(BlockState(tensors(state, parts)))])
            }
        }
        t.pointee.exit_gradient = { dx, final, parts, out, error in
            run(error) { () throws(TensorError) in
                out?.pointee = export(try PluginExport.arch.exitGradient(tensor(dx!), finalState: BlockState(tensors(final, parts))).parts)
            }
        }
        t.pointee.enter_gradient = { dstate, parts, out, error in
            run(error) { () throws(TensorError) in
                out?.pointee = export([try PluginExport.arch.enterGradient(BlockState(tensors(dstate, parts)))])
            }
        }
        t.pointee.forward = { call, state, parts, out, tape, error in
            blockStep(call!, state, parts, out, tape, error) { j, p, s, h, ctx throws(TensorError) in
                try PluginExport.arch.forward(block: j, parameters: p, state: s, h: h, ctx)
            }
        }
        t.pointee.forward_blocks = { calls, count, state, parts, out, error in
            run(error) { () throws(TensorError) in
                out?.pointee = export(try runBlocks(calls!, count, BlockState(tensors(state, parts))).parts)
            }
        }
        t.pointee.forward_unit = { calls, count, x, out, error in
            run(error) { () throws(TensorError) in
                let arch = PluginExport.arch
                let state = try runBlocks(calls!, count, arch.enter(tensors(x, 1)[0]))
                out?.pointee = export([try arch.exit(state)])
            }
        }
        t.pointee.reconstruct = { call, output, parts, out, tape, error in
            blockStep(call!, output, parts, out, tape, error) { j, p, s, h, ctx throws(TensorError) in
                try PluginExport.arch.reconstruct(block: j, parameters: p, output: s, h: h, ctx)
            }
        }
        t.pointee.backward = { call, tape, gradient, parts, gradients, out, error in
            run(error) { () throws(TensorError) in
                let (ctx, counter) = context(call!)
                let p = parameters(call!)
                var g = p.map { Tensor(zeros: $0.shape) }
                let box = Unmanaged<TapeBox>.fromOpaque(UnsafeRawPointer(tape!)).takeUnretainedValue()
                let input = try PluginExport.arch.backward(block: Int(call!.pointee.block), parameters: p, tape: box.tape,
                                                           outputGradient: BlockState(tensors(gradient, parts)),
                                                           gradients: &g, h: call!.pointee.h, ctx)
                call!.pointee.evaluations = Int64(counter.count)
                for (i, t) in g.enumerated() {
                    let dst = gradients![i]!
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

/// forward and reconstruct: a state in, a state and a tape out, evaluations counted.
func blockStep(_ call: UnsafeMutablePointer<rs_block_call>, _ state: UnsafePointer<rs_tensor_in>?, _ parts: Int32,
               _ out: UnsafeMutablePointer<OpaquePointer?>?, _ tape: UnsafeMutablePointer<OpaquePointer?>?,
               _ error: UnsafeMutablePointer<rs_error>?,
               _ step: (Int, [Tensor], BlockState, Float, EngineContext) throws(TensorError) -> (BlockState, BlockTape)) -> rs_status {
    run(error) { () throws(TensorError) in
        let (ctx, counter) = context(call)
        let (result, kept) = try step(Int(call.pointee.block), parameters(call), BlockState(tensors(state, parts)), call.pointee.h, ctx)
        call.pointee.evaluations = Int64(counter.count)
        out?.pointee = export(result.parts)
        tape?.pointee = OpaquePointer(Unmanaged.passRetained(TapeBox(kept)).toOpaque())
    }
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

/// forward_blocks' work: the calls' blocks from `state`, each call reporting its evaluations; on
/// slices of a large batch, as the host's engine runs them (BatchSlicing.swift).
func runBlocks(_ calls: UnsafeMutablePointer<rs_block_call>, _ count: Int32, _ state: BlockState) throws(TensorError) -> BlockState {
    let calls = (0..<Int(count)).map { calls + $0 }
    let contexts = calls.map { context($0) }
    let steps = zip(calls, contexts).map { call, context in
        BlockStep(block: Int(call.pointee.block), context: context.0) { parameters(call) }
    }
    let s = try PluginExport.arch.forward(steps: steps, state: state, h: calls.first?.pointee.h ?? 0)
    for (call, context) in zip(calls, contexts) { call.pointee.evaluations = Int64(context.1.count) }
    return s
}

/// The call's parameters as tensors: copied from the host's views, or the copies kept under
/// the call's parameters_id (ABI 1.2), whose storage the convolutions' weight cache then
/// recognises without comparing the values.
func parameters(_ call: UnsafeMutablePointer<rs_block_call>) -> [Tensor] {
    let id = PluginExport.hostMinor >= 2 ? call.pointee.parameters_id : 0
    guard id != 0 else { return tensors(call.pointee.parameters, call.pointee.parameter_count) }
    return KeptParameters.shared.parameters(id) { tensors(call.pointee.parameters, call.pointee.parameter_count) }
}

/// Copies of parameters kept by their parameters_id, up to a budget (then all are dropped:
/// the host names at most a few models' blocks), and until release_caches.
final class KeptParameters: Sendable {
    static let shared = KeptParameters(budgetBytes: 64 << 20)
    private let kept = Locked<(byID: [UInt64: [Tensor]], bytes: Int)>(([:], 0))
    private let budgetBytes: Int

    init(budgetBytes: Int) { self.budgetBytes = budgetBytes }

    func parameters(_ id: UInt64, copy: () -> [Tensor]) -> [Tensor] {
        if let found = kept.withLock({ $0.byID[id] }) { return found }
        let made = copy(), bytes = made.reduce(0) { $0 + 4 * $1.count }
        kept.withLock { k in
            if k.bytes + bytes > budgetBytes { k = ([:], 0) }
            if k.byID.updateValue(made, forKey: id) == nil { k.bytes += bytes }
        }
        return made
    }

    func removeAll() { kept.withLock { $0 = ([:], 0) } }
}

func context(_ call: UnsafeMutablePointer<rs_block_call>) -> (EngineContext, EvaluationCounter) {
    let counter = EvaluationCounter()
    let fixed = PluginExport.hostMinor >= 1 && call.pointee.weights_fixed != 0
    return (EngineContext(threads: ComputeThreads(Int(call.pointee.threads)), counter: counter, weightsFixed: fixed), counter)
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
