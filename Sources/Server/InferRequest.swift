// InferRequest: an infer request decoded from the wire (JSON, or JSON plus binary tensor data)
// and checked against the model it is for: one input, `image` (BYTES [N], encoded PNGs) or
// `input` (FP32 [N, C, H, W]), and the outputs to answer with.

import Foundation
import Inference
import NIOCore

struct InferRequest {
    enum Input {
        /// Encoded images, in request order.
        case images([[UInt8]])
        /// n preprocessed inputs, n · C·H·W floats.
        case tensor([Float], count: Int)

        var count: Int {
            switch self {
            case .images(let images): return images.count
            case .tensor(_, let n): return n
            }
        }
    }

    struct Output: Equatable {
        var name: String
        /// Top-k classification strings instead of the tensor.
        var classification: Int?
        /// In the binary section rather than the JSON.
        var binary: Bool
    }

    static let outputNames = ["logits", "probabilities"]

    var id: String?
    var input: Input
    /// What to answer with, in order.
    var outputs: [Output]
    /// Longest time the request may wait in the queue (Triton's `timeout`, microseconds on the wire).
    var timeoutNanos: UInt64?

    /// Decodes a body. `headerLength` is the Inference-Header-Content-Length header's value:
    /// nil for a JSON body, 0 for a raw body that is a single image, else the JSON's length.
    static func decode(_ body: ByteBuffer, headerLength: Int?, model: ModelDescriptor) throws(APIError) -> InferRequest {
        let bytes = Array(body.readableBytesView)
        if headerLength == 0 {
            guard !bytes.isEmpty else { throw .badRequest("empty body: a raw request (Inference-Header-Content-Length: 0) carries one PNG image") }
            return InferRequest(id: nil, input: .images([bytes]), outputs: defaultOutputs(binary: false), timeoutNanos: nil)
        }
        let jsonLength = headerLength ?? bytes.count
        guard jsonLength <= bytes.count else {
            throw .badRequest("Inference-Header-Content-Length is \(jsonLength) but the body has only \(bytes.count) bytes")
        }
        let wire: WireRequest
        do {
            wire = try JSONDecoder().decode(WireRequest.self, from: Data(bytes[0..<jsonLength]))
        } catch {
            throw .badRequest("malformed inference request JSON: \(APIError.describe(error))")
        }
        var binary = bytes[jsonLength...]
        return try validate(wire, binary: &binary, model: model)
    }

    private static func validate(_ wire: WireRequest, binary: inout ArraySlice<UInt8>, model: ModelDescriptor) throws(APIError) -> InferRequest {
        guard wire.inputs.count == 1, let w = wire.inputs.first else {
            throw .badRequest("a request has exactly one input, 'image' (BYTES [N], PNG images) or 'input' (FP32 \(shapeText([-1] + model.inputShape))); got \(wire.inputs.count)")
        }
        var raw: ArraySlice<UInt8>?
        if let sizeParameter = w.parameters?["binary_data_size"] {
            guard let size = sizeParameter.int, size >= 0 else {
                throw .badRequest("input '\(w.name)': binary_data_size must be a non-negative integer")
            }
            guard size <= binary.count else {
                throw .badRequest("input '\(w.name)': binary_data_size is \(size) but only \(binary.count) bytes follow the JSON header")
            }
            guard w.data == nil else { throw .badRequest("input '\(w.name)' has both data and binary_data_size") }
            raw = binary.prefix(Int(size))
            binary = binary.dropFirst(Int(size))
        }
        guard binary.isEmpty else {
            throw .badRequest("\(binary.count) bytes follow the JSON header that no input's binary_data_size accounts for")
        }
        guard w.shape.allSatisfy({ $0 >= 0 }), let n = w.shape.first, n >= 1 else {
            throw .badRequest("input '\(w.name)': shape \(shapeText(w.shape)) must start with a batch size of at least 1 and have no negative sizes")
        }
        let input: Input
        switch w.name {
        case "image":
            guard w.datatype == "BYTES" else { throw .badRequest("input 'image' has datatype BYTES (encoded PNGs), not \(w.datatype)") }
            guard w.shape == [n] || w.shape == [n, 1] else {
                throw .badRequest("input 'image' has shape [N] (one PNG per element), not \(shapeText(w.shape))")
            }
            let images: [[UInt8]]
            if let raw {
                images = try BinaryTensor.splitBytes(raw, tensor: "image")
            } else {
                guard let data = w.data, data.numbers.isEmpty, data.bools.isEmpty else {
                    throw .badRequest("input 'image' needs data: base64 strings in JSON, or binary_data_size with binary tensor data")
                }
                images = try data.strings.enumerated().map { (i, s) throws(APIError) in
                    guard let d = Data(base64Encoded: s) else {
                        throw .badRequest("input 'image' element \(i): not base64 (JSON BYTES elements are base64-encoded PNGs)")
                    }
                    return Array(d)
                }
            }
            guard images.count == n else {
                throw .badRequest("input 'image' has shape \(shapeText(w.shape)) but carries \(images.count) elements")
            }
            input = .images(images)
        case "input":
            guard w.datatype == "FP32" else { throw .badRequest("input 'input' has datatype FP32, not \(w.datatype)") }
            guard w.shape == [n] + model.inputShape else {
                throw .badRequest("input 'input' has shape \(shapeText([-1] + model.inputShape)) for model '\(model.name)', not \(shapeText(w.shape))")
            }
            let (count, overflow) = w.shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            guard !overflow else { throw .badRequest("input 'input': shape \(shapeText(w.shape)) is too large") }
            let values: [Float]
            if let raw {
                guard raw.count == count * 4 else {
                    throw .badRequest("input 'input': binary_data_size is \(raw.count) bytes; shape \(shapeText(w.shape)) of FP32 needs \(count * 4)")
                }
                values = BinaryTensor.floats(raw)
            } else {
                guard let data = w.data, data.strings.isEmpty, data.bools.isEmpty else {
                    throw .badRequest("input 'input' needs data: numbers in JSON, or binary_data_size with binary tensor data")
                }
                guard data.numbers.count == count else {
                    throw .badRequest("input 'input' has shape \(shapeText(w.shape)) (\(count) elements) but carries \(data.numbers.count)")
                }
                values = data.numbers.map { Float($0) }
            }
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw .badRequest("input 'input' element \(bad) is \(values[bad]); inputs must be finite")
            }
            input = .tensor(values, count: n)
        default:
            throw .badRequest("unknown input '\(w.name)': model '\(model.name)' takes 'image' (BYTES [N], PNG images) or 'input' (FP32 \(shapeText([-1] + model.inputShape)))")
        }

        let binaryByDefault = wire.parameters?["binary_data_output"]?.bool ?? false
        var outputs: [Output] = []
        for o in wire.outputs ?? [] {
            guard outputNames.contains(o.name) else {
                throw .badRequest("unknown output '\(o.name)': the outputs are 'logits' and 'probabilities'")
            }
            var classification: Int?
            if let k = o.parameters?["classification"] {
                guard let v = k.int, v >= 1 else { throw .badRequest("output '\(o.name)': classification must be an integer of at least 1") }
                classification = Int(min(v, Int64(model.classes)))
            }
            outputs.append(Output(name: o.name, classification: classification, binary: o.parameters?["binary_data"]?.bool ?? binaryByDefault))
        }
        if outputs.isEmpty { outputs = defaultOutputs(binary: binaryByDefault) }

        var timeout: UInt64?
        if let t = wire.parameters?["timeout"] {
            guard let us = t.int, us >= 0 else { throw .badRequest("parameter 'timeout' must be a non-negative integer (microseconds)") }
            timeout = UInt64(us).multipliedReportingOverflow(by: 1000).overflow ? UInt64.max : UInt64(us) * 1000
        }
        return InferRequest(id: wire.id, input: input, outputs: outputs, timeoutNanos: timeout)
    }

    static func defaultOutputs(binary: Bool) -> [Output] {
        outputNames.map { Output(name: $0, classification: nil, binary: binary) }
    }
}

func shapeText(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
