// DaemonHarness: the real daemon as a subprocess on a temporary socket, for the integration
// tests: start, wait for readiness, talk HTTP (through the project's client or raw bytes),
// signal and reap. Each test owns its daemon; a daemon left running is killed on deinit.

import Foundation
import Server
#if canImport(Glibc)
import Glibc
#endif

/// The repository root (for models/ and samples/).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
public let bundledModels = repositoryRoot.appendingPathComponent("models").path
public let samplesDirectory = repositoryRoot.appendingPathComponent("samples")

/// How many times slower than an optimised build this run's code is: REVSERVE_TEST_SLOWDOWN,
/// set by `make test-sanitize` (sanitizers slow code 2–15×). Waits and time bounds scale with it.
public let testSlowdown: Double = max(1, Double(ProcessInfo.processInfo.environment["REVSERVE_TEST_SLOWDOWN"] ?? "") ?? 1)
/// `testSlowdown` rounded up, for time limits given in whole minutes.
public let testSlowdownMinutes = Int(testSlowdown.rounded(.up))
/// The sanitizer this run is built with (REVSERVE_SANITIZER), if any. Resident memory and
/// latency are then the sanitizer's (shadow memory, quarantine, instrumentation): tests that
/// measure them say so in their output and check only what does not depend on them.
public let activeSanitizer: String? = ProcessInfo.processInfo.environment["REVSERVE_SANITIZER"]

/// The built revserve binary: $REVSERVE_BIN, or next to the test bundle, or in a build folder.
public func revserveBinary() throws -> String {
    if let path = ProcessInfo.processInfo.environment["REVSERVE_BIN"] { return path }
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [here.appendingPathComponent("revserve"), repositoryRoot.appendingPathComponent(".build-test/release/revserve"),
                      repositoryRoot.appendingPathComponent(".build/release/revserve")]
        where FileManager.default.isExecutableFile(atPath: candidate.path) {
        return candidate.path
    }
    throw HarnessError.failed("the revserve binary is not built")
}

public enum HarnessError: Error, CustomStringConvertible {
    case failed(String)
    public var description: String { if case .failed(let s) = self { return s }; return "" }
}

/// A fresh short directory under /tmp (socket paths are limited to 107 bytes).
public func temporaryDirectory() throws -> URL {
    let url = URL(fileURLWithPath: "/tmp/rs-test-" + UUID().uuidString.prefix(8))
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

public func sample(_ name: String) throws -> [UInt8] {
    Array(try Data(contentsOf: samplesDirectory.appendingPathComponent(name)))
}

public final class DaemonProcess: @unchecked Sendable {
    public let directory: URL
    public let socket: String
    public let process = Process()
    public let logURL: URL

    /// Starts `revserve serve` on a new socket with `arguments` added; waits until ready
    /// (or only until the socket answers /v2/health/live when `waitReady` is false).
    /// `environment` is added to the test's; `launcher` runs instead of revserve, with the
    /// serve arguments after its own (it must exec revserve with them).
    public init(models: String = bundledModels, arguments: [String] = [], socket: String? = nil, waitReady: Bool = true,
         environment: [String: String] = [:], launcher: [String]? = nil) async throws {
        directory = try temporaryDirectory()
        self.socket = socket ?? directory.appendingPathComponent("rs.sock").path
        logURL = directory.appendingPathComponent("daemon.log")
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let serve = ["serve", "--models", models, "--socket", self.socket, "--threads", "2"] + arguments
        if let launcher {
            process.executableURL = URL(fileURLWithPath: launcher[0])
            process.arguments = Array(launcher.dropFirst()) + [try revserveBinary()] + serve
        } else {
            process.executableURL = URL(fileURLWithPath: try revserveBinary())
            process.arguments = serve
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let log = try FileHandle(forWritingTo: logURL)
        process.standardOutput = log
        process.standardError = log
        try process.run()
        try await waitFor(waitReady ? "/v2/health/ready" : "/v2/health/live")
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    public var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// Polls `path` until it answers 200 (up to 60 s × testSlowdown).
    public func waitFor(_ path: String) async throws {
        for _ in 0..<Int(1200 * testSlowdown) {
            guard process.isRunning else { throw HarnessError.failed("the daemon exited with \(process.terminationStatus): \(log)") }
            if let r = try? await get(path), r.status == 200 { return }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        throw HarnessError.failed("the daemon never answered 200 on \(path): \(log)")
    }

    public func get(_ path: String) async throws -> ClientResponse {
        try await UnixHTTPClient.send(socket: socket, method: "GET", path: path)
    }

    public func post(_ path: String, _ body: [UInt8], headers: [(String, String)] = []) async throws -> ClientResponse {
        try await UnixHTTPClient.send(socket: socket, method: "POST", path: path, headers: headers, body: body)
    }

    public func postJSON(_ path: String, _ object: Any) async throws -> ClientResponse {
        try await post(path, Array(try JSONSerialization.data(withJSONObject: object)), headers: [("Content-Type", "application/json")])
    }

    /// Waits (up to 60 s × testSlowdown) until `model`'s queue holds `images` images, per /metrics.
    public func waitForQueueDepth(_ images: Int, model: String) async throws -> Bool {
        for _ in 0..<Int(600 * testSlowdown) {
            let metrics = try await get("/metrics").text
            let depth = metrics.split(separator: "\n").first { $0.hasPrefix("revserve_queue_depth{model=\"\(model)\"}") }
                .flatMap { Double($0.split(separator: " ").last ?? "") }.map(Int.init) ?? 0
            if depth == images { return true }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        return false
    }

    /// Sends a signal and waits for the exit status (up to 60 s × testSlowdown).
    public func stop(_ signal: Int32 = SIGTERM) async throws -> Int32 {
        kill(process.processIdentifier, signal)
        for _ in 0..<Int(600 * testSlowdown) where process.isRunning { try await Task.sleep(nanoseconds: 100_000_000) }
        guard !process.isRunning else { throw HarnessError.failed("the daemon did not exit after signal \(signal): \(log)") }
        return process.terminationStatus
    }
}

/// The JSON object of a response body.
public func jsonObject(_ r: ClientResponse) throws -> [String: Any] {
    guard let o = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any] else {
        throw HarnessError.failed("not a JSON object: \(r.text)")
    }
    return o
}

/// The `error` string of an error response (and a check that it is the only key).
public func errorMessage(_ r: ClientResponse) -> String {
    guard let o = try? jsonObject(r), o.count == 1, let e = o["error"] as? String else { return "<no error body: \(r.text)>" }
    return e
}

/// Runs blocking work on a thread of its own, so that it never holds one of Swift
/// concurrency's few pool threads (which the daemon clients in the same test need).
public func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try work() }) }
        thread.start()
    }
}

/// Calls `body` (connect or bind) with a sockaddr_un for `path`.
public func withUnixAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        let p = Array(path.utf8)
        raw.copyBytes(from: p)
        raw[p.count] = 0
    }
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}

/// Sends raw bytes on a new connection to a Unix socket and returns all it answers before
/// the server closes the connection (or `timeout` seconds pass).
public func rawExchange(socket path: String, _ bytes: [UInt8], timeout: Int = 10) throws -> String {
    let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HarnessError.failed("socket() failed") }
    defer { close(fd) }
    guard withUnixAddress(path, { connect(fd, $0, $1) }) == 0 else { throw HarnessError.failed("connect to \(path) failed: errno \(errno)") }
    var tv = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var out = [UInt8](), buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
        out += buffer[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

/// The lowest of `samples` readings of a process's resident memory, 200 ms apart (in-flight
/// requests come and go; the floor is what the process keeps).
public func residentFloor(_ pid: Int32, samples: Int = 8) async throws -> Int {
    var lowest = Int.max
    for _ in 0..<samples {
        lowest = min(lowest, residentBytes(pid))
        try await Task.sleep(nanoseconds: 200_000_000)
    }
    return lowest
}

/// Resident memory of a process, bytes.
public func residentBytes(_ pid: Int32) -> Int {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
}

/// The result of running revserve to completion.
public struct RunResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Runs revserve to completion.
public func revserveRun(_ arguments: [String]) throws -> RunResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try revserveBinary())
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return RunResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                     stderr: String(decoding: stderr, as: UTF8.self))
}
