// `revserve bench load`: drives a running daemon with concurrent single-image clients and
// reports throughput, latency percentiles and the batch sizes the daemon executed (from its
// statistics endpoint), to measure the dynamic batcher.

import ArgumentParser
import Foundation
import Formats
import Locking
import Server
import Synchronization

struct BenchLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load a running daemon with concurrent single-image classify requests.",
        discussion: """
            Each client sends one image per request, waits for the answer and sends the next, \
            for --seconds after --warmup seconds. The mean executed batch size is the change in \
            the model's inference_count over the change in its execution_count (GET …/stats).

            Example:
              revserve bench load --socket /tmp/rs.sock --model hamiltonian \\
                  --clients 32 samples/0009-sneaker.png
            """)

    @Option(help: "The daemon's socket.")
    var socket: String

    @Option(help: "The model to load.")
    var model: String

    @Option(help: "Concurrent clients, each with one request in flight.")
    var clients = 32

    @Option(help: "Measured seconds.")
    var seconds = 10.0

    @Option(help: "Seconds of load before measuring.")
    var warmup = 2.0

    @Flag(help: "Print JSON.")
    var json = false

    @Argument(help: "The PNG image every request sends.")
    var image: String

    func validate() throws {
        try requireBound("--clients", clients, FlagBounds.clients)
        guard seconds > 0, seconds <= FlagBounds.maxSeconds else { throw ValidationError("--seconds must be above 0 and at most \(Int(FlagBounds.maxSeconds)), got \(seconds)") }
        guard warmup >= 0, warmup <= FlagBounds.maxSeconds else { throw ValidationError("--warmup must be from 0 to \(Int(FlagBounds.maxSeconds)), got \(warmup)") }
    }

    struct Report: Encodable {
        var model: String
        var clients: Int
        var seconds: Double
        var requests: Int
        var errors: Int
        var requestsPerSecond: Double
        var latencyMs: [String: Double]
        var meanBatchSize: Double
        var batches: Int
    }

    func run() async throws {
        let bytes = try readFile(image)
        let route = "/v2/models/\(model)/classify?top=1"
        let socket = self.socket
        let state = LoadState()
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<clients {
                    group.addTask {
                        while !state.stop.load(ordering: .relaxed) {
                            let start = ContinuousClock.now
                            let ok: Bool, message: String
                            do {
                                let r = try await UnixHTTPClient.send(socket: socket, method: "POST", path: route,
                                                                      headers: [("Content-Type", "image/png")], body: bytes)
                                (ok, message) = (r.status == 200, "HTTP \(r.status): \(r.text)")
                            } catch {
                                (ok, message) = (false, "\(error)")
                            }
                            let ms = Double((ContinuousClock.now - start).components.attoseconds) / 1e15
                                + Double((ContinuousClock.now - start).components.seconds) * 1000
                            state.window.withLock { w in
                                guard w.measuring else { return }
                                if ok { w.latencies.append(ms) } else { w.errors += 1; w.firstError = w.firstError ?? message }
                            }
                            if !ok { try? await Task.sleep(nanoseconds: 10_000_000) }
                        }
                    }
                }
            }
        }
        try await Task.sleep(nanoseconds: UInt64(warmup * 1e9))
        let before = try await statistics(socket)
        state.window.withLock { $0.measuring = true }
        let start = ContinuousClock.now
        try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
        state.window.withLock { $0.measuring = false }
        let elapsed = ContinuousClock.now - start
        let after = try await statistics(socket)
        state.stop.store(true, ordering: .relaxed)
        await load.value

        let w = state.window.withLock { $0 }
        let sorted = w.latencies.sorted()
        func percentile(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(p * Double(sorted.count)))] }
        let duration = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let images = after.inferences - before.inferences, batches = after.executions - before.executions
        let report = Report(model: model, clients: clients, seconds: duration, requests: sorted.count, errors: w.errors,
                            requestsPerSecond: Double(sorted.count) / duration,
                            latencyMs: ["p50": percentile(0.5), "p90": percentile(0.9), "p99": percentile(0.99), "max": sorted.last ?? 0],
                            meanBatchSize: batches > 0 ? Double(images) / Double(batches) : 0, batches: batches)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(String(format: "%@: %d clients, %.1f s: %.1f requests/s, latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms; mean batch %.1f images over %d batches; %d errors",
                         model, clients, duration, report.requestsPerSecond, percentile(0.5), percentile(0.9), percentile(0.99),
                         report.meanBatchSize, batches, w.errors))
        }
        if let first = w.firstError { printError("first error: \(first)") }
    }

    /// The model's (inference_count, execution_count).
    private func statistics(_ socket: String) async throws -> (inferences: Int, executions: Int) {
        let r = try await UnixHTTPClient.send(socket: socket, method: "GET", path: "/v2/models/\(model)/stats")
        guard r.status == 200,
              let o = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any],
              let stats = (o["model_stats"] as? [[String: Any]])?.first,
              let inferences = stats["inference_count"] as? Int, let executions = stats["execution_count"] as? Int else {
            throw ValidationError("could not read the statistics of model '\(model)': HTTP \(r.status) \(r.text)")
        }
        return (inferences, executions)
    }
}

/// What the load's clients share: the measurement window and the stop flag.
private final class LoadState: Sendable {
    /// Latencies (ms) of requests that finished inside the measured window, and errors.
    let window = Locked<(measuring: Bool, latencies: [Double], errors: Int, firstError: String?)>((false, [], 0, nil))
    let stop = Atomic<Bool>(false)
}
