// OverloadTests: far more concurrent clients than the daemon can serve: what it
// cannot queue gets 503 with Retry-After at once, accepted requests keep a bounded latency
// that does not grow with time, memory stays flat, and service is normal as soon as the load
// drops. `make overload` runs it for 60 s (REVSERVE_OVERLOAD_SECONDS); `make test` for 8 s.

import Foundation
import Locking
import Server
import ServerTestSupport
import Synchronization
import Testing

final class OverloadLog: Sendable {
    /// (seconds since start, latency ms) of accepted requests.
    let accepted = Locked<[(Double, Double)]>([])
    let refused = Atomic<Int>(0)
    let refusedWithoutRetryAfter = Atomic<Int>(0)
    let other = Locked<[String]>([])
    let stop = Atomic<Bool>(false)
}

@Suite(.serialized, .timeLimit(.minutes(4 * testSlowdownMinutes))) struct OverloadTests {
    @Test func overloadIsRefusedFastAndServiceRecovers() async throws {
        let seconds = Double(ProcessInfo.processInfo.environment["REVSERVE_OVERLOAD_SECONDS"] ?? "") ?? 8
        // A short queue: 64 images, batches of 32; 256 clients always have a request in flight.
        let daemon = try await DaemonProcess(arguments: ["--max-queue", "64", "--max-batch", "32"])
        let png = try sample("0009-sneaker.png")
        let log = OverloadLog()
        let start = ContinuousClock.now
        func elapsed(_ since: ContinuousClock.Instant) -> Double {
            let d = ContinuousClock.now - since
            return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        let pid = daemon.process.processIdentifier
        var memory: [Int] = []
        let clients = (0..<256).map { _ in
            Task {
                while !log.stop.load(ordering: .relaxed) {
                    let sent = ContinuousClock.now
                    do {
                        let r = try await daemon.post("/v2/models/hamiltonian/classify", png)
                        switch r.status {
                        case 200: log.accepted.withLock { $0.append((elapsed(start), elapsed(sent) * 1000)) }
                        case 503:
                            log.refused.add(1, ordering: .relaxed)
                            if r.header("Retry-After") == nil { log.refusedWithoutRetryAfter.add(1, ordering: .relaxed) }
                        default: log.other.withLock { $0.append("\(r.status) \(r.text.prefix(100))") }
                        }
                    } catch {
                        log.other.withLock { $0.append("\(error)") }
                    }
                }
            }
        }
        // Sampled ten times a second: the daemon trims its heap every repository tick (2 s), so
        // the resident size saws between ~72 and ~90 MiB, and one sample a second left a third
        // of an 8 s run with no post-trim low in it (a false "growth" about one run in three;
        // 60 s runs show a flat floor).
        while elapsed(start) < seconds {
            try await Task.sleep(nanoseconds: 100_000_000)
            memory.append(residentBytes(pid))
        }
        log.stop.store(true, ordering: .relaxed)
        for c in clients { await c.value }

        // Recovery: the next request is served at once.
        let after = ContinuousClock.now
        let single = try await daemon.post("/v2/models/hamiltonian/classify", png)
        let recovery = elapsed(after) * 1000

        // The daemon's own view: time queued and batch compute time, from its histograms.
        let metrics = try await daemon.get("/metrics").text
        let queueP99 = histogramQuantile(metrics, "revserve_queue_duration_seconds", model: "hamiltonian", 0.99)
        let computeP99 = histogramQuantile(metrics, "revserve_compute_duration_seconds", model: "hamiltonian", 0.99)

        let accepted = log.accepted.withLock { $0 }
        let refused = log.refused.load(ordering: .relaxed)
        let other = log.other.withLock { $0 }
        func p99(_ xs: [Double]) -> Double { let s = xs.sorted(); return s.isEmpty ? 0 : s[min(s.count - 1, Int(0.99 * Double(s.count)))] }
        let half = seconds / 2
        let early = p99(accepted.filter { $0.0 < half }.map(\.1)), late = p99(accepted.filter { $0.0 >= half }.map(\.1))
        print(String(format: "overload: %.0f s, 256 clients: %d accepted (%.0f/s), %d refused with 503, %d other; client-side p99 of accepted %.1f ms (first half) %.1f ms (second half); daemon-side p99 queued %.0f ms, batch %.0f ms; resident %d → %d KiB; recovery %.1f ms",
                     seconds, accepted.count, Double(accepted.count) / seconds, refused, other.count, early, late, queueP99 * 1000, computeP99 * 1000,
                     (memory.first ?? 0) >> 10, (memory.last ?? 0) >> 10, recovery))
        // In the daemon, a request waits at most for the batch being computed and the one the
        // queue holds ahead of it: two batch times, plus the hand-offs between batches, which on
        // two cores filled by the compute workers are not free (measured alone: 2.0–3.0× the
        // batch p99, read from interpolated histogram buckets). The bound is 4×: without the
        // queue limit, 256 clients would queue 8 batches deep.
        // Under a sanitizer, latency and memory are the instrumentation's: only what must hold
        // at any speed is checked (every refusal is a 503 with Retry-After, nothing else fails,
        // the service recovers).
        let timed = activeSanitizer == nil
        if !timed { print("overload: latency and memory not checked under \(activeSanitizer ?? "") sanitizer") }
        if timed { #expect(queueP99 <= 4 * computeP99 + 0.05, "queued p99 \(queueP99) s vs batch p99 \(computeP99) s") }
        #expect(refused > 0, "the load never exceeded the queue")
        #expect(log.refusedWithoutRetryAfter.load(ordering: .relaxed) == 0)
        #expect(other.isEmpty, "\(other.count) answers other than 200 and 503: \(other.prefix(3))")
        #expect(Double(accepted.count) > 100 / testSlowdown)
        // Accepted requests wait at most for the queue ahead of them (two batches) plus their own:
        // bounded, and not growing as the overload goes on.
        // (On a loaded machine the first half may see few acceptances while connections pile up;
        // then the whole run's p99 is the reference.)
        let earlyCount = accepted.filter { $0.0 < half }.count
        let reference = earlyCount >= 20 ? early : p99(accepted.map(\.1))
        if timed { #expect(late <= 2 * reference + 50, "p99 grew from \(reference) ms to \(late) ms (\(earlyCount) accepted in the first half)") }
        // Memory: past the ramp-up (the first third, while connections pile up), the last third
        // of the run holds no more than the middle one: nothing accumulates.
        // Compared by their floors: the resident size swings by 15–20% with the batches and
        // connections in flight (samples of one run: 67 68 72 70 86 76 87 76 MiB), while
        // anything that accumulates raises the floor.
        let third = max(1, memory.count / 3)
        let middle = memory.dropFirst(third).prefix(third).min() ?? 0, last = memory.suffix(third).min() ?? 0
        if timed { #expect(Double(last) <= 1.15 * Double(middle), "resident memory grew: \(memory.map { $0 >> 20 }) MiB") }
        #expect(single.status == 200, "after the load: \(single.status) in \(recovery) ms")
        if timed { #expect(recovery < 500, "after the load: answered in \(recovery) ms") }
    }
}

/// The upper bound of the histogram bucket holding quantile `q` (Prometheus text format).
func histogramQuantile(_ text: String, _ name: String, model: String, _ q: Double) -> Double {
    var buckets: [(Double, Double)] = []
    for line in text.split(separator: "\n") where line.hasPrefix("\(name)_bucket{") && line.contains("model=\"\(model)\"") {
        guard let leRange = line.range(of: "le=\""), let end = line[leRange.upperBound...].firstIndex(of: "\""),
              let count = Double(line.split(separator: " ").last ?? "") else { continue }
        let le = String(line[leRange.upperBound..<end])
        buckets.append((le == "+Inf" ? .infinity : Double(le) ?? .infinity, count))
    }
    buckets.sort { $0.0 < $1.0 }
    guard let total = buckets.last?.1, total > 0,
          let i = buckets.firstIndex(where: { $0.1 >= q * total }) else { return 0 }
    // Linear within the bucket, as Prometheus' histogram_quantile reads it.
    let (upper, count) = buckets[i]
    let (lower, below) = i > 0 ? buckets[i - 1] : (0, 0)
    guard upper.isFinite else { return lower }
    return lower + (upper - lower) * (q * total - below) / max(count - below, 1)
}
