// KeepAliveTests: every endpoint leaves the connection open for the next request, over the
// socket and loopback TCP, for one client and for 32 at once; a body the server did not read
// still closes; and a client that leaves while its request is queued is still noticed.

import Foundation
import Locking
import Testing
import ServerTestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite(.timeLimit(.minutes(5 * testSlowdownMinutes))) struct KeepAliveTests {
    @Test func oneConnectionCarriesEveryKindOfRequest() async throws {
        let daemon = try await DaemonProcess()
        let png = try sample("0006-coat.png")
        let socket = daemon.socket
        try await onThread {
            let client = try KeepAliveClient(socket: socket)
            for round in 0..<5 {
                let classified = try client.exchange("POST", "/v2/models/hamiltonian/classify", body: png, contentType: "image/png")
                #expect(classified.status == 200 && classified.text.contains("\"Coat\""), "round \(round): \(classified.status) \(classified.text)")
                #expect(classified.headers["connection"] == nil, "\(classified.headers)")
                let metadata = try client.exchange("GET", "/v2/models/hamiltonian")
                #expect(metadata.status == 200)
                let inferred = try client.exchange("POST", "/v2/models/leapfrog/infer", body: Array(#"""
                    {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": [""]}]}
                    """#.utf8), contentType: "application/json")
                // A body read to its end and refused (400) keeps the connection too.
                #expect(inferred.status == 400 && inferred.headers["connection"] == nil, "\(inferred.status) \(inferred.headers)")
                let ready = try client.exchange("GET", "/v2/health/ready")
                #expect(ready.status == 200)
            }
            #expect(client.answered == 20)
            // A body nobody reads (an unknown model is refused before the body is awaited) is
            // not read on: that answer closes, and the connection ends after it.
            let refused = try client.exchange("POST", "/v2/models/nothere/classify", body: png, contentType: "image/png")
            #expect(refused.status == 404 && refused.headers["connection"] == "close", "\(refused.headers)")
            #expect(throws: (any Error).self) { try client.exchange("GET", "/v2/health/live") }
        }
        #expect(try await daemon.stop() == 0)
    }

    @Test func thirtyTwoClientsReuseTheirConnectionsOnTheSocketAndOverTCP() async throws {
        let port = try freePort()
        let daemon = try await DaemonProcess(arguments: ["--listen", "tcp://127.0.0.1:\(port)"])
        let png = try sample("0008-sandal.png")
        let socket = daemon.socket
        for transport in ["socket", "tcp"] {
            let failures = Locked<[String]>([])
            await withTaskGroup(of: Void.self) { group in
                for c in 0..<32 {
                    group.addTask {
                        do {
                            try await onThread {
                                let client = transport == "tcp" ? try KeepAliveClient(port: port) : try KeepAliveClient(socket: socket)
                                for _ in 0..<10 {
                                    let a = try client.exchange("POST", "/v2/models/midpoint/classify", body: png, contentType: "image/png")
                                    guard a.status == 200, a.text.contains("\"Sandal\""), a.headers["connection"] == nil else {
                                        throw HarnessError.failed("\(a.status) \(a.headers) \(a.text)")
                                    }
                                }
                            }
                        } catch {
                            failures.withLock { $0.append("\(transport) client \(c): \(error)") }
                        }
                    }
                }
            }
            #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(3) })")
        }
        #expect(try await daemon.stop() == 0)
    }

    @Test func aClientThatLeavesWhileQueuedIsDroppedAndItsConnectionsNeighboursServed() async throws {
        // An idle model holds requests for a minute: they are certainly queued when the client goes.
        let daemon = try await DaemonProcess(arguments: ["--max-queue-delay-us", "60000000", "--max-batch", "64"])
        let png = try sample("0018-bag.png")
        let socket = daemon.socket
        let client = try KeepAliveClient(socket: socket)
        // First a request answered on this connection (GET), then one that queues.
        let first = try await onThread { try client.exchange("GET", "/v2/models/hamiltonian/ready").status }
        #expect(first == 200)
        try client.send("POST", "/v2/models/hamiltonian/classify", body: png, contentType: "image/png")
        #expect(try await daemon.waitForQueueDepth(1, model: "hamiltonian"))
        client.shutdownBothWays()
        #expect(try await daemon.waitForQueueDepth(0, model: "hamiltonian"), "the departed client's request stayed queued")
        let stats = try jsonObject(try await daemon.get("/v2/models/hamiltonian/stats"))
        let model = try #require((stats["model_stats"] as? [[String: Any]])?.first)
        let inference = try #require(model["inference_stats"] as? [String: Any])
        #expect((inference["fail"] as? [String: Any])?["count"] as? Int == 1, "\(inference)")
        #expect(try await daemon.stop() == 0)
    }
}
