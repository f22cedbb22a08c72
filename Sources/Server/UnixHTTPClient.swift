// UnixHTTPClient: one HTTP/1.1 request over a Unix domain socket with SwiftNIO's HTTP codec,
// for `revserve classify` and the tests. (AsyncHTTPClient would bring swift-nio-ssl and
// BoringSSL into the build for a client that only ever talks to a local socket.)

import NIOCore
import NIOHTTP1
import NIOPosix

public struct ClientResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
    public var text: String { String(decoding: body, as: UTF8.self) }
}

public enum ClientError: Error, CustomStringConvertible {
    case unreachable(socket: String, reason: String)
    case protocolError(socket: String, reason: String)

    public var description: String {
        switch self {
        case .unreachable(let socket, let reason):
            return "cannot reach the revserve daemon at \(socket): \(reason) (is `revserve serve` running? give its socket with --socket)"
        case .protocolError(let socket, let reason): return "\(socket): the daemon's answer was cut short: \(reason)"
        }
    }
}

public enum UnixHTTPClient {
    /// Sends one request and returns the whole answer; the connection is closed after it.
    public static func send(socket path: String, method: String, path target: String,
                            headers: [(String, String)] = [], body: [UInt8] = []) async throws(ClientError) -> ClientResponse {
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(unixDomainSocketPath: path) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw .unreachable(socket: path, reason: reason(error))
        }
        do {
            return try await channel.executeThenClose { inbound, outbound in
                var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: target)
                head.headers.add(name: "Host", value: "localhost")
                head.headers.add(name: "Content-Length", value: String(body.count))
                head.headers.add(name: "Connection", value: "close")
                for (name, value) in headers { head.headers.replaceOrAdd(name: name, value: value) }
                // A server may answer and close before reading the whole body (413): keep
                // going to read its answer rather than report the failed write.
                var writeError: (any Error)?
                do {
                    try await outbound.write(.head(head))
                    if !body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                    try await outbound.write(.end(nil))
                } catch {
                    writeError = error
                }
                var response = ClientResponse(status: 0, headers: [], body: [])
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        response.status = Int(h.status.code)
                        response.headers = h.headers.map { ($0.name, $0.value) }
                    case .body(let b):
                        response.body += b.readableBytesView
                    case .end:
                        return response
                    }
                }
                throw ClientError.protocolError(socket: path, reason: writeError.map { "\($0)" } ?? "the connection closed before the answer ended")
            }
        } catch let e as ClientError {
            throw e
        } catch {
            throw .protocolError(socket: path, reason: reason(error))
        }
    }

    private static func reason(_ error: any Error) -> String {
        if let e = error as? IOError { return e.description }
        return "\(error)"
    }
}
