// InferTests: infer and classify against the real daemon: JSON tensors, the binary tensor data
// extension built byte by byte in both directions, raw bodies, classification strings, PNG
// and multipart classify; answers equal an in-process evaluation of the same checkpoint.

import Foundation
import Formats
import RevNet
import Server
import Tensor
import ServerTestSupport
import Testing
import Training
import NetworkCheckpoint

/// Logits of the bundled `model` for PNG `bytes`, computed in-process.
func expectedLogits(_ model: String, _ images: [[UInt8]]) throws -> [[Float]] {
    let loaded = try ModelCheckpoint.load(bundledModels + "/\(model)/1/model.h5")
    return try images.map { bytes in
        let x = try loaded.preprocessor.input(from: try PNG.decode(bytes, name: "test"), name: "test")
        return try loaded.network.logits(Tensor(shape: [1] + loaded.network.config.inputShape, data: x)).data
    }
}

func close(_ a: [Float], _ b: [Float], _ tolerance: Float = 1e-4) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
}

func littleEndian(_ n: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(n).littleEndian) { Array($0) } }

@Suite(.timeLimit(.minutes(2 * testSlowdownMinutes))) struct InferTests {
    let sneaker: [UInt8], bag: [UInt8]
    init() throws {
        sneaker = try sample("0009-sneaker.png")
        bag = try sample("0018-bag.png")
    }

    @Test func jsonTensorsInAndOut() async throws {
        let daemon = try await DaemonProcess()
        let expected = try expectedLogits("hamiltonian", [sneaker, bag])
        let r = try await daemon.postJSON("/v2/models/hamiltonian/infer", [
            "id": "req-1",
            "inputs": [["name": "image", "shape": [2], "datatype": "BYTES",
                        "data": [Data(sneaker).base64EncodedString(), Data(bag).base64EncodedString()]]],
        ])
        #expect(r.status == 200, "\(r.text)")
        #expect(r.header("revserve-model-version") == "1")
        let o = try jsonObject(r)
        #expect(o["model_name"] as? String == "hamiltonian" && o["model_version"] as? String == "1" && o["id"] as? String == "req-1")
        let outputs = try #require(o["outputs"] as? [[String: Any]])
        #expect(outputs.map { $0["name"] as? String } == ["logits", "probabilities"])
        #expect(outputs.allSatisfy { $0["shape"] as? [Int] == [2, 10] && $0["datatype"] as? String == "FP32" })
        let logits = (outputs[0]["data"] as? [Double] ?? []).map(Float.init)
        #expect(close(logits, expected[0] + expected[1]))
        let probabilities = (outputs[1]["data"] as? [Double] ?? []).map(Float.init)
        #expect(abs(probabilities[0..<10].reduce(0, +) - 1) < 1e-5 && probabilities[7] > 0.9)   // Sneaker

        // The same network on an already preprocessed FP32 input, nested row-major.
        let loaded = try ModelCheckpoint.load(bundledModels + "/hamiltonian/1/model.h5")
        let x = try loaded.preprocessor.input(from: try PNG.decode(bag, name: "bag"), name: "bag")
        let nested = [[(0..<28).map { row in Array(x[(row * 28)..<((row + 1) * 28)]) }]]
        let fp32 = try await daemon.postJSON("/v2/models/hamiltonian/infer", [
            "inputs": [["name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": nested]],
            "outputs": [["name": "logits"]],
        ])
        #expect(fp32.status == 200, "\(fp32.text)")
        let only = try #require(try jsonObject(fp32)["outputs"] as? [[String: Any]])
        #expect(only.count == 1 && close((only[0]["data"] as? [Double] ?? []).map(Float.init), expected[1]))
    }

    @Test func classificationExtension() async throws {
        let daemon = try await DaemonProcess()
        let r = try await daemon.postJSON("/v2/models/midpoint/versions/1/infer", [
            "inputs": [["name": "image", "shape": [2], "datatype": "BYTES",
                        "data": [Data(sneaker).base64EncodedString(), Data(bag).base64EncodedString()]]],
            "outputs": [["name": "probabilities", "parameters": ["classification": 3]]],
        ])
        #expect(r.status == 200, "\(r.text)")
        let output = try #require((try jsonObject(r)["outputs"] as? [[String: Any]])?.first)
        #expect(output["datatype"] as? String == "BYTES" && output["shape"] as? [Int] == [2, 3])
        let strings = try #require(output["data"] as? [String])
        #expect(strings.count == 6)
        let parsed = strings.map { s -> (Double, Int, String) in
            let parts = s.split(separator: ":", maxSplits: 2).map(String.init)
            return (Double(parts[0]) ?? -1, Int(parts[1]) ?? -1, parts.count == 3 ? parts[2] : "")
        }
        #expect(parsed[0].1 == 7 && parsed[0].2 == "Sneaker" && parsed[3].1 == 8 && parsed[3].2 == "Bag", "\(strings)")
        #expect(parsed[0].0 >= parsed[1].0 && parsed[1].0 >= parsed[2].0, "highest first: \(strings)")
        #expect(parsed.allSatisfy { (0...1).contains($0.0) })
    }

    @Test func binaryTensorDataBothDirections() async throws {
        let daemon = try await DaemonProcess()
        let expected = try expectedLogits("leapfrog", [sneaker, bag])
        // Inputs: two BYTES elements, each with its 4-byte little-endian length.
        let data = littleEndian(sneaker.count) + sneaker + littleEndian(bag.count) + bag
        let header = Array(try JSONSerialization.data(withJSONObject: [
            "inputs": [["name": "image", "shape": [2], "datatype": "BYTES", "parameters": ["binary_data_size": data.count]]],
            "outputs": [["name": "logits", "parameters": ["binary_data": true]],
                        ["name": "probabilities", "parameters": ["classification": 2, "binary_data": true]]],
        ]))
        let r = try await daemon.post("/v2/models/leapfrog/infer", header + data, headers: [
            ("Inference-Header-Content-Length", String(header.count)), ("Content-Type", "application/octet-stream"),
        ])
        #expect(r.status == 200, "\(r.text)")
        #expect(r.header("revserve-model-version") == "1")
        let jsonLength = try #require(r.header("Inference-Header-Content-Length").flatMap { Int($0) })
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(r.body[0..<jsonLength])) as? [String: Any])
        let outputs = try #require(answer["outputs"] as? [[String: Any]])
        let sizes = outputs.map { (($0["parameters"] as? [String: Int])?["binary_data_size"]) ?? -1 }
        #expect(outputs.allSatisfy { $0["data"] == nil })
        #expect(sizes[0] == 2 * 10 * 4 && jsonLength + sizes[0] + sizes[1] == r.body.count, "\(sizes)")
        let raw = Array(r.body[jsonLength...])
        let logits = stride(from: 0, to: sizes[0], by: 4).map { i in
            Float(bitPattern: UInt32(raw[i]) | UInt32(raw[i + 1]) << 8 | UInt32(raw[i + 2]) << 16 | UInt32(raw[i + 3]) << 24)
        }
        #expect(close(logits, expected[0] + expected[1]))
        var strings: [String] = [], i = sizes[0]
        while i < raw.count {
            let n = Int(raw[i]) | Int(raw[i + 1]) << 8 | Int(raw[i + 2]) << 16 | Int(raw[i + 3]) << 24
            strings.append(String(decoding: raw[(i + 4)..<(i + 4 + n)], as: UTF8.self))
            i += 4 + n
        }
        #expect(strings.count == 4 && strings[0].hasSuffix(":7:Sneaker") && strings[2].hasSuffix(":8:Bag"), "\(strings)")

        // FP32 input in binary: little-endian floats after the JSON header.
        let loaded = try ModelCheckpoint.load(bundledModels + "/leapfrog/1/model.h5")
        let x = try loaded.preprocessor.input(from: try PNG.decode(sneaker, name: "s"), name: "s")
        let floats = x.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } }
        let fp32Header = Array(try JSONSerialization.data(withJSONObject: [
            "inputs": [["name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "parameters": ["binary_data_size": floats.count]]],
            "outputs": [["name": "logits"]],
        ]))
        let f = try await daemon.post("/v2/models/leapfrog/infer", fp32Header + floats,
                                      headers: [("Inference-Header-Content-Length", String(fp32Header.count))])
        #expect(f.status == 200 && f.header("Inference-Header-Content-Length") == nil, "\(f.text)")
        let fo = try #require((try jsonObject(f)["outputs"] as? [[String: Any]])?.first)
        #expect(close((fo["data"] as? [Double] ?? []).map(Float.init), expected[0]))

        // A raw body with a zero-length header is one image.
        let rawBody = try await daemon.post("/v2/models/leapfrog/infer", bag, headers: [("Inference-Header-Content-Length", "0")])
        #expect(rawBody.status == 200, "\(rawBody.text)")
        let ro = try #require((try jsonObject(rawBody)["outputs"] as? [[String: Any]])?.first)
        #expect(ro["shape"] as? [Int] == [1, 10] && close((ro["data"] as? [Double] ?? []).map(Float.init), expected[1]))
    }

    @Test func classifyPNGAndMultipart() async throws {
        let daemon = try await DaemonProcess()
        let one = try await daemon.post("/v2/models/hamiltonian/classify?top=2", sneaker, headers: [("Content-Type", "image/png")])
        #expect(one.status == 200 && one.header("revserve-model-version") == "1", "\(one.text)")
        let o = try jsonObject(one)
        #expect(o["model_name"] as? String == "hamiltonian" && o["model_version"] as? String == "1")
        let predictions = try #require(o["predictions"] as? [[[String: Any]]])
        #expect(predictions.count == 1 && predictions[0].count == 2)
        #expect(predictions[0][0]["label"] as? String == "Sneaker" && predictions[0][0]["index"] as? Int == 7)
        let p = predictions[0].compactMap { $0["probability"] as? Double }
        #expect(p.count == 2 && p[0] >= p[1] && p[0] > 0.9)

        let boundary = "----revserve-test-boundary"
        var body: [UInt8] = []
        for (name, bytes) in [("bag.png", bag), ("sneaker.png", sneaker), ("again.png", bag)] {
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"image\"; filename=\"\(name)\"\r\nContent-Type: image/png\r\n\r\n".utf8)
            body += bytes + Array("\r\n".utf8)
        }
        body += Array("--\(boundary)--\r\n".utf8)
        let multi = try await daemon.post("/v2/models/hamiltonian/classify", body,
                                          headers: [("Content-Type", "multipart/form-data; boundary=\(boundary)")])
        #expect(multi.status == 200, "\(multi.text)")
        let lists = try #require(try jsonObject(multi)["predictions"] as? [[[String: Any]]])
        #expect(lists.map { $0.count } == [5, 5, 5], "top defaults to 5")
        #expect(lists.map { $0[0]["label"] as? String } == ["Bag", "Sneaker", "Bag"], "request order")

        // A bad part is named by its position and filename.
        var broken = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"a\"; filename=\"fine.png\"\r\n\r\n".utf8) + bag
        broken += Array("\r\n--\(boundary)\r\nContent-Disposition: form-data; name=\"b\"; filename=\"broken.png\"\r\n\r\nnot a png\r\n--\(boundary)--\r\n".utf8)
        let bad = try await daemon.post("/v2/models/hamiltonian/classify", broken,
                                        headers: [("Content-Type", "multipart/form-data; boundary=\(boundary)")])
        #expect(bad.status == 400 && errorMessage(bad).contains("image 1 ('broken.png')"), "\(bad.text)")
    }
}
