// HostileInputTests: the hostile-input suite against the live daemon: every case in
// HostileCases.swift gets an acceptable answer (or a closed connection where allowed, never a
// 5xx) while a parallel stream of good requests keeps succeeding at its usual latency, and the
// daemon's memory returns to its baseline; slow clients are cut off and thousands of idle
// connections do not starve anyone.

import Foundation
import Locking
import Server
import ServerTestSupport
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The status of a raw HTTP answer, nil if the connection closed without one.
func status(_ answer: String) -> Int? {
    guard answer.hasPrefix("HTTP/1.1 ") else { return nil }
    return Int(answer.dropFirst(9).prefix(3))
}

final class GoodStream: Sendable {
    let latencies = Locked<[Double]>([])
    let failures = Locked<[String]>([])
    let stop = Atomic<Bool>(false)

    /// Sends classify requests one after another until stopped.
    func run(_ daemon: DaemonProcess, _ png: [UInt8]) async {
        while !stop.load(ordering: .relaxed) {
            let start = ContinuousClock.now
            do {
                let r = try await daemon.post("/v2/models/hamiltonian/classify", png)
                let ms = Double((ContinuousClock.now - start).components.attoseconds) / 1e15
                    + Double((ContinuousClock.now - start).components.seconds) * 1000
                if r.status == 200 { latencies.withLock { $0.append(ms) } } else { failures.withLock { $0.append("\(r.status) \(r.text)") } }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
    }

    var median: Double {
        let sorted = latencies.withLock { $0 }.sorted()
        return sorted.isEmpty ? .infinity : sorted[sorted.count / 2]
    }
}

@Suite(.serialized, .timeLimit(.minutes(5 * testSlowdownMinutes))) struct HostileInputTests {
    @Test func everyHostileRequestGetsTheRightAnswerWhileGoodOnesFlow() async throws {
        // The daemon hands freed heap pages back on each repository tick; ticking every 500 ms
        // puts several inside each memory measurement instead of leaving it to chance.
        let daemon = try await DaemonProcess(arguments: suiteArguments + ["--repository-poll-ms", "500"])
        let png = try sample("0009-sneaker.png")
        let cases = try hostileCases(goodPNG: png)
        #expect(cases.count >= 40)

        // Baseline: good requests alone, then the memory floor.
        let baseline = GoodStream()
        let warm = Task { await baseline.run(daemon, png) }
        try await Task.sleep(nanoseconds: 1_500_000_000)
        baseline.stop.store(true, ordering: .relaxed)
        await warm.value
        let memoryBefore = try await residentFloor(daemon.process.processIdentifier)

        // Every hostile case, several at a time, while the good stream runs.
        let during = GoodStream()
        let good = Task { await during.run(daemon, png) }
        let socket = daemon.socket
        let answers = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for (i, c) in cases.enumerated() {
                group.addTask { (i, try await onThread { try rawExchange(socket: socket, c.bytes, timeout: 8) }) }
            }
            return try await group.reduce(into: [Int: String]()) { $0[$1.0] = $1.1 }
        }
        try await Task.sleep(nanoseconds: 500_000_000)
        during.stop.store(true, ordering: .relaxed)
        await good.value

        for (i, c) in cases.enumerated() {
            let answer = answers[i] ?? ""
            let code = status(answer)
            let ok = code.map { c.expect.contains($0) } ?? c.closed
            #expect(ok, "\(c.name): expected \(c.expect.sorted())\(c.closed ? " or a close" : ""), got \(code.map(String.init) ?? "a closed connection"): \(answer.prefix(200))")
            #expect((code ?? 0) < 500, "\(c.name) got a server error: \(answer.prefix(300))")
            if let code, code >= 400, code != 408, answer.contains("application/json") {
                #expect(answer.contains("{\"error\":"), "\(c.name): error without an error body: \(answer.prefix(300))")
            }
        }
        let failures = during.failures.withLock { $0 }
        #expect(failures.isEmpty, "good requests failed during the hostile run: \(failures.prefix(3))")
        #expect(during.latencies.withLock { $0.count } >= 10)
        // The hostile requests share the two cores, so "unchanged" allows for their own work.
        if let activeSanitizer {
            print("hostile: latency not checked under \(activeSanitizer) sanitizer")
        } else {
            #expect(during.median <= 4 * baseline.median + 25, "good p50 \(during.median) ms during vs \(baseline.median) ms before")
        }
        print("hostile: \(cases.count) cases; good p50 \(baseline.median) ms before, \(during.median) ms during, \(during.latencies.withLock { $0.count }) good answers")

        // Memory returns to where it was.
        try await Task.sleep(nanoseconds: 1_000_000_000)
        let memoryAfter = try await residentFloor(daemon.process.processIdentifier)
        print("hostile: resident \(memoryBefore >> 10) KiB before, \(memoryAfter >> 10) KiB after")
        if let activeSanitizer { print("hostile: memory not checked under \(activeSanitizer) sanitizer") }
        else { #expect(Double(memoryAfter) <= 1.10 * Double(memoryBefore), "resident \(memoryAfter >> 20) MiB after vs \(memoryBefore >> 20) MiB before") }
        #expect(try await daemon.get("/v2/health/ready").status == 200)
    }

    @Test func slowClientsAreCutOff() async throws {
        let daemon = try await DaemonProcess(arguments: suiteArguments)
        let socket = daemon.socket
        // A request head trickled a byte every 300 ms never completes within --idle-timeout-ms (2 s).
        let slowHead = Task { try await onThread { () -> (String, Double) in
            let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            _ = withUnixAddress(socket) { connect(fd, $0, $1) }
            let start = Date()
            for byte in Array("GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n".utf8) {
                if send(fd, [byte], 1, Int32(MSG_NOSIGNAL)) <= 0 { break }
                usleep(300_000)
            }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, 0)
            return (n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : "", Date().timeIntervalSince(start))
        } }
        // A body trickled after a complete head runs into --request-timeout-ms (1 s): 408.
        let slowBody = Task { try await onThread {
            try rawExchange(socket: socket, Array("POST /v2/models/hamiltonian/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"inp".utf8), timeout: Int(10 * testSlowdown))
        } }
        let (headAnswer, seconds) = try await slowHead.value
        #expect(!headAnswer.hasPrefix("HTTP/1.1 200") && seconds < 10 * testSlowdown, "a slow head was served: \(headAnswer.prefix(100)) after \(seconds) s")
        let bodyAnswer = try await slowBody.value
        #expect(status(bodyAnswer) == 408 && bodyAnswer.contains("--request-timeout-ms"), "\(bodyAnswer.prefix(300))")
    }

    @Test func thousandsOfIdleConnectionsStarveNoOne() async throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < 4096 { limit.rlim_cur = min(limit.rlim_max, 4096); setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) }
        // 1500 idle connections against --max-connections 1000: the rest wait in the backlog.
        let daemon = try await DaemonProcess(arguments: suiteArguments + ["--max-connections", "1000", "--idle-timeout-ms", "3000"])
        var idle: [Int32] = []
        defer { idle.forEach { close($0) } }
        for _ in 0..<1500 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0, withUnixAddress(daemon.socket, { connect(fd, $0, $1) }) == 0 else { close(fd); break }
            idle.append(fd)
        }
        #expect(idle.count >= 1000, "only \(idle.count) connections opened")
        // Once the idle ones time out, a real client is served.
        let start = ContinuousClock.now
        var served = false
        for _ in 0..<100 where !served {
            served = (try? await daemon.get("/v2/health/live"))?.status == 200
            if !served { try await Task.sleep(nanoseconds: 200_000_000) }
        }
        #expect(served, "never served with \(idle.count) idle connections open")
        #expect(ContinuousClock.now - start < .seconds(15))
        #expect(try await daemon.post("/v2/models/hamiltonian/classify", try sample("0018-bag.png")).status == 200)
    }
}
