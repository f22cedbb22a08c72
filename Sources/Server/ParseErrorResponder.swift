// ParseErrorResponder: answers a request the HTTP parser refuses (broken framing, conflicting
// lengths, an over-long request line or header) with a status and a JSON `error` body, then
// closes the connection: the same shape of answer as every other refusal (docs/PROTOCOL.md, Errors).
// Hummingbird's own fallback answers such requests with an empty 400.

import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

final class ParseErrorResponder: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var answered = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Once the refusal is written, nothing else may follow it on this connection.
        guard !answered else { promise?.fail(ChannelError.ioOnClosedChannel); return }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parse = error as? HTTPParserError else { context.fireErrorCaught(error); return }
        guard !answered else { return }
        answered = true
        let (status, message) = Self.answer(parse)
        let body = (try? JSONSerialization.data(withJSONObject: ["error": message], options: [.sortedKeys])) ?? Data("{}".utf8)
        let head = HTTPResponse(status: status, headerFields: [.contentType: "application/json", .connection: "close",
                                                              .contentLength: String(body.count)])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: nil)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in loopBound.value.close(promise: nil) }
    }

    /// The status and message for a parser error.
    static func answer(_ error: HTTPParserError) -> (HTTPResponse.Status, String) {
        switch error {
        case .headerOverflow:
            return (.requestHeaderFieldsTooLarge, "the request line or headers are over the server's --max-header-bytes (or 100 fields)")
        case .unexpectedContentLength:
            return (.badRequest, "malformed HTTP request: conflicting framing (Content-Length with Transfer-Encoding, or two lengths)")
        case .invalidContentLength:
            return (.badRequest, "malformed HTTP request: Content-Length is not one non-negative decimal number")
        default:
            // llhttp reports Content-Length with Transfer-Encoding, a repeated or unsupported
            // Transfer-Encoding and similar framing conflicts as "unknown".
            return (.badRequest, "malformed HTTP request: the parser refused it (\(error)); check the framing headers (Content-Length, Transfer-Encoding) and the request line")
        }
    }
}
