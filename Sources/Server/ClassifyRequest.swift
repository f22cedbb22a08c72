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
        try checkHeaderNames(Array(body.readableBytesView), boundary: boundary)
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

    /// multipart-kit 4.7.1 traps (an array index out of range: the process dies) on a header
    /// name byte of 128 or more; found by `make fuzz`. Such bodies are refused before the parser
    /// sees them. From every place a part's headers could start (after any "--boundary"), this
    /// follows the parser's own header grammar (CR LF, then lines of name ':' value ending in
    /// CR LF, a value running to the next CR) and refuses a non-ASCII byte where it would read
    /// a name. It stops where the parser would stop with an error, and otherwise reads on.
    static func checkHeaderNames(_ bytes: [UInt8], boundary: String) throws(APIError) {
        let marker = Array(("--" + boundary).utf8)
        guard !marker.isEmpty, bytes.count > marker.count else { return }
        enum State { case cr, lf, name(empty: Bool), value, valueLF }
        let cr: UInt8 = 0x0D, lf: UInt8 = 0x0A, colon = UInt8(ascii: ":")
        var i = 0
        while i <= bytes.count - marker.count {
            guard bytes[i] == marker[0], bytes[i..<(i + marker.count)].elementsEqual(marker) else { i += 1; continue }
            var state = State.cr
            scan: for b in bytes[(i + marker.count)...] {
                switch state {
                case .cr: guard b == cr else { break scan }; state = .lf
                case .lf: guard b == lf else { break scan }; state = .name(empty: true)
                case .name(let empty):
                    if b == colon && !empty { state = .value }
                    else if b == cr && empty { break scan }          // the blank line: a body follows
                    else if b >= 0x80 {
                        throw .badRequest("a multipart part header name contains a non-ASCII byte (0x\(String(b, radix: 16))); header names must be ASCII")
                    } else { state = .name(empty: false) }
                case .value: if b == cr { state = .valueLF }
                case .valueLF: guard b == lf else { break scan }; state = .name(empty: true)
                }
            }
            i += marker.count
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
