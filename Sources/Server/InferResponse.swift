// InferResponse: the infer answer on the wire: JSON tensors, or a JSON header followed by
// binary tensor data for the outputs asked for in binary (Inference-Header-Content-Length),
// and Triton's classification form ("value:index:label" strings, highest first).

import Foundation
import HTTPTypes
import Hummingbird
import Inference

/// What a model computed for a request: n rows of `classes` values each.
struct ModelResult: Sendable {
    var count: Int
    var logits: [Float]
    var probabilities: [Float]
}

/// The encoder of every JSON answer: sorted keys, and overflowing logits written as strings
/// rather than turning an answer into a 500.
func answerEncoder() -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return encoder
}

enum InferResponse {
    private struct WireOutput: Encodable {
        enum Values: Encodable {
            case floats([Float]), strings([String])
            func encode(to encoder: any Encoder) throws {
                switch self {
                case .floats(let v): try v.encode(to: encoder)
                case .strings(let v): try v.encode(to: encoder)
                }
            }
        }
        var name: String
        var datatype: String
        var shape: [Int]
        var parameters: [String: Int]?
        var data: Values?
    }

    private struct WireResponse: Encodable {
        var model_name: String
        var model_version: String
        var id: String?
        var outputs: [WireOutput]
    }

    static func encode(_ result: ModelResult, for request: InferRequest, model: ModelDescriptor) throws -> Response {
        let classes = model.classes
        var outputs: [WireOutput] = []
        var binary: [UInt8] = []
        for o in request.outputs {
            let values = o.name == "logits" ? result.logits : result.probabilities
            var out: WireOutput
            let data: WireOutput.Values
            if let k = o.classification {
                data = .strings(classificationStrings(values, rows: result.count, top: k, labels: model.labels))
                out = WireOutput(name: o.name, datatype: "BYTES", shape: [result.count, k])
            } else {
                data = .floats(values)
                out = WireOutput(name: o.name, datatype: "FP32", shape: [result.count, classes])
            }
            if o.binary {
                let before = binary.count
                switch data {
                case .floats(let v): BinaryTensor.appendFloats(v, to: &binary)
                case .strings(let v): BinaryTensor.appendBytes(v, to: &binary)
                }
                out.parameters = ["binary_data_size": binary.count - before]
            } else {
                out.data = data
            }
            outputs.append(out)
        }
        let header = try answerEncoder().encode(WireResponse(model_name: model.name, model_version: String(model.version),
                                                     id: request.id, outputs: outputs))
        var headers: HTTPFields = [.modelVersion: String(model.version)]
        var body = ByteBuffer()
        body.writeBytes(header)
        if binary.isEmpty {
            headers[.contentType] = "application/json"
        } else {
            headers[.contentType] = "application/octet-stream"
            headers[.inferenceHeaderContentLength] = String(header.count)
            body.writeBytes(binary)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    /// Per row, the `top` highest values as "value:index:label", highest first.
    static func classificationStrings(_ values: [Float], rows: Int, top: Int, labels: [String]) -> [String] {
        let classes = labels.count
        var out: [String] = []
        out.reserveCapacity(rows * top)
        for r in 0..<rows {
            let row = values[(r * classes)..<((r + 1) * classes)]
            for i in topIndices(row, k: top) {
                out.append(String(format: "%f", Double(row[row.startIndex + i])) + ":\(i):\(labels[i])")
            }
        }
        return out
    }

    /// Indices (0-based within `row`) of the k largest values, largest first, ties by index.
    static func topIndices(_ row: ArraySlice<Float>, k: Int) -> [Int] {
        let base = row.startIndex
        return Array(row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(k).map { $0 - base })
    }
}
