// InferRequest: an infer request decoded from the wire (JSON, or JSON plus binary tensor data)
// and checked against the model it is for: one input, `image` (BYTES [N], encoded PNGs) or
// `input` (FP32 [N, C, H, W]), and the outputs to answer with.

import Bounds
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
    /// Every number in it is bounded by `limits` before any arithmetic or allocation uses it.
    static func decode(_ body: ByteBuffer, headerLength: Int?, model: ModelDescriptor, limits: RequestLimits) throws(APIError) -> InferRequest {
        let bytes = Array(body.readableBytesView)
        if headerLength == 0 {
            guard !bytes.isEmpty else { throw .badRequest("empty body: a raw request (Inference-Header-Content-Length: 0) carries one PNG image") }
            return InferRequest(id: nil, input: .images([bytes]), outputs: defaultOutputs(binary: false), timeoutNanos: nil)
        }
        let jsonLength = headerLength ?? bytes.count
        guard jsonLength <= bytes.count else {
            throw .badRequest("Inference-Header-Content-Length is \(jsonLength) but the body has only \(bytes.count) bytes")
        }
        let header = bytes[0..<jsonLength]
        do {
            try JSONShape.check(header, limits.jsonShape(inputSize: model.inputSize))
        } catch {
            throw .badRequest("inference request \(error.message)")
        }
        let wire: WireRequest
        do {
            wire = try JSONDecoder().decode(WireRequest.self, from: Data(header))
        } catch {
            throw .badRequest("malformed inference request JSON: \(APIError.describe(error))")
        }
        var binary = bytes[jsonLength...]
        return try validate(wire, binary: &binary, model: model, limits: limits)
    }

    private static func validate(_ wire: WireRequest, binary: inout ArraySlice<UInt8>, model: ModelDescriptor,
                                 limits: RequestLimits) throws(APIError) -> InferRequest {
        if let id = wire.id, id.utf8.count > RequestLimits.maxIDBytes {
            throw .badRequest("the request id is \(id.utf8.count) bytes; the limit is \(RequestLimits.maxIDBytes)")
        }
        guard wire.inputs.count == 1, let w = wire.inputs.first else {
            throw .badRequest("a request has exactly one input, 'image' (BYTES [N], PNG images) or 'input' (FP32 \(shapeText([-1] + model.inputShape))); got \(wire.inputs.count)")
        }
        var raw: ArraySlice<UInt8>?
        if let sizeParameter = w.parameters?["binary_data_size"] {
            // Bounded by the bytes that follow the header, themselves within --max-body-bytes.
            guard let size = sizeParameter.int, size >= 0 else {
                throw .badRequest("input \(quoted(w.name)): binary_data_size must be a non-negative integer")
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
        guard w.shape.count <= RequestLimits.maxShapeRank else {
            throw .badRequest("input \(quoted(w.name)): a shape has at most \(RequestLimits.maxShapeRank) dimensions, not \(w.shape.count)")
        }
        guard w.shape.allSatisfy({ $0 >= 0 }), let n = w.shape.first, n >= 1 else {
            throw .badRequest("input \(quoted(w.name)): shape \(shapeText(w.shape)) must start with a batch size of at least 1 and have no negative sizes")
        }
        // The batch size is bounded before anything is sized by it.
        try limits.checkImages(n, inputSize: model.inputSize)
        let input: Input
        switch w.name {
        case "image":
            guard w.datatype == "BYTES" else { throw .badRequest("input 'image' has datatype BYTES (encoded PNGs), not \(w.datatype)") }
            guard w.shape == [n] || w.shape == [n, 1] else {
                throw .badRequest("input 'image' has shape [N] (one PNG per element), not \(shapeText(w.shape))")
            }
            let images: [[UInt8]]
            if let raw {
                images = try BinaryTensor.splitBytes(raw, tensor: "image", maxElements: limits.maxImagesPerRequest)
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
            // n is within --max-images-per-request and the model's input size is bounded when it
            // loads, but the products are checked all the same: a trap here would be an outage.
            guard let count = Checked.product(w.shape), let byteCount = Checked.product(count, MemoryLayout<Float>.size) else {
                throw .tooLarge("input 'input': shape \(shapeText(w.shape)) is too large")
            }
            let values: [Float]
            if let raw {
                guard raw.count == byteCount else {
                    throw .badRequest("input 'input': binary_data_size is \(raw.count) bytes; shape \(shapeText(w.shape)) of FP32 needs \(byteCount)")
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
            throw .badRequest("unknown input \(quoted(w.name)): model '\(model.name)' takes 'image' (BYTES [N], PNG images) or 'input' (FP32 \(shapeText([-1] + model.inputShape)))")
        }

        let binaryByDefault = wire.parameters?["binary_data_output"]?.bool ?? false
        var outputs: [Output] = []
        for o in wire.outputs ?? [] {
            guard outputNames.contains(o.name) else {
                throw .badRequest("unknown output \(quoted(o.name)): the outputs are 'logits' and 'probabilities'")
            }
            // Each output is answered once: a list of repeats would multiply the answer's size.
            guard !outputs.contains(where: { $0.name == o.name }) else {
                throw .badRequest("output '\(o.name)' is requested twice")
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
            let name = "parameter 'timeout'"
            guard let us = t.int else { throw .badRequest(RequestLimits.timeoutBound.refusal(name, "a non-integer")) }
            if let why = RequestLimits.timeoutBound.violation(name, us) { throw .badRequest(why) }
            // 0 is Triton's "no timeout". Within the bound (at most an hour), microseconds · 1000
            // fits a UInt64 many times over.
            timeout = us == 0 ? nil : UInt64(us) * 1000
        }
        return InferRequest(id: wire.id, input: input, outputs: outputs, timeoutNanos: timeout)
    }

    static func defaultOutputs(binary: Bool) -> [Output] {
        outputNames.map { Output(name: $0, classification: nil, binary: binary) }
    }
}

func shapeText(_ shape: [Int]) -> String {
    let shown = shape.prefix(RequestLimits.maxShapeRank).map(String.init).joined(separator: ", ")
    return "[" + shown + (shape.count > RequestLimits.maxShapeRank ? ", …" : "") + "]"
}

/// A client's name quoted for a message, cut short: a message never echoes a megabyte back.
func quoted(_ name: String) -> String { "'" + clipped(name) + "'" }

/// A client's text for a message: itself up to 64 bytes, else its start and its length.
func clipped(_ text: some StringProtocol) -> String {
    text.utf8.count <= 64 ? String(text) : "\(text.prefix(48))… (\(text.utf8.count) bytes)"
}
