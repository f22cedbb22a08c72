// LoadIsolationTests: a load never stalls serving. While a large model warms up and a
// checkpoint on which libhdf5 loops is checked, a serving model's requests keep their latency
// (none waits for a load) and none fails.

import Foundation
import Locking
import ServerTestSupport
import Synchronization
import Testing

/// Latency percentiles of a set of durations, seconds.
struct LatencySummary: CustomStringConvertible {
    let count: Int, p50: Double, p99: Double, max: Double
    init(_ seconds: [Double]) {
        let s = seconds.sorted()
        count = s.count
        func at(_ q: Double) -> Double { s.isEmpty ? 0 : s[Swift.min(s.count - 1, Int(q * Double(s.count)))] }
        p50 = at(0.5)
        p99 = at(0.99)
        max = s.last ?? 0
    }
    var description: String {
        String(format: "%d requests, p50 %.1f ms, p99 %.1f ms, max %.1f ms", count, p50 * 1e3, p99 * 1e3, max * 1e3)
    }
}

@Suite(.timeLimit(.minutes(5 * testSlowdownMinutes))) struct LoadIsolationTests {
    @Test func aServingModelKeepsItsLatencyWhileOthersLoadAndAHangingCheckpointIsChecked() async throws {
        let repository = try repositoryWithModel("m")
        defer { try? FileManager.default.removeItem(at: repository) }
        let checkLimit = Int(6000 * testSlowdown)
        let daemon = try await DaemonProcess(models: repository.path, arguments: ["--checkpoint-check-timeout-ms", "\(checkLimit)"])
        let png = try sample("0018-bag.png")
        final class Log: Sendable {
            let latencies = Locked<[(start: ContinuousClock.Instant, seconds: Double)]>([])
            let failures = Locked<[String]>([])
            let stop = Atomic<Bool>(false)
        }
        let log = Log()
        let clients = (0..<4).map { _ in
            Task {
                while !log.stop.load(ordering: .relaxed) {
                    let start = ContinuousClock.now
                    do {
                        let r = try await daemon.post("/v2/models/m/classify", png)
                        let took = ContinuousClock.now - start
                        if r.status == 200 {
                            log.latencies.withLock { $0.append((start, Double(took.components.attoseconds) / 1e18 + Double(took.components.seconds))) }
                        } else {
                            log.failures.withLock { $0.append("HTTP \(r.status) \(r.text)") }
                        }
                    } catch {
                        log.failures.withLock { $0.append("\(error)") }
                    }
                }
            }
        }
        let warm = ContinuousClock.now
        try await Task.sleep(nanoseconds: 3_000_000_000)

        // A large model whose warm-up (a full batch of 512 images of 3×64×64) computes for
        // seconds, and a checkpoint on which libhdf5 loops until the check's time limit.
        let big = try randomModelRepository(name: "big", inputShape: [3, 64, 64], blocks: [4, 4, 4])
        defer { try? FileManager.default.removeItem(at: big) }
        try Data(#"{"max_batch_size": 512}"#.utf8).write(to: big.appendingPathComponent("big/config.json"))
        let loadStart = ContinuousClock.now
        try FileManager.default.moveItem(at: big.appendingPathComponent("big"), to: repository.appendingPathComponent("big"))
        try publish(repositoryRoot.appendingPathComponent("Fuzz/libhdf5/checkpoint/hang-22308b8dd2709b18516338776efe9789c9c6c9d8").path,
                    as: 1, model: "hang", in: repository)
        var settled = false
        for _ in 0..<Int(1200 * testSlowdown) where !settled {
            try await Task.sleep(nanoseconds: 100_000_000)
            let index = try await daemon.index()
            let bigReady = index.contains { $0["name"] as? String == "big" && $0["state"] as? String == "READY" }
            let hangRefused = index.contains { $0["name"] as? String == "hang" && $0["state"] as? String == "UNAVAILABLE" }
            settled = bigReady && hangRefused
        }
        let loadEnd = ContinuousClock.now
        try await Task.sleep(nanoseconds: 500_000_000)
        log.stop.store(true, ordering: .relaxed)
        for c in clients { await c.value }
        let index = try await daemon.index()
        #expect(settled, "the loads never finished: \(index)")

        let latencies = log.latencies.withLock { $0 }
        let before = LatencySummary(latencies.filter { $0.start > warm + .milliseconds(500) && $0.start < loadStart }.map(\.seconds))
        let during = LatencySummary(latencies.filter { $0.start >= loadStart && $0.start < loadEnd }.map(\.seconds))
        let loading = loadEnd - loadStart
        print("load isolation: loads took \(loading); before: \(before); during: \(during)")
        #expect(log.failures.withLock { $0 }.isEmpty, "\(log.failures.withLock { $0.prefix(3) })")
        // The test can fail only if the loads take long enough to stall someone.
        #expect(loading > .seconds(2), "the loads took only \(loading)")
        #expect(during.count > 20)
        // A request may wait for batches (its own and a few before it), never for a load.
        #expect(during.p99 <= Swift.max(4 * before.p99, before.p99 + 0.1 * testSlowdown), "before: \(before); during: \(during)")
        #expect(during.max < Swift.max(0.5 * testSlowdown, 8 * before.p99), "before: \(before); during: \(during)")
    }
}
