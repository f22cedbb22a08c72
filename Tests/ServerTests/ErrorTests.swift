// ErrorTests: what a client can get wrong, answered 4xx/5xx with {"error": ...} that says
// what and where, while concurrent good requests keep succeeding: bad JSON, wrong datatypes
// and shapes, undecodable and oversized images and bodies, full queues, expired deadlines,
// malformed HTTP.

import Foundation
import Server
import ServerTestSupport
import Testing

@Suite(.timeLimit(.minutes(3 * testSlowdownMinutes))) struct ErrorTests {
    @Test func badRequestsGetA400ThatSaysWhy() async throws {
        let daemon = try await DaemonProcess(arguments: ["--max-body-bytes", "200000", "--max-image-pixels", "1000"])
        let png = try sample("0009-sneaker.png")
        let b64 = Data(png).base64EncodedString()
        func infer(_ body: Any) async throws -> (Int, String) {
            let r = try await daemon.postJSON("/v2/models/hamiltonian/infer", body)
            return (r.status, errorMessage(r))
        }
        let image: (String, [Int], Any) -> [String: Any] = { ["inputs": [["name": "image", "datatype": $0, "shape": $1, "data": $2]]] }
        let cases: [(Any, String)] = [
            (image("FP32", [1], [b64]), "datatype BYTES"),
            (image("BYTES", [2], [b64]), "carries 1 elements"),
            (image("BYTES", [1, 2, 3], [b64]), "shape [N]"),
            (image("BYTES", [1], ["%%%"]), "not base64"),
            (image("BYTES", [1], [Data("hello".utf8).base64EncodedString()]), "image 0: invalid PNG"),
            (["inputs": [["name": "input", "datatype": "FP32", "shape": [1, 3, 28, 28], "data": [1.0]]]], "[-1, 1, 28, 28]"),
            (["inputs": [["name": "input", "datatype": "FP32", "shape": [1, 1, 28, 28], "data": ["a"]]]], "numbers in JSON"),
            (["inputs": [["name": "pixels", "datatype": "FP32", "shape": [1], "data": [1]]]], "unknown input 'pixels'"),
            (["inputs": []], "exactly one input"),
            (["inputs": [["name": "image", "datatype": "BYTES", "shape": [1], "data": [b64]]], "outputs": [["name": "embedding"]]], "unknown output 'embedding'"),
            (["inputs": [["name": "image", "datatype": "BYTES", "shape": [1], "data": [b64]]],
              "outputs": [["name": "logits", "parameters": ["classification": 0]]]], "classification must be an integer"),
            (["inputs": [["name": "image", "datatype": "BYTES", "shape": [1], "data": [b64]]], "parameters": ["timeout": -1]], "timeout"),
            (["inputs": "nope"], "malformed inference request JSON"),
            (["inputs": [["name": "image", "datatype": "BYTES", "shape": [0], "data": []]]], "batch size of at least 1"),
        ]
        for (body, fragment) in cases {
            let (status, message) = try await infer(body)
            #expect(status == 400 && message.contains(fragment), "\(fragment): \(status) \(message)")
        }
        let notJSON = try await daemon.post("/v2/models/hamiltonian/infer", Array("{\"inputs\": [".utf8))
        #expect(notJSON.status == 400 && errorMessage(notJSON).contains("malformed"))
        let badHeader = try await daemon.post("/v2/models/hamiltonian/infer", Array("{}".utf8), headers: [("Inference-Header-Content-Length", "99")])
        #expect(badHeader.status == 400 && errorMessage(badHeader).contains("only 2 bytes"))
        let extraHeader = Array("{\"inputs\":[{\"name\":\"image\",\"datatype\":\"BYTES\",\"shape\":[1],\"parameters\":{\"binary_data_size\":3}}]}".utf8)
        let extra = try await daemon.post("/v2/models/hamiltonian/infer", extraHeader + [1, 0, 0],
                                          headers: [("Inference-Header-Content-Length", String(extraHeader.count))])
        #expect(extra.status == 400 && errorMessage(extra).contains("cut off"), "\(extra.text)")

        // 413: an image over --max-image-pixels (28×28 = 784 fits, 1000 is the limit) and a body over --max-body-bytes.
        let big = try makePNG(width: 40, height: 40)
        let tooManyPixels = try await daemon.post("/v2/models/hamiltonian/classify", big)
        #expect(tooManyPixels.status == 413 && errorMessage(tooManyPixels).contains("--max-image-pixels"), "\(tooManyPixels.text)")
        let tooBig = try await daemon.post("/v2/models/hamiltonian/classify", [UInt8](repeating: 0, count: 300_000))
        #expect(tooBig.status == 413 && errorMessage(tooBig).contains("--max-body-bytes"), "\(tooBig.text)")
        // Still fine for a good request afterwards.
        #expect(try await daemon.post("/v2/models/hamiltonian/classify", png).status == 200)
    }

    @Test func fullQueueAnswers503WithRetryAfterAndDeadlinesAnswer504() async throws {
        // Nothing is dispatched for a minute (unless the drain flushes), so every step below
        // waits on the daemon's own queue-depth gauge, never on timing.
        let daemon = try await DaemonProcess(arguments: ["--max-queue", "3", "--max-queue-delay-us", "60000000", "--max-batch", "64"])
        let png = try sample("0009-sneaker.png")
        let classify = { Task { try await daemon.post("/v2/models/midpoint/classify", png) } }
        var waiting = [classify(), classify()]
        #expect(try await daemon.waitForQueueDepth(2, model: "midpoint"))

        // A request whose deadline passes while it is queued: 504.
        let expired = try await daemon.postJSON("/v2/models/midpoint/infer", [
            "inputs": [["name": "image", "datatype": "BYTES", "shape": [1], "data": [Data(png).base64EncodedString()]]],
            "parameters": ["timeout": 300_000],   // 0.3 s, in microseconds as Triton's
        ])
        #expect(expired.status == 504 && errorMessage(expired).contains("timeout"), "\(expired.text)")

        // The queue holds 3 images: the next request is refused at once with Retry-After.
        waiting.append(classify())
        #expect(try await daemon.waitForQueueDepth(3, model: "midpoint"))
        let refused = try await daemon.post("/v2/models/midpoint/classify", png)
        #expect(refused.status == 503 && refused.header("Retry-After") != nil, "\(refused.status) \(refused.text)")
        #expect(errorMessage(refused).contains("--max-queue"))

        // The drain runs what is queued: every accepted request is answered.
        #expect(try await daemon.stop() == 0)
        for w in waiting { #expect(try await w.value.status == 200) }
    }

    @Test func malformedHTTPAndGarbageDoNotDisturbOtherClients() async throws {
        let daemon = try await DaemonProcess()
        let png = try sample("0018-bag.png")
        let good = Task {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<40 { group.addTask { try await daemon.post("/v2/models/leapfrog/classify", png).status } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
        }
        let socket = daemon.socket
        let hostile: [[UInt8]] = [
            Array("GARBAGE\r\n\r\n".utf8),
            Array("POST /v2/models/leapfrog/infer HTTP/1.1\r\nContent-Length: nope\r\n\r\n".utf8),
            Array("GET /v2/health/live HTTP/9.9\r\n\r\n".utf8),
            [0, 1, 2, 3, 255, 254, 13, 10, 13, 10],
            Array("POST /v2/models/leapfrog/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{\"inp".utf8),   // cut short
            Array("POST /v2/models/leapfrog/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n".utf8),
        ]
        for bytes in hostile {
            let answer = try await onThread { try rawExchange(socket: socket, bytes, timeout: 3) }
            #expect(answer.isEmpty || answer.hasPrefix("HTTP/1.1 400"), "\(answer.prefix(300))")
        }
        let statuses = try await good.value
        #expect(statuses.count == 40 && statuses.allSatisfy { $0 == 200 }, "\(statuses)")
        #expect(try await daemon.get("/v2/health/ready").status == 200)
    }
}

/// A gray PNG of the given size, through the project's encoder.
func makePNG(width: Int, height: Int) throws -> [UInt8] {
    try Formats.PNG.encode(.init(width: width, height: height, channels: 1, bitDepth: 8,
                                 samples: [UInt16](repeating: 128, count: width * height)))
}

import Formats
