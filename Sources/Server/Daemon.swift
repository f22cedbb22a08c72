// Daemon: `revserve serve` assembled: listeners first (the Unix socket, loopback TCP, or
// systemd's sockets), then the startup models load and warm while /v2/health/live answers;
// SIGTERM/SIGINT drain (ready turns 503, requests in flight finish) and the socket is removed.

import CShims
import Hummingbird
import HummingbirdCore
import Inference
import Locking
import Logging
import PluginHost
import NIOCore
import ServiceLifecycle

public struct Daemon: Sendable {
    public let configuration: ServeConfiguration
    public let logger: Logger

    public init(configuration: ServeConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Serves until a shutdown signal; returns after a clean drain.
    public func run() async throws {
        // A long-running server with a few busy threads: glibc's default of 8 arenas per core
        // lets freed model and batch memory scatter over arenas it never returns; two keep the
        // resident size tracking what is live (docs/REPOSITORY.md).
        _ = rs_malloc_arena_max(2)
        let config = configuration
        _ = try ModelRepository.scan(config.modelsDirectory)   // a missing directory stops us before we listen
        let state = ServerState(), store = ModelStore(), metrics = ServerMetrics(bootstrap: true)
        let repository = RepositoryManager(directory: config.modelsDirectory,
                                           settings: LoadSettings(batching: config.batching, threadCount: config.threads,
                                                                  reader: config.checkpointReader),
                                           store: store, compute: ComputeThread(name: "revserve-compute"), loadSlots: config.loadSlots,
                                           observer: { metrics.observer(model: $0) }, logger: logger)
        let api = InferenceAPI(store: store, repository: repository, state: state, metrics: metrics, limits: config.limits)
        let responder = api.router(logger: Logger(label: "revserve.access")).buildResponder()

        // HTTP/1 with bounded headers and an idle timeout (a connection that sends no complete
        // request head within it is closed: slow-header clients cannot pin connections).
        let http1Configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ParseErrorResponder(), CloseAfterResponse(), ClientDeparture()],
            idleTimeout: .milliseconds(Int64(config.connections.idleTimeoutMilliseconds)),
            httpDecoderConfiguration: .init(maxHeaderFieldSize: config.connections.maxHeaderBytes,
                                            maxHeaderListSize: config.connections.maxHeaderBytes, maxHeaderFieldCount: 100))
        let http1 = HTTPServerBuilder.http1(configuration: http1Configuration)

        // Every listener reports when it accepts connections; models load after that.
        let listeners = ListenerCount()
        var services: [any Service] = []
        let socketIdentity = Locked<(UInt64, UInt64)?>(nil)
        if config.activatedSockets.isEmpty {
            try UnixSocketFile.checkDirectory(config.socketPath)
            try UnixSocketFile.prepare(config.socketPath)
            listeners.expect()
            let path = config.socketPath, mode = config.socketMode, logger = self.logger
            services.append(Application(responder: responder, server: http1,
                                        configuration: .init(address: .unixDomainSocket(path: path), serverName: "revserve",
                                                             availableConnectionsDelegate: ConnectionLimiter(config.connections.maxConnections)),
                                        onServerRunning: { _ in
                                            do { try UnixSocketFile.setMode(path, mode) } catch { logger.error("\(error)") }
                                            socketIdentity.withLock { $0 = UnixSocketFile.identity(path) }
                                            listeners.started()
                                        }, logger: logger))
        } else {
            for fd in config.activatedSockets {
                services.append(ActivatedListener(descriptor: fd, responder: responder, configuration: http1Configuration,
                                                  maxConnections: config.connections.maxConnections, logger: logger))
            }
        }
        for (host, port) in config.tcpListeners {
            listeners.expect()
            services.append(Application(responder: responder, server: http1,
                                        configuration: .init(address: .hostname(host, port: port), serverName: "revserve",
                                                             availableConnectionsDelegate: ConnectionLimiter(config.connections.maxConnections)),
                                        onServerRunning: { _ in listeners.started() }, logger: logger))
        }
        let plugins = config.pluginsDirectory.map { PluginRegistry(directory: $0) }
        let loader = RepositoryService(repository: repository, plugins: plugins, pollInterval: config.repositoryPollInterval,
                                       store: store, state: state, listeners: listeners, logger: logger)
        // Shut down in reverse order: readiness drops first, then the listeners drain.
        services += [loader, DrainOnShutdown(state: state, store: store, logger: logger)]
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        defer { UnixSocketFile.remove(config.socketPath, ifIdentity: socketIdentity.withLock { $0 }) }
        try await group.run()
        logger.info("stopped")
    }
}

/// Stops accepting connections while --max-connections are open (they wait in the listen
/// backlog instead of taking file descriptors).
struct ConnectionLimiter: AvailableConnectionsDelegate {
    let limit: Int
    var open = 0
    init(_ limit: Int) { self.limit = limit }
    mutating func connectionOpened() { open += 1 }
    mutating func connectionClosed() { open -= 1 }
    func isAcceptingNewConnections() -> Bool { open < limit }
}

/// Counts listeners that have started, so that model loading waits for all of them.
final class ListenerCount: Sendable {
    private let counts = Locked((expected: 0, started: 0))
    private let waiters = Locked<[CheckedContinuation<Void, Never>]>([])

    func expect() { counts.withLock { $0.expected += 1 } }

    func started() {
        let done = counts.withLock { c -> Bool in c.started += 1; return c.started >= c.expected }
        if done { for w in waiters.withLock({ w in defer { w = [] }; return w }) { w.resume() } }
    }

    func allStarted() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = counts.withLock { $0.started >= $0.expected }
            if ready { c.resume() } else {
                waiters.withLock { $0.append(c) }
                // A listener may have started between the check and the append.
                if counts.withLock({ $0.started >= $0.expected }) {
                    for w in waiters.withLock({ w in defer { w = [] }; return w }) { w.resume() }
                }
            }
        }
    }
}

/// Loads and warms the repository's models once the listeners are up, marks the server ready,
/// then follows the repository (inotify and periodic rescans) until shutdown.
struct RepositoryService: Service {
    let repository: RepositoryManager
    let plugins: PluginRegistry?
    let pollInterval: Duration
    let store: ModelStore
    let state: ServerState
    let listeners: ListenerCount
    let logger: Logger

    func run() async throws {
        await listeners.allStarted()
        _ = loadPlugins()
        await repository.reconcile()
        state.markReady()
        let entries = store.all
        logger.info("ready: \(entries.filter { $0.state == .ready }.count) of \(entries.count) models loaded")
        let repository = self.repository
        let watcher = RepositoryWatcher(directory: repository.directory, others: plugins.map { [$0.directory] } ?? [],
                                        pollInterval: pollInterval) {
            // A new or rebuilt plugin first, so that the models using it reload on it.
            let replaced = loadPlugins()
            if replaced.isEmpty { await repository.reconcile() } else { await repository.reloadModels(using: replaced) }
            // Hand back heap pages freed since the last tick (large bodies and batches leave
            // free pages inside the heap that free() alone never returns).
            _ = rs_malloc_trim()
        }
        if !watcher.usesInotify { logger.warning("inotify is unavailable; the repository is rescanned every \(pollInterval)") }
        await cancelWhenGracefulShutdown { await watcher.run() }
    }
}

extension RepositoryService {
    /// Loads new or changed plugin libraries; returns the architectures they (re)defined.
    func loadPlugins() -> Set<String> {
        guard let plugins else { return [] }
        let change = plugins.rescan()
        for error in change.refused { logger.error("plugin refused: \(error)") }
        for a in change.loaded { logger.info("plugin '\(a.name)' loaded from \(a.library.source): \(a.description)") }
        return Set(change.loaded.map(\.name))
    }
}

/// First to hear of a shutdown: readiness turns 503, new inference work is refused, and the
/// batchers run what is queued at once (no new request will come to fill a batch).
struct DrainOnShutdown: Service {
    let state: ServerState
    let store: ModelStore
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        state.markDraining()
        logger.info("shutting down: draining requests in flight")
        for serving in store.serving { await serving.scheduler.flush() }
    }
}
