// CloseAfterResponse: a response that says `Connection: close` closes the connection once it
// is written. Hummingbird otherwise goes on reading the connection (it looks only at the
// request's Connection header): a request pipelined behind an inference answer, or a body no
// handler reads, trickled a byte at a time, would keep the connection open past every timeout.
//
// When the answer goes out before the request's body has all arrived (an early 404 or 413),
// closing at once would make the client's send fail before it reads the answer, so the rest of
// the body is read and dropped for a short while first ("lingering close"): until the request
// ends, `lingerBytes` more arrive, or `lingerTime` passes, whichever comes first.

import HTTPTypes
import NIOCore
import NIOHTTPTypes

final class CloseAfterResponse: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    static let lingerTime = TimeAmount.seconds(2)
    static let lingerBytes = 16 << 20

    private var closeAtEnd = false
    private var requestOpen = false
    private var lingering = false
    private var lingered = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            requestOpen = true
        case .body(let buffer):
            if lingering {
                lingered += buffer.readableBytes
                if lingered > Self.lingerBytes { context.close(promise: nil); return }
            }
        case .end:
            requestOpen = false
            if lingering { context.close(promise: nil); return }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.kind != .informational:
            closeAtEnd = head.headerFields[.connection]?.lowercased() == "close"
            context.write(data, promise: promise)
        case .end where closeAtEnd:
            closeAtEnd = false
            let written = promise ?? context.eventLoop.makePromise()
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            written.futureResult.whenComplete { _ in
                let (handler, context) = loopBound.value
                handler.finish(context)
            }
            context.write(data, promise: written)
        default:
            context.write(data, promise: promise)
        }
    }

    /// The answer is written: close now, or once the request's remaining body is dropped.
    private func finish(_ context: ChannelHandlerContext) {
        guard requestOpen else { context.close(promise: nil); return }
        lingering = true
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: Self.lingerTime) { loopBound.value.close(promise: nil) }
    }
}
