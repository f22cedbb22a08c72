// TritonClientTests: Triton's own Python client (tritonclient[http], installed by
// tritonclient/run.sh in a virtual environment) against the daemon's loopback TCP listener.

import Foundation
import ServerTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A loopback TCP port nobody listens on right now.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard ok else { throw HarnessError.failed("no free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

@Suite(.timeLimit(.minutes(5 * testSlowdownMinutes))) struct TritonClientTests {
    @Test func tritonclientSpeaksToTheTCPListener() async throws {
        let port = try freePort()
        let daemon = try await DaemonProcess(arguments: ["--listen", "tcp://127.0.0.1:\(port)"])
        let script = repositoryRoot.appendingPathComponent("Tests/ServerTests/tritonclient/run.sh").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [script, "127.0.0.1:\(port)", "hamiltonian", samplesDirectory.appendingPathComponent("0009-sneaker.png").path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)\n--- daemon log ---\n\(daemon.log.suffix(3000))")
        #expect(text.contains("all checks passed"))
    }
}
