// CloseAfterResponse: a response that says `Connection: close` closes the connection once it
// is written. Hummingbird otherwise goes on reading the connection (it looks only at the
// request's Connection header): a request pipelined behind an inference answer, or a body no
// handler reads, trickled a byte at a time, kept the connection open past every timeout.

import HTTPTypes
import NIOCore
import NIOHTTPTypes

final class CloseAfterResponse: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var closeAtEnd = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.kind != .informational:
            closeAtEnd = head.headerFields[.connection]?.lowercased() == "close"
            context.write(data, promise: promise)
        case .end where closeAtEnd:
            closeAtEnd = false
            let written = promise ?? context.eventLoop.makePromise()
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            written.futureResult.whenComplete { _ in loopBound.value.close(promise: nil) }
            context.write(data, promise: written)
        default:
            context.write(data, promise: promise)
        }
    }
}
