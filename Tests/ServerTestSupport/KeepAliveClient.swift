// KeepAliveClient: one HTTP/1.1 connection (Unix socket or loopback TCP) that sends request
// after request and reads each answer by its Content-Length, as a keep-alive client library
// does; blocking, for a test's own thread. A connection the server closed fails the next call.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class KeepAliveClient: @unchecked Sendable {   // used by one thread at a time
    public struct Answer: Sendable {
        public var status: Int
        /// Header names lowercased.
        public var headers: [String: String]
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    private let fd: Int32
    private var pending: [UInt8] = []
    /// Requests answered on this connection.
    public private(set) var answered = 0

    /// Connects to the Unix socket at `socket`.
    public init(socket: String, timeoutSeconds: Int = 30) throws {
        fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError.failed("socket() failed") }
        guard withUnixAddress(socket, { connect(fd, $0, $1) }) == 0 else {
            close(fd)
            throw HarnessError.failed("connect to \(socket) failed: errno \(errno)")
        }
        setTimeout(timeoutSeconds)
    }

    /// Connects to 127.0.0.1:`port`.
    public init(port: Int, timeoutSeconds: Int = 30) throws {
        fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError.failed("socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw HarnessError.failed("connect to 127.0.0.1:\(port) failed: errno \(errno)")
        }
        setTimeout(timeoutSeconds)
    }

    deinit { close(fd) }

    /// Closes the connection now (the server sees the client leave).
    public func shutdownBothWays() { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }

    private func setTimeout(_ seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends one request (without waiting for its answer).
    public func send(_ method: String, _ path: String, body: [UInt8] = [], contentType: String? = nil) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        let bytes = Array((head + "\r\n").utf8) + body
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw HarnessError.failed("send failed after \(answered) answers: errno \(errno)") }
            sent += n
        }
    }

    /// Reads the next answer.
    public func receive() throws -> Answer {
        while true {
            if let end = headerEnd() {
                let head = String(decoding: pending[..<end], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
                let statusLine = head.first?.split(separator: " ") ?? []
                guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw HarnessError.failed("bad status line: \(head.first ?? "")") }
                var headers: [String: String] = [:]
                for line in head.dropFirst() where !line.isEmpty {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                guard let length = headers["content-length"].flatMap(Int.init) else {
                    throw HarnessError.failed("an answer without Content-Length: \(headers)")
                }
                try fill(end + 4 + length)
                let body = Array(pending[(end + 4)..<(end + 4 + length)])
                pending.removeFirst(end + 4 + length)
                answered += 1
                return Answer(status: status, headers: headers, body: body)
            }
            try fill(pending.count + 1)
        }
    }

    /// One request and its answer.
    public func exchange(_ method: String, _ path: String, body: [UInt8] = [], contentType: String? = nil) throws -> Answer {
        try send(method, path, body: body, contentType: contentType)
        return try receive()
    }

    private func headerEnd() -> Int? {
        guard pending.count >= 4 else { return nil }
        for i in 0...(pending.count - 4) where pending[i] == 13 && pending[i + 1] == 10 && pending[i + 2] == 13 && pending[i + 3] == 10 {
            return i
        }
        return nil
    }

    private func fill(_ count: Int) throws {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while pending.count < count {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else {
                throw HarnessError.failed(n == 0 ? "the server closed the connection after \(answered) answers" : "recv failed: errno \(errno)")
            }
            pending += buffer[0..<n]
        }
    }
}
