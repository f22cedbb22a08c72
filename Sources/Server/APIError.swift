// APIError: every failure a client can see, and the one place that turns errors into HTTP
// statuses and `{"error": "..."}` bodies (docs/spec/PROTOCOL.md, Errors). Handlers throw; the error
// middleware answers. A handler never takes the process down.

import Formats
import Foundation
import HTTPTypes
import Hummingbird
import Locking
import Inference
import NIOCore
import NIOHTTP1

public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    /// Seconds for a `Retry-After` header (503s).
    public var retryAfter: Int?

    public init(_ status: HTTPResponse.Status, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status.code) \(message)" }

    public static func badRequest(_ message: String) -> APIError { APIError(.badRequest, message) }
    public static func notFound(_ message: String) -> APIError { APIError(.notFound, message) }
    public static func tooLarge(_ message: String) -> APIError { APIError(.contentTooLarge, message) }
    public static func unavailable(_ message: String, retryAfter: Int = 1) -> APIError {
        APIError(.serviceUnavailable, message, retryAfter: retryAfter)
    }

    /// The request's task was cancelled because its connection's read side ended: the client
    /// went away (nobody reads this answer) or its body was malformed mid-stream.
    static let ended = APIError(.badRequest, "the request ended early: the connection closed or its body was malformed")

    /// The client-facing form of any error a handler may throw.
    public static func from(_ error: any Error) -> APIError {
        switch error {
        case let e as APIError:
            return e
        case let e as ModelLookupError:
            switch e {
            case .unknownModel, .unknownVersion: return .notFound(e.description)
            case .notReady: return .unavailable(e.description)
            }
        case let e as RepositoryControlError:
            switch e {
            case .unknownModel: return .notFound(e.description)
            case .loadFailed: return .badRequest(e.description)
            }
        case let e as InferenceError:
            switch e {
            case .queueFull(let seconds): return .unavailable(e.description, retryAfter: seconds)
            case .deadlineExceeded: return APIError(.gatewayTimeout, e.description)
            case .cancelled: return .ended
            case .execution: return APIError(.internalServerError, e.description)
            }
        case let e as FormatError:
            if case .imageTooLarge = e { return .tooLarge("\(e); raise the server's --max-image-pixels to accept it") }
            return .badRequest(e.description)
        case is CancellationError:
            return .ended
        case let e as HTTPParserError:
            return .badRequest("malformed HTTP request: \(e)")
        case is NIOTooManyBytesError:
            return .tooLarge("request body over the limit; raise the server's --max-body-bytes to accept it")
        case let e as HTTPError:
            // Hummingbird's own: unmatched routes, unsupported methods, over-long bodies.
            switch e.status {
            case .notFound: return .notFound(e.body ?? "no such endpoint; see PROTOCOL.md for the API")
            case .contentTooLarge: return .tooLarge("request body over the limit; raise the server's --max-body-bytes to accept it")
            default: return APIError(e.status, e.body ?? e.status.reasonPhrase)
            }
        case is DecodingError:
            return .badRequest("malformed JSON: \(describe(error))")
        default:
            return APIError(.internalServerError, "internal error: \(error)")
        }
    }

    /// The response for this error.
    public func response(version: String? = nil) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if let version { headers[.modelVersion] = version }
        let body = (try? JSONSerialization.data(withJSONObject: ["error": message], options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// A short, path-qualified description of a JSON decoding error.
    static func describe(_ error: any Error) -> String {
        guard let e = error as? DecodingError else { return "\(error)" }
        func path(_ c: DecodingError.Context) -> String {
            let p = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "" : " at \(p)"
        }
        switch e {
        case .typeMismatch(let type, let c): return "expected \(type)\(path(c))"
        case .valueNotFound(let type, let c): return "missing \(type) value\(path(c))"
        case .keyNotFound(let key, let c): return "missing key '\(key.stringValue)'\(path(c))"
        case .dataCorrupted(let c): return "\(c.debugDescription)\(path(c))"
        @unknown default: return "\(e)"
        }
    }
}

extension HTTPField.Name {
    /// Every inference answer names the model version that computed it (docs/spec/PROTOCOL.md).
    static let modelVersion = HTTPField.Name("revserve-model-version")!
    /// Binary tensor data extension: the JSON header's length within the body.
    static let inferenceHeaderContentLength = HTTPField.Name("Inference-Header-Content-Length")!
}

/// Turns whatever a route throws into the protocol's error response.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return APIError.from(error).response()
        }
    }
}

/// What every request passes before routing: a request target of at most
/// ConnectionLimits.maxURIBytes (414), no CONNECT (405: there is nothing to tunnel to), and a
/// request whose body no handler read to its end gets `Connection: close` on its answer
/// (CloseAfterResponse then closes): such a body is not read on, however slowly it arrives.
/// Every other answer leaves the connection open (keep-alive).
struct RequestGuard<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let hasBody = request.headers[.transferEncoding] != nil || (request.headers[.contentLength].map { $0 != "0" } ?? false)
        var response: Response
        let length = request.uri.string.utf8.count
        let read = Locked(false)
        if request.method == .connect {
            response = APIError(.methodNotAllowed, "CONNECT is not supported: the server tunnels nothing").response()
            response.headers[.connection] = "close"
            return response
        } else if length > ConnectionLimits.maxURIBytes {
            response = APIError(.uriTooLong, "the request target is \(length) bytes; the limit is \(ConnectionLimits.maxURIBytes)").response()
        } else {
            do {
                response = try await BodyRead.$flag.withValue(read) { try await next(request, context) }
            } catch {
                response = APIError.from(error).response()
            }
        }
        if hasBody && !read.withLock({ $0 }) { response.headers[.connection] = "close" }
        return response
    }
}

/// Whether the current request's body was read to its end: the handler that reads it says so,
/// and RequestGuard keeps the connection open only then.
enum BodyRead {
    @TaskLocal static var flag: Locked<Bool>?

    static func markRead() { flag?.withLock { $0 = true } }
}
