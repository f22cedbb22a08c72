// ExtremeValueTests: classes of hostile input against the live daemon, one case at a time:
// extreme numbers in every numeric field of the infer header (the overflowing FP32 byte
// size among them), deep and wide JSON, multipart with thousands of parts and hostile
// boundaries, conflicting framing headers, odd but valid PNGs, out-of-range config.json keys
// and daemon flags. After every case the daemon is alive and a good request succeeds; a case
// that breaks that fails the test with the case's name.

import Foundation
import Formats
import ServerTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Sends one case and checks what the daemon may answer, then that it still serves.
struct Survival {
    let daemon: DaemonProcess
    let good: [UInt8]

    /// `allowed` nil: any 2xx or 4xx, or 503. Every 4xx must carry a JSON `error`; a closed
    /// connection is accepted only where `closeAllowed` (broken framing).
    func check(_ name: String, _ bytes: [UInt8], allowed: Set<Int>? = nil, closeAllowed: Bool = false,
               within seconds: Double = 10) async throws {
        let start = Date()
        let socket = daemon.socket
        let answer = try await onThread { try rawExchange(socket: socket, bytes, timeout: Int(20 * testSlowdown)) }
        let elapsed = Date().timeIntervalSince(start)
        let code = status(answer)
        if let code {
            let fine = allowed.map { $0.contains(code) } ?? ((200..<300).contains(code) || (400..<500).contains(code) || code == 503)
            #expect(fine, "\(name): answered \(code): \(answer.prefix(300))")
            if code >= 400 {
                #expect(answer.contains("application/json") && answer.contains("{\"error\":"), "\(name): \(code) without a JSON error: \(answer.prefix(300))")
            }
        } else {
            #expect(closeAllowed, "\(name): the connection closed without an answer")
        }
        #expect(elapsed < seconds * testSlowdown, "\(name): took \(elapsed) s")
        try await expectServing(after: name)
    }

    func expectServing(after name: String) async throws {
        guard daemon.process.isRunning else {
            Issue.record("\(name): the daemon died (status \(daemon.process.terminationStatus)): \(daemon.log.suffix(2000))")
            throw HarnessError.failed("daemon died on \(name)")
        }
        let r = try await daemon.post("/v2/models/hamiltonian/classify", good)
        #expect(r.status == 200, "\(name): a good request then got \(r.status) \(r.text.prefix(200))")
    }
}

/// The numbers every numeric field is tried with, as JSON text (so that each is exact).
let extremeNumbers = ["-1", "0", "1", "2147483647", "2147483648", "2147483649", "-2147483649", "4294967296",
                      "9007199254740992", "9007199254740993", "4611686018427387904", "9223372036854775807",
                      "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551616",
                      "3000000000000000", "1e300", "-1e300", "1e-300", "0.5", "2.5", "1.0", "1E2", "-0", "\"7\"", "null", "true"]

func postRaw(_ path: String, _ body: [UInt8], headers: [String] = []) -> [UInt8] {
    request("POST", path, headers: headers, body: body)
}

@Suite(.serialized, .timeLimit(.minutes(10 * testSlowdownMinutes))) struct ExtremeValueTests {
    @Test func extremeNumbersInEveryFieldOfTheInferHeaderNeverStopTheDaemon() async throws {
        let daemon = try await DaemonProcess(arguments: suiteArguments)
        let png = try sample("0009-sneaker.png")
        let survival = Survival(daemon: daemon, good: png)
        let infer = "/v2/models/hamiltonian/infer", b64 = Data(png).base64EncodedString()
        let bytesElement = le32(UInt32(png.count)) + png
        // Each template has one V where a number goes; binary ones carry bytes after the JSON.
        let templates: [(String, String, [UInt8])] = [
            ("image batch size", #"{"inputs":[{"name":"image","datatype":"BYTES","shape":[V],"data":["\#(b64)"]}]}"#, []),
            ("image shape [V, 1]", #"{"inputs":[{"name":"image","datatype":"BYTES","shape":[V,1],"data":["\#(b64)"]}]}"#, []),
            ("FP32 batch size, binary (count fits, bytes do not)", #"{"inputs":[{"name":"input","datatype":"FP32","shape":[V,1,28,28],"parameters":{"binary_data_size":0}}]}"#, []),
            ("FP32 channels, binary", #"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,V,28,28],"parameters":{"binary_data_size":0}}]}"#, []),
            ("FP32 height, JSON", #"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,V,28],"data":[1]}]}"#, []),
            ("FP32 width, JSON", #"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,28,V],"data":[1]}]}"#, []),
            ("FP32 data value", #"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,1,1],"data":[V]}]}"#, []),
            ("binary_data_size", #"{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":V}}]}"#, bytesElement),
            ("timeout", #"{"parameters":{"timeout":V},"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":["\#(b64)"]}]}"#, []),
            ("classification", #"{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":["\#(b64)"]}],"outputs":[{"name":"logits","parameters":{"classification":V}}]}"#, []),
            ("binary_data_output", #"{"parameters":{"binary_data_output":V},"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":["\#(b64)"]}]}"#, []),
            ("binary_data of an output", #"{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":["\#(b64)"]}],"outputs":[{"name":"probabilities","parameters":{"binary_data":V}}]}"#, []),
            ("id", #"{"id":V,"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":["\#(b64)"]}]}"#, []),
        ]
        var cases = 0
        for (field, template, binary) in templates {
            for v in extremeNumbers {
                let json = Array(template.replacingOccurrences(of: "V", with: v).utf8)
                let headers = template.contains("binary_data_size") ? ["Inference-Header-Content-Length: \(json.count)"] : []
                try await survival.check("\(field) = \(v)", postRaw(infer, json + binary, headers: headers))
                cases += 1
            }
        }
        // The same numbers where they arrive as text: a header, the query, the path.
        let header = Array(#"{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":\#(bytesElement.count)}}]}"#.utf8)
        for v in extremeNumbers + ["", " 5", "0x10", "+5", String(repeating: "9", count: 5000)] {
            try await survival.check("Inference-Header-Content-Length: \(v.prefix(30))",
                                     postRaw(infer, header + bytesElement, headers: ["Inference-Header-Content-Length: \(v)"]))
            let query = v.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            try await survival.check("?top=\(v.prefix(30))", postRaw("/v2/models/hamiltonian/classify?top=\(query)", png))
            try await survival.check("version \(v.prefix(30))", postRaw("/v2/models/hamiltonian/versions/\(query)/infer", Array("{}".utf8)))
            cases += 3
        }
        // PNG headers at the edges of IHDR's 32-bit sides (the independent probe's 2^32 − 1 square
        // overflowed the request's pixel count), raw, in binary BYTES and in JSON.
        for (w, h) in [(UInt32.max, UInt32.max), (0x8000_0000, 0x8000_0000), (0x7FFF_FFFF, 0x7FFF_FFFF), (UInt32.max, 1), (1, UInt32.max),
                       (65_536, 65_536), (0, UInt32.max), (4097, 4096)] {
            let header = pngHeader(width: w, height: h)
            try await survival.check("classify a PNG header of \(w)×\(h)", postRaw("/v2/models/hamiltonian/classify", header), allowed: [400, 413])
            let json = Array(#"{"inputs":[{"name":"image","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":\#(2 * (header.count + 4))}}]}"#.utf8)
            try await survival.check("infer two PNG headers of \(w)×\(h)", postRaw(infer, json + le32(UInt32(header.count)) + header + le32(UInt32(header.count)) + header,
                                                                                  headers: ["Inference-Header-Content-Length: \(json.count)"]), allowed: [400, 413])
            let b64 = Data(header).base64EncodedString()
            try await survival.check("infer a base64 PNG header of \(w)×\(h)",
                                     postRaw(infer, Array(#"{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":["\#(b64)"]}]}"#.utf8)), allowed: [400, 413])
            cases += 3
        }
        // The case the review found: n · 784 fits in Int, n · 784 · 4 does not.
        let trap = Array(#"{"inputs":[{"name":"input","datatype":"FP32","shape":[3000000000000000,1,28,28],"parameters":{"binary_data_size":0}}]}"#.utf8)
        let answer = try await onThread { try rawExchange(socket: daemon.socket, postRaw(infer, trap, headers: ["Inference-Header-Content-Length: \(trap.count)"])) }
        #expect(status(answer) == 413 && answer.contains("--max-images-per-request"), "\(answer.prefix(300))")
        try await survival.expectServing(after: "the overflowing FP32 byte size")
        print("extreme values: \(cases + 1) cases, the daemon served after each")
    }

    @Test func deepAndWideJSONIsRefusedInBoundedTime() async throws {
        let daemon = try await DaemonProcess(arguments: suiteArguments)
        let png = try sample("0009-sneaker.png")
        let survival = Survival(daemon: daemon, good: png)
        let infer = "/v2/models/hamiltonian/infer", b64 = Data(png).base64EncodedString()
        let image = #"{"name":"image","datatype":"BYTES","shape":[1],"data":["\#(b64)"]}"#
        let deep = 50_000
        let open = String(repeating: "[", count: deep), close = String(repeating: "]", count: deep)
        let objects = String(repeating: #"{"a":"#, count: deep) + "1" + String(repeating: "}", count: deep)
        let cases: [(String, String)] = [
            ("arrays 50 000 deep at the top", open + close),
            ("objects 50 000 deep at the top", objects),
            ("arrays 50 000 deep in inputs", #"{"inputs":"# + open + close + "}"),
            ("arrays 50 000 deep in data", #"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,28,28],"data":"# + open + "1" + close + "}]}"),
            ("objects 50 000 deep in parameters", #"{"parameters":{"x":"# + objects + #"},"inputs":[\#(image)]}"#),
            ("arrays 33 deep in data", #"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,28,28],"data":"# + String(repeating: "[", count: 33) + "1" + String(repeating: "]", count: 33) + "}]}"),
            ("unclosed nesting 200 000 deep", String(repeating: "[{\"a\":", count: 100_000)),
            ("10 000 inputs", #"{"inputs":["# + [String](repeating: image, count: 10_000).joined(separator: ",") + "]}"),
            ("10 000 outputs", #"{"inputs":[\#(image)],"outputs":["# + [String](repeating: #"{"name":"logits"}"#, count: 10_000).joined(separator: ",") + "]}"),
            ("the same output twice", #"{"inputs":[\#(image)],"outputs":[{"name":"logits"},{"name":"logits"}]}"#),
            ("5 000 parameters", #"{"parameters":{"# + (0..<5000).map { "\"p\($0)\":1" }.joined(separator: ",") + #"},"inputs":[\#(image)]}"#),
            ("300 000 numbers in data", #"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,28,28],"data":["# + [String](repeating: "0", count: 300_000).joined(separator: ",") + "]}]}"),
            ("300 000 empty strings in data", #"{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":["# + [String](repeating: "\"\"", count: 150_000).joined(separator: ",") + "]}]}"),
            ("a 900 KB name", #"{"inputs":[{"name":""# + String(repeating: "n", count: 900_000) + #"","datatype":"BYTES","shape":[1],"data":["\#(b64)"]}]}"#),
            ("a 900 KB id", #"{"id":""# + String(repeating: "i", count: 900_000) + #"","inputs":[\#(image)]}"#),
            ("a shape of rank 5 000", #"{"inputs":[{"name":"input","datatype":"FP32","shape":["# + [String](repeating: "1", count: 5000).joined(separator: ",") + "],\"data\":[1]}]}"),
        ]
        for (name, body) in cases {
            try await survival.check(name, postRaw(infer, Array(body.utf8)), allowed: [400, 413], within: 3)
        }
    }

    @Test func multipartWithThousandsOfPartsAndHostileBoundaries() async throws {
        let daemon = try await DaemonProcess(arguments: suiteArguments)
        let png = try sample("0009-sneaker.png")
        let survival = Survival(daemon: daemon, good: png)
        let classify = "/v2/models/hamiltonian/classify"
        func form(_ boundary: String, _ body: [UInt8]) -> [UInt8] {
            postRaw(classify, body, headers: ["Content-Type: multipart/form-data; boundary=\(boundary)"])
        }
        func parts(_ n: Int, _ content: [UInt8] = Array("x".utf8)) -> [UInt8] {
            var body: [UInt8] = []
            for _ in 0..<n { body += Array("--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n".utf8) + content + Array("\r\n".utf8) }
            return body + Array("--B--\r\n".utf8)
        }
        let quadratic = [UInt8](repeating: 0, count: 0) + (0..<100_000).flatMap { _ in Array("--B\r\na:".utf8) }
        let cases: [(String, [UInt8], Set<Int>)] = [
            ("5 000 parts", form("B", parts(5000)), [413]),
            ("20 000 empty parts", form("B", (0..<20_000).flatMap { _ in Array("--B\r\n\r\n\r\n".utf8) } + Array("--B--\r\n".utf8)), [413]),
            ("an empty boundary", form("\"\"", parts(1)), [400]),
            ("a blank boundary before another parameter", form(" ;x=1", parts(1)), [400]),
            ("a 71-byte boundary", form(String(repeating: "b", count: 71), parts(1)), [400]),
            ("a boundary with a non-ASCII byte", postRaw(classify, parts(1), headers: ["Content-Type: multipart/form-data; boundary=B\u{E9}"]), [400]),
            ("the self-overlapping boundary '-' that slipped past the old check",
             form("-", [0x2D, 0x0D, 0x2D, 0x2D, 0x2D, 0x2D, 0x0D, 0x0A, 0xFF]), [400]),
            ("the self-overlapping boundary 'x--x'", form("x--x", Array("--x-\r--x--x--x\r\n".utf8) + [0xFF] + Array(":".utf8)), [400]),
            ("a non-ASCII header name", form("B", Array("--B\r\nConte".utf8) + [0xE6] + Array("nt-Disposition: form-data\r\n\r\nabc\r\n--B--\r\n".utf8)), [400]),
            ("2 000 header lines in one part", form("B", Array("--B\r\n".utf8) + (0..<2000).flatMap { Array("X-H\($0): v\r\n".utf8) } + Array("\r\nabc\r\n--B--\r\n".utf8)), [400]),
            ("headers without the blank line", form("B", Array("--B\r\nContent-Type: image/png".utf8)), [400]),
            ("700 KB of 'boundary, CRLF, header' (quadratic for the old check)", form("B", quadratic), [400]),
            ("a part that never ends", form("B", Array("--B\r\n\r\n".utf8) + png), [400]),
            ("no closing boundary", form("B", Array("--B\r\n\r\n".utf8) + png + Array("\r\n".utf8)), [400]),
            ("a preamble and an epilogue", form("B", Array("preamble\r\n--B\r\n\r\n".utf8) + png + Array("\r\n--B--\r\nepilogue".utf8)), [200]),
            ("a part with a filename of 10 KB", form("B", Array("--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\(String(repeating: "f", count: 10_000))\"\r\n\r\n".utf8) + png + Array("\r\n--B--\r\n".utf8)), [200, 400]),
        ]
        for (name, bytes, allowed) in cases {
            try await survival.check(name, bytes, allowed: allowed, within: 3)
        }
    }

    @Test func conflictingFramingHeadersAreRefusedOrClosed() async throws {
        let daemon = try await DaemonProcess(arguments: suiteArguments)
        let png = try sample("0009-sneaker.png")
        let survival = Survival(daemon: daemon, good: png)
        let infer = "POST /v2/models/hamiltonian/infer HTTP/1.1\r\nHost: x\r\n"
        let cases: [(String, String)] = [
            ("Content-Length and Transfer-Encoding", infer + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            ("Transfer-Encoding and Content-Length", infer + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
            ("two different Content-Lengths", infer + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x"),
            ("two equal Content-Lengths", infer + "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}"),
            ("a Content-Length list", infer + "Content-Length: 2, 2\r\n\r\n{}"),
            ("Content-Length with a sign", infer + "Content-Length: +2\r\n\r\n{}"),
            ("Content-Length of 30 digits", infer + "Content-Length: 999999999999999999999999999999\r\n\r\n{}"),
            ("Transfer-Encoding twice", infer + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"),
            ("Transfer-Encoding identity", infer + "Transfer-Encoding: identity\r\nContent-Length: 2\r\n\r\n{}"),
            ("a chunk size of 2^64", infer + "Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\nabc"),
            ("a negative chunk size", infer + "Transfer-Encoding: chunked\r\n\r\n-5\r\nabc"),
            ("a 20 KB chunk extension", infer + "Transfer-Encoding: chunked\r\n\r\n2;" + String(repeating: "e", count: 20_000) + "\r\n{}\r\n0\r\n\r\n"),
            ("an obsolete folded header", "GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"),
            ("bare LF line ends", "GET /v2/health/live HTTP/1.1\nHost: x\n\n"),
            ("a 20 KB path", "GET /v2/models/" + String(repeating: "a", count: 20_000) + " HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("a 9 KB path", "GET /v2/models/" + String(repeating: "a", count: 9000) + "/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            ("a 20 KB header value", "GET /v2 HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "v", count: 20_000) + "\r\n\r\n"),
            ("a 20 KB Inference-Header-Content-Length", infer + "Content-Length: 2\r\nInference-Header-Content-Length: " + String(repeating: "7", count: 20_000) + "\r\n\r\n{}"),
        ]
        for (name, text) in cases {
            try await survival.check(name, Array(text.utf8), closeAllowed: true, within: 5)
        }
    }

    @Test func oddButValidPNGsAreResizedAndClassified() async throws {
        let daemon = try await DaemonProcess(arguments: suiteArguments)
        let survival = Survival(daemon: daemon, good: try sample("0009-sneaker.png"))
        func image(_ w: Int, _ h: Int, channels: Int, depth: Int, interlaced: Bool = false) throws -> [UInt8] {
            let count = w * h * channels, top = depth == 16 ? 65535 : 255
            return try PNG.encode(PNGImage(width: w, height: h, channels: channels, bitDepth: depth,
                                           samples: (0..<count).map { UInt16(($0 * 7919) % (top + 1)) }), interlaced: interlaced)
        }
        let cases: [(String, [UInt8])] = [
            ("4000×1 gray", try image(4000, 1, channels: 1, depth: 8)),
            ("1×4000 RGB", try image(1, 4000, channels: 3, depth: 8)),
            ("29×31 RGBA 16-bit interlaced", try image(29, 31, channels: 4, depth: 16, interlaced: true)),
            ("1×1 gray+alpha", try image(1, 1, channels: 2, depth: 8)),
            ("palette with tRNS, interlaced", fixture("palette4-trns-interlaced.png")),
            ("2-bit gray interlaced", fixture("gray2-interlaced.png")),
            ("RGB 16-bit", fixture("rgb16.png")),
        ]
        for (name, png) in cases {
            #expect(!png.isEmpty, "\(name): no fixture")
            try await survival.check(name, postRaw("/v2/models/hamiltonian/classify", png), allowed: [200])
        }
    }

    @Test func outOfRangeConfigKeysAreRefusedInTheIndexWhileTheServingVersionStays() async throws {
        let repository = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: repository) }
        try FileManager.default.copyItem(atPath: bundledModels + "/hamiltonian", toPath: repository.appendingPathComponent("hamiltonian").path)
        let config = repository.appendingPathComponent("hamiltonian/config.json")
        let daemon = try await DaemonProcess(models: repository.path, arguments: suiteArguments + ["--repository-poll-ms", "100"])
        let survival = Survival(daemon: daemon, good: try sample("0009-sneaker.png"))
        let templates: [(String, String)] = [
            ("max_batch_size", #"{"max_batch_size":V}"#), ("max_queue_delay_us", #"{"max_queue_delay_us":V}"#),
            ("max_queue", #"{"max_queue":V}"#), ("num_versions", #"{"version_policy":{"latest":{"num_versions":V}}}"#),
            ("version", #"{"version_policy":{"specific":{"versions":[V]}}}"#), ("reversibility_tolerance", #"{"reversibility_tolerance":V}"#),
        ]
        // (null is the key's absence: a valid config.)
        let outOfRange = ["-1", "2147483648", "9223372036854775807", "9223372036854775808", "1e300", "0.5", "\"4\"", "true"]
        var refused = 0
        for (key, template) in templates {
            for v in outOfRange where !(key == "reversibility_tolerance" && v == "0.5") {
                try Data(template.replacingOccurrences(of: "V", with: v).utf8).write(to: config)
                let reason = try await waitForReason(daemon, containing: key)
                let rows = reason == nil ? try await indexRows(daemon) : []
                #expect(reason != nil, "\(key) = \(v): the index never named the key; rows: \(rows)")
                try await survival.expectServing(after: "config.json \(key) = \(v)")
                refused += 1
                // Back to a good config, so that the next case's refusal is its own.
                try Data("{}".utf8).write(to: config)
                #expect(try await waitForReason(daemon, containing: "config.json", absent: true) == nil, "\(key) = \(v): the good config was not taken")
            }
        }
        // Nesting, size and a file that is not one.
        for (name, text) in [("50 000 levels", String(repeating: "[", count: 50_000)), ("a 2 MB config", #"{"labels":[""# + String(repeating: "l", count: 2 << 20) + "\"]}")] {
            try Data(text.utf8).write(to: config)
            #expect(try await waitForReason(daemon, containing: "config.json") != nil, "\(name): not refused")
            try await survival.expectServing(after: "config.json of \(name)")
        }
        try FileManager.default.removeItem(at: config)
        #expect(mkfifo(config.path, 0o600) == 0)
        #expect(try await waitForReason(daemon, containing: "not a regular file") != nil, "a FIFO config.json was not refused")
        try await survival.expectServing(after: "a FIFO config.json")
        print("config extremes: \(refused) refused with the serving version kept")
    }

    @Test func outOfRangeFlagsStopTheDaemonBeforeItStarts() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let flags = ["--max-batch", "--max-queue-delay-us", "--max-queue", "--threads", "--max-body-bytes", "--max-inflight-body-bytes",
                     "--max-image-pixels", "--max-images-per-request", "--request-timeout-ms", "--max-connections",
                     "--max-header-bytes", "--idle-timeout-ms", "--repository-poll-ms", "--checkpoint-check-timeout-ms"]
        for flag in flags {
            for value in ["-1", "9223372036854775807", "99999999999999999999", "1e300"] {
                let r = try revserveRun(["serve", "--models", bundledModels, "--socket", directory.appendingPathComponent("s.sock").path, "\(flag)=\(value)"])
                #expect(r.status != 0 && r.stderr.contains(flag), "\(flag) \(value): status \(r.status), \(r.stderr.prefix(300))")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("s.sock").path))
        // The tools' flags too: each names the flag and its range.
        for (arguments, flag) in [(["predict", "--checkpoint", "x.h5", "--threads", "100000", "x.png"], "--threads"),
                                  (["bench", "kernels", "--sgemm-size", "100000000"], "--sgemm-size"),
                                  (["bench", "load", "--seconds", "inf"], "--seconds"),
                                  (["train", "--arch", "hamiltonian", "--epochs", "10000000000000000", "--out", "x.h5"], "--epochs"),
                                  (["bench", "infer", "--arch", "hamiltonian", "--classes", "9223372036854775807"], "--classes")] {
            let r = try revserveRun(arguments)
            #expect(r.status != 0 && r.stderr.contains(flag), "\(arguments): \(r.stderr.prefix(300))")
        }
    }
}

/// What an independent hostile probe found after the cases above passed, each kept fixed:
/// connections pinned by a pipelined request or a trickled body no handler reads, abandoned
/// decoding that starved good requests, UTF-16 JSON past the scan, Content-Lengths between
/// 2^63 and 2^64, and CONNECT.
@Suite(.serialized, .timeLimit(.minutes(5 * testSlowdownMinutes))) struct IndependentProbeTests {
    @Test func connectionsThatAHandlerDoesNotReadAreClosedAfterTheAnswer() async throws {
        let daemon = try await DaemonProcess(arguments: suiteArguments + ["--max-connections", "4"])
        let png = try sample("0009-sneaker.png")
        let classify = Array("POST /v2/models/hamiltonian/classify HTTP/1.1\r\nHost: x\r\nContent-Length: \(png.count)\r\n\r\n".utf8) + png
        let live = Array("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        // Four connections, each an inference request with a request pipelined behind it, or a
        // huge body trickling into a route that reads none; then a fifth client.
        var held: [Int32] = []
        defer { held.forEach { close($0) } }
        for i in 0..<4 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            #expect(withUnixAddress(daemon.socket) { connect(fd, $0, $1) } == 0)
            let bytes = i % 2 == 0 ? classify + live
                : Array("POST /v2/health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\nx".utf8)
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            held.append(fd)
        }
        // Each is answered, then closed by the server (a read returns 0 after the answer).
        for (i, fd) in held.enumerated() {
            let answer = try await onThread { () -> (String, Bool) in
                var tv = timeval(tv_sec: Int(10 * testSlowdown), tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                var out = [UInt8](), buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    // Keep trickling into the body that nobody reads.
                    if i % 2 == 1 { _ = send(fd, "y", 1, Int32(MSG_NOSIGNAL)) }
                    let n = recv(fd, &buffer, buffer.count, 0)
                    if n == 0 { return (String(decoding: out, as: UTF8.self), true) }
                    if n < 0 { return (String(decoding: out, as: UTF8.self), errno == ECONNRESET) }
                    out += buffer[0..<n]
                }
            }
            #expect(answer.0.hasPrefix("HTTP/1.1 "), "connection \(i): no answer")
            #expect(answer.1, "connection \(i): still open after its answer: \(answer.0.prefix(200))")
        }
        #expect(try await daemon.get("/v2/health/live").status == 200)
    }

    @Test func abandonedDecodingStopsAndOneRequestCannotHoldTheDecoders() async throws {
        let daemon = try await DaemonProcess(arguments: ["--max-images-per-request", "16"])
        let png = try sample("0009-sneaker.png")
        // A 4096×4096 16-bit RGBA image of zeros: 130 KB, 16 M pixels, within --max-image-pixels.
        let bomb = try PNG.encode(PNGImage(width: 4096, height: 4096, channels: 4, bitDepth: 16,
                                           samples: [UInt16](repeating: 0, count: 4096 * 4096 * 4)))
        let header = Array(#"{"inputs":[{"name":"image","datatype":"BYTES","shape":[7],"parameters":{"binary_data_size":\#(7 * (bomb.count + 4))}}]}"#.utf8)
        let request = postRaw("/v2/models/hamiltonian/infer", header + (0..<7).flatMap { _ in le32(UInt32(bomb.count)) + bomb },
                              headers: ["Inference-Header-Content-Length: \(header.count)"])
        let answer = try await onThread { try rawExchange(socket: daemon.socket, request) }
        #expect(status(answer) == 413 && answer.contains("--max-image-pixels"), "\(answer.prefix(300))")
        // Two requests of four such images, abandoned at once: a good request is not held up for long.
        var four = Array(#"{"inputs":[{"name":"image","datatype":"BYTES","shape":[4],"parameters":{"binary_data_size":\#(4 * (bomb.count + 4))}}]}"#.utf8)
        let fourHeader = four.count
        for _ in 0..<4 { four += le32(UInt32(bomb.count)) + bomb }
        for _ in 0..<2 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            _ = withUnixAddress(daemon.socket) { connect(fd, $0, $1) }
            let bytes = postRaw("/v2/models/hamiltonian/infer", four, headers: ["Inference-Header-Content-Length: \(fourHeader)"])
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            close(fd)
        }
        try await Task.sleep(nanoseconds: 300_000_000)
        let start = Date()
        #expect(try await daemon.post("/v2/models/hamiltonian/classify", png).status == 200)
        let seconds = Date().timeIntervalSince(start)
        // Unchecked, the two would have decoded eight images of ~1.7 s each on the pool's two threads.
        #expect(seconds < 6 * testSlowdown, "a good request waited \(seconds) s behind abandoned decoding")
        print("abandoned decoding: a good request answered in \(String(format: "%.2f", seconds)) s")
    }

    @Test func oddEncodingsAndLengthsAreRefusedAtOnce() async throws {
        let daemon = try await DaemonProcess(arguments: suiteArguments)
        let survival = Survival(daemon: daemon, good: try sample("0009-sneaker.png"))
        let deep = "{\"id\":\"\u{122}\",\"inputs\":[{\"name\":\"input\",\"datatype\":\"FP32\",\"shape\":[1,1,28,28],\"data\":"
            + String(repeating: "[", count: 300) + "0" + String(repeating: "]", count: 300) + "}]}"
        try await survival.check("UTF-16 JSON nested 300 deep", postRaw("/v2/models/hamiltonian/infer", Array(deep.data(using: .utf16LittleEndian)!)),
                                 allowed: [400], within: 3)
        for length in ["9223372036854775808", "18446744073709551615"] {
            let bytes = Array("POST /v2/models/hamiltonian/classify HTTP/1.1\r\nHost: x\r\nContent-Length: \(length)\r\n\r\nx".utf8)
            try await survival.check("Content-Length \(length)", bytes, allowed: [400, 413], closeAllowed: true, within: 3)
        }
        // A known path with another method: 405 naming the method, with Allow (docs/PROTOCOL.md).
        for (method, path, allowed) in [("DELETE", "/v2/health/live", "GET"), ("GET", "/v2/models/hamiltonian/infer", "POST"),
                                        ("PUT", "/v2/models/hamiltonian/versions/1/classify", "POST"), ("POST", "/v2/models/stats", "GET")] {
            let bytes = request(method, path)
            try await survival.check("\(method) \(path)", bytes, allowed: [405])
            let answer = try await onThread { try rawExchange(socket: daemon.socket, bytes) }
            #expect(answer.contains("Allow: \(allowed)"), "\(method) \(path): \(answer.prefix(300))")
        }
        // SwiftNIO sends no body with an answer to CONNECT; what matters is the status and the close.
        let connect = try await onThread { try rawExchange(socket: daemon.socket, Array("CONNECT localhost:80 HTTP/1.1\r\nHost: x\r\n\r\n".utf8), timeout: 5) }
        #expect(status(connect) == 405 && connect.lowercased().contains("connection: close"), "\(connect.prefix(300))")
        try await survival.expectServing(after: "CONNECT")
    }
}

func indexRows(_ daemon: DaemonProcess) async throws -> [[String: Any]] {
    let r = try await daemon.post("/v2/repository/index", [])
    return try JSONSerialization.jsonObject(with: Data(r.body)) as? [[String: Any]] ?? []
}

/// Polls the index (up to 10 s) until a row's reason contains `fragment` (returned), or with
/// `absent` until none does (nil returned; the last such reason if it never went away).
func waitForReason(_ daemon: DaemonProcess, containing fragment: String, absent: Bool = false) async throws -> String? {
    var last: String?
    for _ in 0..<Int(100 * testSlowdown) {
        last = try await indexRows(daemon).compactMap({ $0["reason"] as? String }).first(where: { $0.contains(fragment) })
        if (last != nil) != absent { return last }
        try await Task.sleep(nanoseconds: 100_000_000)
    }
    return absent ? last : nil
}
