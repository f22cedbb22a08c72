// HostileCases: the hostile requests the suite sends, each with the answers it may get. Every
// case is raw bytes on its own connection, so that malformed HTTP reaches the server exactly
// as written; `closed` means the server may also just close the connection.

import Foundation
import Formats
import ServerTestSupport

struct HostileCase: Sendable {
    var name: String
    var bytes: [UInt8]
    /// Acceptable status codes.
    var expect: Set<Int>
    /// Whether a closed connection without an answer is also acceptable.
    var closed = false
}

/// The daemon's limits in this suite (passed on its command line).
/// Timeouts scale with testSlowdown: under a sanitizer, reading a 900 KB body honestly takes longer.
let suiteArguments = ["--max-body-bytes", "1000000", "--max-images-per-request", "16",
                      "--request-timeout-ms", "\(Int(1000 * testSlowdown))",
                      "--max-header-bytes", "8192", "--idle-timeout-ms", "\(Int(2000 * testSlowdown))"]

func request(_ method: String, _ path: String, headers: [String] = [], body: [UInt8] = [], contentLength: Bool = true) -> [UInt8] {
    var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    if contentLength { head += "Content-Length: \(body.count)\r\n" }
    for h in headers { head += h + "\r\n" }
    return Array((head + "\r\n").utf8) + body
}

func post(_ path: String, _ body: [UInt8], headers: [String] = []) -> [UInt8] { request("POST", path, headers: headers, body: body) }
func json(_ object: Any) -> [UInt8] { Array(try! JSONSerialization.data(withJSONObject: object)) }
func le32(_ n: UInt32) -> [UInt8] { withUnsafeBytes(of: n.littleEndian) { Array($0) } }

/// A PNG with the given header and no valid image data (for header-only refusals).
func pngHeader(width: UInt32, height: UInt32) -> [UInt8] {
    var ihdr: [UInt8] = Array("IHDR".utf8)
    ihdr += withUnsafeBytes(of: width.bigEndian) { Array($0) } + withUnsafeBytes(of: height.bigEndian) { Array($0) } + [8, 0, 0, 0, 0]
    return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + withUnsafeBytes(of: UInt32(13).bigEndian) { Array($0) } + ihdr + [0, 0, 0, 0]
}

func fixture(_ name: String) -> [UInt8] {
    Array((try? Data(contentsOf: repositoryRoot.appendingPathComponent("Tests/Fixtures/png/\(name)"))) ?? Data())
}

func hostileCases(goodPNG png: [UInt8]) throws -> [HostileCase] {
    let infer = "/v2/models/hamiltonian/infer", classify = "/v2/models/hamiltonian/classify"
    let b64 = Data(png).base64EncodedString()
    let image: (String, [Int], Any) -> [String: Any] = { ["inputs": [["name": "image", "datatype": $0, "shape": $1, "data": $2]]] }
    var crc = png
    crc[29] ^= 0xFF
    let big = try PNG.encode(PNGImage(width: 64, height: 64, channels: 4, bitDepth: 16, samples: [UInt16](repeating: 40000, count: 64 * 64 * 4)))
    let boundary = "hostile-boundary"
    func multipart(_ parts: Int, close: Bool = true, boundaryInBody: String = boundary) -> [UInt8] {
        var body: [UInt8] = []
        for i in 0..<parts {
            body += Array("--\(boundaryInBody)\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\(i).png\"\r\n\r\n".utf8) + png + Array("\r\n".utf8)
        }
        if close { body += Array("--\(boundaryInBody)--\r\n".utf8) }
        return body
    }
    let multipartType = "Content-Type: multipart/form-data; boundary=\(boundary)"
    let binaryHeader = Array(#"{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":8}}]}"#.utf8)

    return [
        // HTTP framing
        HostileCase(name: "garbage request line", bytes: Array("GARBAGE\r\n\r\n".utf8), expect: [400], closed: true),
        HostileCase(name: "binary noise", bytes: [0, 1, 2, 3, 255, 254, 13, 10, 13, 10], expect: [400], closed: true),
        HostileCase(name: "unknown method", bytes: request("BREW", "/v2"), expect: [400, 404, 405], closed: true),
        HostileCase(name: "HTTP/9.9", bytes: Array("GET /v2/health/live HTTP/9.9\r\n\r\n".utf8), expect: [400, 505], closed: true),
        HostileCase(name: "non-numeric Content-Length", bytes: Array("POST \(infer) HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n".utf8), expect: [400], closed: true),
        HostileCase(name: "conflicting Content-Lengths", bytes: Array("POST \(infer) HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n12345".utf8), expect: [400], closed: true),
        HostileCase(name: "negative Content-Length", bytes: Array("POST \(infer) HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".utf8), expect: [400], closed: true),
        HostileCase(name: "Content-Length beyond the limit", bytes: Array("POST \(infer) HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n{}".utf8), expect: [413], closed: true),
        HostileCase(name: "body shorter than Content-Length", bytes: Array("POST \(infer) HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inp".utf8), expect: [408], closed: true),
        HostileCase(name: "bad chunk size", bytes: Array("POST \(infer) HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n".utf8), expect: [400, 408], closed: true),
        HostileCase(name: "huge chunk", bytes: Array("POST \(infer) HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\nabc".utf8), expect: [400, 408, 413], closed: true),
        HostileCase(name: "header over --max-header-bytes", bytes: request("GET", "/v2", headers: ["X-Big: " + String(repeating: "a", count: 20_000)]), expect: [400, 431], closed: true),
        HostileCase(name: "too many headers", bytes: request("GET", "/v2", headers: (0..<300).map { "X-H\($0): v" }), expect: [400, 431], closed: true),
        HostileCase(name: "NUL in a header", bytes: Array("GET /v2 HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n".utf8), expect: [200, 400], closed: true),
        HostileCase(name: "no Host header", bytes: Array("GET /v2/health/live HTTP/1.1\r\nConnection: close\r\n\r\n".utf8), expect: [200, 400], closed: true),
        HostileCase(name: "100 KB URL", bytes: request("GET", "/v2/models/" + String(repeating: "a", count: 100_000)), expect: [400, 404, 414, 431], closed: true),
        // Names and versions
        HostileCase(name: "path traversal", bytes: request("GET", "/v2/models/../../etc/passwd/ready"), expect: [404]),
        HostileCase(name: "encoded slash in a name", bytes: request("GET", "/v2/models/ham%2Filtonian/ready"), expect: [404]),
        HostileCase(name: "dot-dot model", bytes: request("GET", "/v2/models/../ready"), expect: [404]),
        HostileCase(name: "non-numeric version", bytes: request("GET", "/v2/models/hamiltonian/versions/x/ready"), expect: [404]),
        HostileCase(name: "huge version", bytes: request("GET", "/v2/models/hamiltonian/versions/99999999999999999999999/ready"), expect: [404]),
        HostileCase(name: "invalid UTF-8 in the path", bytes: Array("GET /v2/models/\u{FF}".utf8) + [0xC3, 0x28] + Array(" HTTP/1.1\r\nHost: x\r\n\r\n".utf8), expect: [400, 404], closed: true),
        HostileCase(name: "unknown model infer", bytes: post("/v2/models/nope/infer", json(image("BYTES", [1], [b64]))), expect: [404]),
        // JSON
        HostileCase(name: "invalid UTF-8 in JSON", bytes: post(infer, [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D]), expect: [400]),
        HostileCase(name: "JSON nested 100 000 deep", bytes: post(infer, Array(("{\"inputs\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}").utf8)), expect: [400]),
        HostileCase(name: "900 KB of JSON numbers", bytes: post(infer, json(["inputs": [["name": "input", "datatype": "FP32", "shape": [1, 1, 28, 28], "data": [Double](repeating: 1.5, count: 150_000)]]])), expect: [400]),
        HostileCase(name: "JSON over --max-body-bytes", bytes: post(infer, Array(repeating: 0x20, count: 1_500_000)), expect: [413], closed: true),
        HostileCase(name: "top level not an object", bytes: post(infer, Array("[1,2,3]".utf8)), expect: [400]),
        HostileCase(name: "no inputs key", bytes: post(infer, Array("{}".utf8)), expect: [400]),
        HostileCase(name: "INT64 datatype", bytes: post(infer, json(image("INT64", [1], [1]))), expect: [400]),
        HostileCase(name: "negative dimension", bytes: post(infer, json(["inputs": [["name": "input", "datatype": "FP32", "shape": [1, 1, -28, 28], "data": [1]]]])), expect: [400]),
        HostileCase(name: "overflowing shape", bytes: post(infer, json(["inputs": [["name": "input", "datatype": "FP32", "shape": [1 << 40, 1 << 40, 1 << 40, 28], "data": [1]]]])), expect: [413]),
        HostileCase(name: "null in data", bytes: post(infer, Array(#"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,1,1],"data":[null]}]}"#.utf8)), expect: [400]),
        HostileCase(name: "NaN-like number", bytes: post(infer, Array(#"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,28,28],"data":[1e999]}]}"#.utf8)), expect: [400]),
        // Binary extension
        HostileCase(name: "binary_data_size beyond the body", bytes: post(infer, binaryHeader + [1, 2], headers: ["Inference-Header-Content-Length: \(binaryHeader.count)"]), expect: [400]),
        HostileCase(name: "negative binary_data_size", bytes: post(infer, Array(#"{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":-4}}]}"#.utf8), headers: ["Inference-Header-Content-Length: 90"]), expect: [400]),
        HostileCase(name: "header length beyond the body", bytes: post(infer, Array("{}".utf8), headers: ["Inference-Header-Content-Length: 1000"]), expect: [400]),
        HostileCase(name: "non-numeric header length", bytes: post(infer, Array("{}".utf8), headers: ["Inference-Header-Content-Length: lots"]), expect: [400]),
        HostileCase(name: "BYTES prefix beyond the data", bytes: post(infer, binaryHeader + le32(1000) + [1, 2, 3, 4], headers: ["Inference-Header-Content-Length: \(binaryHeader.count)"]), expect: [400]),
        HostileCase(name: "BYTES prefix 0xFFFFFFFF", bytes: post(infer, binaryHeader + le32(0xFFFF_FFFF) + [1, 2, 3, 4], headers: ["Inference-Header-Content-Length: \(binaryHeader.count)"]), expect: [400]),
        HostileCase(name: "more images than --max-images-per-request", bytes: post(infer, json(image("BYTES", [20], [String](repeating: b64, count: 20)))), expect: [413]),
        HostileCase(name: "classification of 10^18 classes", bytes: post(infer, json(["inputs": [["name": "image", "datatype": "BYTES", "shape": [1], "data": [b64]]], "outputs": [["name": "logits", "parameters": ["classification": 1_000_000_000_000_000_000]]]])), expect: [200]),
        HostileCase(name: "timeout of 10^18 µs (over an hour)", bytes: post(infer, json(["inputs": [["name": "image", "datatype": "BYTES", "shape": [1], "data": [b64]]], "parameters": ["timeout": 1_000_000_000_000_000_000]])), expect: [400]),
        // Images
        HostileCase(name: "truncated PNG", bytes: post(classify, Array(png.prefix(png.count / 2))), expect: [400]),
        HostileCase(name: "PNG with a bad CRC", bytes: post(classify, crc), expect: [400]),
        HostileCase(name: "PNG header of 100000×100000", bytes: post(classify, pngHeader(width: 100_000, height: 100_000)), expect: [413]),
        HostileCase(name: "PNG header of 5000×5000", bytes: post(classify, pngHeader(width: 5000, height: 5000)), expect: [413]),
        HostileCase(name: "zero-width PNG", bytes: post(classify, pngHeader(width: 0, height: 10)), expect: [400]),
        HostileCase(name: "16-bit RGBA PNG", bytes: post(classify, big), expect: [200]),
        HostileCase(name: "palette PNG with tRNS", bytes: post(classify, fixture("palette4-trns-interlaced.png")), expect: [200]),
        HostileCase(name: "1-bit gray interlaced PNG", bytes: post(classify, fixture("gray1-interlaced.png")), expect: [200]),
        HostileCase(name: "not a PNG at all", bytes: post(classify, Array("GIF89a....".utf8)), expect: [400]),
        // Multipart
        HostileCase(name: "multipart without its closing boundary", bytes: post(classify, multipart(1, close: false), headers: [multipartType]), expect: [200, 400]),
        HostileCase(name: "multipart with another boundary", bytes: post(classify, multipart(2, boundaryInBody: "other"), headers: [multipartType]), expect: [400]),
        HostileCase(name: "multipart without a boundary parameter", bytes: post(classify, multipart(1), headers: ["Content-Type: multipart/form-data"]), expect: [400]),
        HostileCase(name: "multipart with 40 parts", bytes: post(classify, multipart(40), headers: [multipartType]), expect: [413]),
        HostileCase(name: "multipart header name with a non-ASCII byte (crashed multipart-kit; found by make fuzz)",
                    bytes: post(classify, Array("--\(boundary)\r\nConte".utf8) + [0xE6] + Array("nt-Disposition: form-data; name=\"f\"\r\n\r\nabc\r\n--\(boundary)--\r\n".utf8),
                                headers: [multipartType]), expect: [400]),
        HostileCase(name: "empty classify body", bytes: post(classify, []), expect: [400]),
        HostileCase(name: "bad top", bytes: post(classify + "?top=-3", png), expect: [400]),
    ]
}
