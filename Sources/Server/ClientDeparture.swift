// ClientDeparture: tells a request that its client went away (the connection closed, or the
// client shut its sending side) so that its queued work is dropped, while the connection stays
// usable for the next request. Hummingbird's consumeWithCancellationOnInboundClose watches by
// taking over the connection's read side, which then cannot carry another request: every
// inference answer would have to close its connection. Here a channel handler sees the close
// and the request only registers interest in it.

import Locking
import NIOCore
import NIOHTTPTypes

final class ClientDeparture: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let signal = DepartureSignal()
    private var key: ObjectIdentifier?

    /// Signals by connection, so that a request finds its own without a trip to the event loop.
    private static let signals = Locked<[ObjectIdentifier: DepartureSignal]>([:])

    /// The departure signal of the connection `channel`, if it has one.
    static func signal(for channel: any Channel) -> DepartureSignal? {
        signals.withLock { $0[ObjectIdentifier(channel)] }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let key = ObjectIdentifier(context.channel)
        self.key = key
        Self.signals.withLock { $0[key] = signal }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        signal.fire()
        if let key { _ = Self.signals.withLock { $0.removeValue(forKey: key) } }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        signal.fire()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Half-closure is allowed on the server's connections, so a client that closes arrives
        // as the end of its input, not as an inactive channel.
        if let event = event as? ChannelEvent, event == .inputClosed { signal.fire() }
        context.fireUserInboundEventTriggered(event)
    }
}

/// One connection's "the client left" event, with at most one request waiting on it (HTTP/1
/// runs a connection's requests one after another).
final class DepartureSignal: Sendable {
    private struct State {
        var departed = false
        var waiter: (@Sendable () -> Void)?
    }
    private let state = Locked(State())

    func fire() {
        let waiter = state.withLock { s -> (@Sendable () -> Void)? in
            s.departed = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?()
    }

    /// Runs `operation`, cancelled as soon as the client leaves (or already has).
    func cancellingOnDeparture<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        // A task of its own, so that the departure (on an event loop) has a handle to cancel.
        let task = Task { try await operation() }
        let gone = state.withLock { s -> Bool in
            if !s.departed { s.waiter = { task.cancel() } }
            return s.departed
        }
        if gone { task.cancel() }
        defer { state.withLock { $0.waiter = nil } }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }
}
