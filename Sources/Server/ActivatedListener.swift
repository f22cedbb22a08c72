// ActivatedListener: serves the router on a listening socket systemd passed in (LISTEN_FDS),
// which Hummingbird's Application cannot adopt: the same HTTP/1 channel, responder and
// quiescing on graceful shutdown as Hummingbird's own server, on an inherited descriptor, with
// the same limits as the daemon's own listeners (header sizes, idle timeout, open connections).

import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import ServiceLifecycle

struct ActivatedListener<Responder: HTTPResponder>: Service where Responder.Context == ServerContext {
    let descriptor: Int32
    let responder: Responder
    let configuration: HTTP1Channel.Configuration
    /// --max-connections: past it, accepted connections wait for a slot before they are served.
    let maxConnections: Int
    let logger: Logger

    func run() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let quiescing = ServerQuiescingHelper(group: group)
        let logger = self.logger, responder = self.responder
        let http = HTTP1Channel(responder: { request, writer, channel in
            let context = ServerContext(source: .init(channel: channel, logger: logger))
            let response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch {
                response = APIError.from(error).response()
            }
            try await writer.write(response: response.head, body: response.body)
        }, configuration: configuration)
        let slots = ConnectionSlots(maxConnections)
        let server = try await ServerBootstrap(group: group)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .bind(NIOBSDSocket.Handle(descriptor)) { channel in http.setup(channel: channel, logger: logger) }
        logger.info("listening on the socket systemd passed as descriptor \(descriptor)")
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { connections in
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        await slots.acquire()
                        connections.addTask {
                            await http.handle(value: connection, logger: logger)
                            await slots.release()
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            // Stop accepting, close idle connections, let requests in flight finish.
            quiescing.initiateShutdown(promise: nil)
        }
    }
}

/// A counting semaphore for connections: acquire waits while `limit` are open.
actor ConnectionSlots {
    private let limit: Int
    private var open = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ limit: Int) { self.limit = max(1, limit) }

    func acquire() async {
        if open < limit { open += 1; return }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        // A waiter takes over the slot being released.
        if waiting.isEmpty { open -= 1 } else { waiting.removeFirst().resume() }
    }
}
