// ClassifyRequest: revserve's classify shortcut: the body is one PNG, or multipart/form-data
// with one image per part; the answer lists the top-k labels with probabilities per image.

import Foundation
import HTTPTypes
import Hummingbird
import Inference

enum ClassifyRequest {
    struct Image {
        var name: String
        var bytes: [UInt8]
    }

    /// `?top=k`, default 5, at most the number of classes.
    static func top(_ value: String?, classes: Int) throws(APIError) -> Int {
        guard let value else { return min(5, classes) }
        guard let k = Int(value), k >= 1 else { throw .badRequest("top must be a positive integer, not \(quoted(value))") }
        return min(k, classes)
    }

    /// At most `maxImages` parts are kept: past that the body is refused (413) once parsed,
    /// without holding the rest.
    static func images(_ body: ByteBuffer, contentType: String?, maxImages: Int = RequestLimits().maxImagesPerRequest) throws(APIError) -> [Image] {
        let type = contentType?.lowercased() ?? ""
        guard type.hasPrefix("multipart/") else {
            guard body.readableBytes > 0 else { throw .badRequest("empty body: send one PNG, or multipart/form-data with image parts") }
            return [Image(name: "image 0", bytes: Array(body.readableBytesView))]
        }
        guard type.hasPrefix("multipart/form-data"), let boundary = boundary(contentType!) else {
            throw .badRequest("multipart bodies must be multipart/form-data with a boundary parameter")
        }
        return try parts(body, boundary: boundary, maxImages: maxImages)
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
    private static func parts(_ body: ByteBuffer, boundary: String, maxImages: Int) throws(APIError) -> [Image] {
        guard MultipartForm.validBoundary(boundary) else {
            throw .badRequest("the multipart boundary must be 1 to \(MultipartForm.maxBoundaryBytes) letters, digits or '()+_,-./:=? (RFC 2046), not \(quoted(boundary))")
        }
        let parts: [MultipartForm.Part]
        do throws(MultipartForm.Failure) {
            parts = try MultipartForm.parse(Array(body.readableBytesView), boundary: boundary, limits: .init(maxParts: maxImages))
        } catch {
            switch error {
            case .tooManyParts:
                throw .tooLarge("the request carries more than \(maxImages) images; the limit is \(maxImages) (raise the server's --max-images-per-request)")
            case .malformed(let why):
                throw .badRequest("malformed multipart body: \(why)")
            }
        }
        guard !parts.isEmpty else { throw .badRequest("the multipart body has no parts") }
        return parts.enumerated().map { index, part in
            Image(name: "image \(index)" + (part.filename.map { " ('\(clipped($0))')" } ?? ""), bytes: Array(part.body))
        }
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
        let data = try answerEncoder().encode(Answer(model_name: model.name, model_version: String(model.version), predictions: predictions))
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
