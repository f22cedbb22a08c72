// ClassifyRequest: revserve's classify shortcut: the body is one PNG, or multipart/form-data
// with one image per part; the answer lists the top-k labels with probabilities per image.

import Foundation
import HTTPTypes
import Hummingbird
import Inference
import MultipartKit

enum ClassifyRequest {
    struct Image {
        var name: String
        var bytes: [UInt8]
    }

    /// `?top=k`, default 5, at most the number of classes.
    static func top(_ value: String?, classes: Int) throws(APIError) -> Int {
        guard let value else { return min(5, classes) }
        guard let k = Int(value), k >= 1 else { throw .badRequest("top must be a positive integer, not '\(value)'") }
        return min(k, classes)
    }

    static func images(_ body: ByteBuffer, contentType: String?) throws(APIError) -> [Image] {
        let type = contentType?.lowercased() ?? ""
        guard type.hasPrefix("multipart/") else {
            guard body.readableBytes > 0 else { throw .badRequest("empty body: send one PNG, or multipart/form-data with image parts") }
            return [Image(name: "image 0", bytes: Array(body.readableBytesView))]
        }
        guard type.hasPrefix("multipart/form-data"), let boundary = boundary(contentType!) else {
            throw .badRequest("multipart bodies must be multipart/form-data with a boundary parameter")
        }
        return try parts(body, boundary: boundary)
    }

    static func boundary(_ contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let kv = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if kv.count == 2, kv[0].lowercased() == "boundary" {
                let v = kv[1]
                return v.count >= 2 && v.hasPrefix("\"") && v.hasSuffix("\"") ? String(v.dropFirst().dropLast()) : v
            }
        }
        return nil
    }

    /// The parts of a multipart body, each an image named by its filename when it has one.
    private static func parts(_ body: ByteBuffer, boundary: String) throws(APIError) -> [Image] {
        final class Collector {
            var images: [Image] = []
            var bytes: [UInt8] = []
            var filename: String?
            var open = false
        }
        let c = Collector()
        let parser = MultipartParser(boundary: boundary)
        parser.onHeader = { field, value in
            c.open = true
            if field.lowercased() == "content-disposition", let r = value.range(of: "filename=") {
                c.filename = value[r.upperBound...].split(separator: ";").first
                    .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\" ")) }
            }
        }
        parser.onBody = { buffer in c.bytes += buffer.readableBytesView; buffer.moveReaderIndex(to: buffer.writerIndex) }
        parser.onPartComplete = {
            let index = c.images.count
            c.images.append(Image(name: "image \(index)" + (c.filename.map { " ('\($0)')" } ?? ""), bytes: c.bytes))
            c.bytes = []
            c.filename = nil
            c.open = false
        }
        do {
            try parser.execute(body)
        } catch {
            throw .badRequest("malformed multipart body after \(c.images.count) complete parts: \(error)")
        }
        guard !c.open, !c.bytes.isEmpty || !c.images.isEmpty else {
            throw .badRequest(c.images.isEmpty ? "the multipart body has no complete parts (is the boundary right?)"
                                               : "the multipart body ends inside part \(c.images.count)")
        }
        return c.images
    }

    private struct Prediction: Encodable {
        var label: String
        var index: Int
        var probability: Float
    }

    private struct Answer: Encodable {
        var model_name: String
        var model_version: String
        var predictions: [[Prediction]]
    }

    static func response(_ result: ModelResult, top: Int, model: ModelDescriptor) throws -> Response {
        let k = model.classes
        let predictions = (0..<result.count).map { r in
            let row = result.probabilities[(r * k)..<((r + 1) * k)]
            return InferResponse.topIndices(row, k: top).map {
                Prediction(label: model.labels[$0], index: $0, probability: row[row.startIndex + $0])
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let data = try encoder.encode(Answer(model_name: model.name, model_version: String(model.version), predictions: predictions))
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
