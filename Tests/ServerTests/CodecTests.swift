// CodecTests: the protocol codecs without a socket: nested JSON tensors, binary BYTES and
// FP32 encodings (round trip), multipart boundaries, top-k order, softmax stability.

import Foundation
import Inference
import NIOCore
@testable import Server
import Testing
import Formats

let descriptor = ModelDescriptor(name: "m", version: 3, architecture: "p", inputShape: [1, 2, 2], labels: ["a", "b", "c"],
                                 preprocessor: ImagePreprocessor(inputShape: [1, 2, 2], mean: [0], std: [1]))

func decode(_ json: String, binary: [UInt8] = []) throws(APIError) -> InferRequest {
    let header = Array(json.utf8)
    return try InferRequest.decode(ByteBuffer(bytes: header + binary), headerLength: binary.isEmpty ? nil : header.count, model: descriptor,
                                   limits: RequestLimits())
}

@Suite struct CodecTests {
    @Test func nestedAndFlatJSONDataAreTheSameTensor() throws {
        let flat = try decode(#"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,2,2],"data":[1,2,3,4]}]}"#)
        let nested = try decode(#"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,2,2],"data":[[[[1,2],[3,4]]]]}]}"#)
        guard case .tensor(let a, 1) = flat.input, case .tensor(let b, 1) = nested.input else { Issue.record("not tensors"); return }
        #expect(a == [1, 2, 3, 4] && a == b)
        #expect(flat.outputs.map(\.name) == ["logits", "probabilities"] && flat.outputs.allSatisfy { !$0.binary })
        #expect(throws: APIError.self) {
            try decode(#"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,2,2],"data":[1,2,3,1e39]}]}"#)
        }
        #expect(throws: APIError.self) { try decode(#"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,2,2],"data":[1,2,3,null]}]}"#) }
    }

    /// The JSON scan refuses nesting past 32 levels; behind it, Foundation refuses past 512 and
    /// FlatData recurses once per level. Measured: 500 levels of data (inside the request's
    /// three, near Foundation's limit) overflow a 256 KiB thread stack (256 levels do not) and
    /// decode on 512 KiB; the cooperative pool's threads have far more. The scan refuses at 32,
    /// 8 times below what a 256 KiB stack survives.
    @Test func theDecodersSurviveDepthsFarBeyondTheScan() throws {
        for depth in [33, 128, 500] {
            let json = #"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,2,2],"data":"# + String(repeating: "[", count: depth)
                + "1,2,3,4" + String(repeating: "]", count: depth) + "}]}"
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var decoded = 0
            let thread = Thread {
                decoded = (try? JSONDecoder().decode(WireRequest.self, from: Data(json.utf8)))?.inputs.first?.data?.numbers.count ?? -1
                done.signal()
            }
            thread.stackSize = 512 << 10
            thread.start()
            done.wait()
            #expect(decoded == 4, "depth \(depth): \(decoded)")
            // The daemon's decoder refuses it first, naming the limit.
            #expect(throws: APIError(.badRequest, "inference request JSON: nested more than 32 levels deep (under 'inputs')")) { try decode(json) }
        }
    }

    @Test func binaryElementsRoundTrip() throws {
        var bytes: [UInt8] = []
        BinaryTensor.appendBytes(["", "x", "héllo"], to: &bytes)
        #expect(bytes.count == 12 + 0 + 1 + 6)
        let split = try BinaryTensor.splitBytes(bytes[...], tensor: "t", maxElements: 16)
        #expect(split.map { String(decoding: $0, as: UTF8.self) } == ["", "x", "héllo"])
        #expect(throws: APIError.self) { try BinaryTensor.splitBytes(bytes.dropLast()[...], tensor: "t", maxElements: 16) }
        #expect(throws: APIError.self) { try BinaryTensor.splitBytes([5, 0, 0][...], tensor: "t", maxElements: 16) }
        // Empty elements are counted as they are found: 4 MB of zero prefixes is refused at 16.
        #expect(throws: APIError(.contentTooLarge, "input 't': the binary data holds more than 16 elements (the server's --max-images-per-request)")) {
            try BinaryTensor.splitBytes([UInt8](repeating: 0, count: 4 << 20)[...], tensor: "t", maxElements: 16)
        }

        var floats: [UInt8] = []
        BinaryTensor.appendFloats([1.5, -0, .greatestFiniteMagnitude, 3], to: &floats)
        #expect(floats[0..<4] == [0, 0, 0xC0, 0x3F])   // 1.5f, little-endian
        #expect(BinaryTensor.floats(floats[...]) == [1.5, -0, .greatestFiniteMagnitude, 3])

        let request = try decode(#"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,2,2],"parameters":{"binary_data_size":16}}],"parameters":{"binary_data_output":true,"timeout":250}}"#,
                                 binary: floats.suffix(16).count == 16 ? Array(floats) : [])
        guard case .tensor(let v, 1) = request.input else { Issue.record("not a tensor"); return }
        #expect(v.count == 4 && request.outputs.allSatisfy(\.binary) && request.timeoutNanos == 250_000)
    }

    @Test func classificationAndTopK() {
        let values: [Float] = [0.1, 0.7, 0.2, /* row 2 */ 0.5, 0.5, 0.0]
        #expect(InferResponse.classificationStrings(values, rows: 2, top: 2, labels: ["a", "b", "c"])
            == ["0.700000:1:b", "0.200000:2:c", "0.500000:0:a", "0.500000:1:b"])
        #expect(InferResponse.topIndices(values[3...], k: 3) == [0, 1, 2])
        let p = Probabilities.softmax([1000, 0, -1000, 1, 2, 3], classes: 3)
        #expect(p[0] == 1 && p[1] == 0 && p.allSatisfy(\.isFinite))
        #expect(abs(p[3...].reduce(0, +) - 1) < 1e-6)
    }

    @Test func multipartBoundaries() throws {
        #expect(ClassifyRequest.boundary("multipart/form-data; boundary=abc") == "abc")
        #expect(ClassifyRequest.boundary("multipart/form-data; charset=utf-8; boundary=\"a b\"") == "a b")
        #expect(ClassifyRequest.boundary("multipart/form-data") == nil)
        let body = "--B\r\nContent-Disposition: form-data; name=\"x\"; filename=\"one.png\"\r\n\r\n12\r\n--B\r\nContent-Disposition: form-data; name=\"y\"\r\n\r\n345\r\n--B--\r\n"
        let images = try ClassifyRequest.images(ByteBuffer(string: body), contentType: "multipart/form-data; boundary=B")
        #expect(images.map(\.name) == ["image 0 ('one.png')", "image 1"] && images.map(\.bytes) == [Array("12".utf8), Array("345".utf8)])
        #expect(throws: APIError.self) {
            try ClassifyRequest.images(ByteBuffer(string: "--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n12"),
                                       contentType: "multipart/form-data; boundary=B")
        }
        #expect(throws: APIError.self) { try ClassifyRequest.images(ByteBuffer(), contentType: "image/png") }
    }

    @Test func errorsMapToStatusesInOnePlace() {
        #expect(APIError.from(ModelLookupError.unknownModel("x", known: [])).status.code == 404)
        #expect(APIError.from(ModelLookupError.notReady("x", version: nil, state: .loading, reason: "")).status.code == 503)
        #expect(APIError.from(InferenceError.queueFull(retryAfter: 2)).retryAfter == 2)
        #expect(APIError.from(InferenceError.deadlineExceeded).status.code == 504)
        #expect(APIError.from(FormatError.imageTooLarge(file: "i", problem: "p")).status.code == 413)
        #expect(APIError.from(FormatError.image(file: "i", problem: "p")).status.code == 400)
    }
}
