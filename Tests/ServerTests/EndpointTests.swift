// EndpointTests: every endpoint of docs/spec/PROTOCOL.md (but the repository ones) against the real
// daemon: status codes, JSON shapes, the version header, statistics and metrics.

import Foundation
import Server
import ServerTestSupport
import Testing

@Suite(.timeLimit(.minutes(2 * testSlowdownMinutes))) struct EndpointTests {
    @Test func healthServerAndModelMetadata() async throws {
        let daemon = try await DaemonProcess()
        #expect(try jsonObject(try await daemon.get("/v2/health/live"))["live"] as? Bool == true)
        #expect(try jsonObject(try await daemon.get("/v2/health/ready"))["ready"] as? Bool == true)

        let server = try jsonObject(try await daemon.get("/v2"))
        #expect(server["name"] as? String == "revserve" && server["version"] is String)
        let extensions = Set(server["extensions"] as? [String] ?? [])
        #expect(extensions.isSuperset(of: ["binary_tensor_data", "classification", "model_repository", "statistics"]))

        for path in ["/v2/models/midpoint", "/v2/models/midpoint/versions/1"] {
            let r = try await daemon.get(path)
            #expect(r.status == 200, "\(path): \(r.text)")
            let m = try jsonObject(r)
            #expect(m["name"] as? String == "midpoint" && m["versions"] as? [String] == ["1"])
            #expect(m["platform"] as? String == "revserve-midpoint")
            let inputs = m["inputs"] as? [[String: Any]] ?? []
            #expect(inputs.map { $0["name"] as? String } == ["image", "input"])
            #expect(inputs.map { $0["datatype"] as? String } == ["BYTES", "FP32"])
            #expect(inputs.last?["shape"] as? [Int] == [-1, 1, 28, 28])
            let outputs = m["outputs"] as? [[String: Any]] ?? []
            #expect(outputs.map { $0["name"] as? String } == ["logits", "probabilities"])
            #expect(outputs.allSatisfy { $0["shape"] as? [Int] == [-1, 10] && $0["datatype"] as? String == "FP32" })
        }
        for path in ["/v2/models/leapfrog/ready", "/v2/models/leapfrog/versions/1/ready"] {
            #expect(try await daemon.get(path).status == 200, "\(path)")
        }
        // Unknown models, versions and routes: 404 with an error body that says what exists.
        let unknown = try await daemon.get("/v2/models/resnet/ready")
        #expect(unknown.status == 404 && errorMessage(unknown).contains("'hamiltonian', 'leapfrog', 'midpoint'"))
        let version = try await daemon.get("/v2/models/midpoint/versions/7")
        #expect(version.status == 404 && errorMessage(version).contains("no version 7") && errorMessage(version).contains("serves version 1"))
        #expect(try await daemon.get("/v2/models/midpoint/versions/x/ready").status == 404)
        let route = try await daemon.get("/v3/anything")
        #expect(route.status == 404 && errorMessage(route).contains("no such endpoint"))
        let method = try await daemon.post("/v2/health/live", [])
        #expect([404, 405].contains(method.status) && errorMessage(method) != "", "\(method.status) \(method.text)")
    }

    @Test func statisticsAndMetricsCountWhatHappened() async throws {
        let daemon = try await DaemonProcess()
        let png = try sample("0009-sneaker.png")
        for _ in 0..<3 {
            let r = try await daemon.post("/v2/models/hamiltonian/classify", png, headers: [("Content-Type", "image/png")])
            #expect(r.status == 200)
        }
        let bad = try await daemon.post("/v2/models/hamiltonian/classify", Array("not a png".utf8))
        #expect(bad.status == 400)

        let stats = try jsonObject(try await daemon.get("/v2/models/hamiltonian/stats"))
        let model = try #require((stats["model_stats"] as? [[String: Any]])?.first)
        #expect(model["name"] as? String == "hamiltonian" && model["version"] as? String == "1")
        #expect(model["inference_count"] as? Int == 3)
        let executions = try #require(model["execution_count"] as? Int)
        #expect((1...3).contains(executions))
        let inference = try #require(model["inference_stats"] as? [String: [String: Int]])
        #expect(inference["success"]?["count"] == 3 && inference["fail"]?["count"] == 1)
        for key in ["queue", "compute_input", "compute_infer", "compute_output"] {
            #expect(inference[key]?["count"] == 3 && (inference[key]?["ns"] ?? 0) > 0, "\(key)")
        }
        let batches = try #require(model["batch_stats"] as? [[String: Any]])
        #expect(batches.reduce(0) { $0 + (($1["batch_size"] as? Int ?? 0) * ((($1["compute_infer"] as? [String: Int])?["count"]) ?? 0)) } == 3)
        #expect((model["last_inference"] as? Int ?? 0) > 1_700_000_000_000)
        let all = try jsonObject(try await daemon.get("/v2/models/stats"))
        #expect((all["model_stats"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["hamiltonian", "leapfrog", "midpoint"])
        #expect(try await daemon.get("/v2/models/hamiltonian/versions/1/stats").status == 200)

        let metrics = try await daemon.get("/metrics")
        #expect(metrics.status == 200 && metrics.header("Content-Type")?.hasPrefix("text/plain") == true)
        let text = metrics.text
        #expect(text.contains("revserve_requests_total{endpoint=\"/v2/models/{model}/classify\",code=\"200\"} 3")
            || text.contains("revserve_requests_total{code=\"200\",endpoint=\"/v2/models/{model}/classify\"} 3"), "\(text)")
        #expect(text.contains("code=\"400\""))
        for name in ["revserve_request_duration_seconds_bucket", "revserve_queue_duration_seconds_count{model=\"hamiltonian\"} 3",
                     "revserve_compute_duration_seconds_count{model=\"hamiltonian\"}", "revserve_batch_size_bucket{model=\"hamiltonian\"",
                     "revserve_queue_depth{model=\"hamiltonian\"}"] {
            #expect(text.contains(name), "\(name) missing")
        }
    }
}
