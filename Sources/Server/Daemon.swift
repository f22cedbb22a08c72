// Daemon: `revserve serve` assembled: listeners first (the Unix socket, loopback TCP, or
// systemd's sockets), then the startup models load and warm while /v2/health/live answers;
// SIGTERM/SIGINT drain (ready turns 503, requests in flight finish) and the socket is removed.

import Hummingbird
import Inference
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Tensor

public struct Daemon: Sendable {
    public let configuration: ServeConfiguration
    public let logger: Logger

    public init(configuration: ServeConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Serves until a shutdown signal; returns after a clean drain.
    public func run() async throws {
        let config = configuration
        let models = try ModelRepository.scan(config.modelsDirectory)
        let state = ServerState(), store = ModelStore(), metrics = ServerMetrics(bootstrap: true)
        let api = InferenceAPI(store: store, state: state, metrics: metrics,
                               maxBodyBytes: config.maxBodyBytes, maxImagePixels: config.maxImagePixels)
        let responder = api.router(logger: Logger(label: "revserve.access")).buildResponder()

        // Every listener reports when it accepts connections; models load after that.
        let listeners = ListenerCount()
        var services: [any Service] = []
        let socketIdentity = Mutex<(UInt64, UInt64)?>(nil)
        if config.activatedSockets.isEmpty {
            try UnixSocketFile.prepare(config.socketPath)
            listeners.expect()
            let path = config.socketPath, mode = config.socketMode, logger = self.logger
            services.append(Application(responder: responder,
                                        configuration: .init(address: .unixDomainSocket(path: path), serverName: "revserve"),
                                        onServerRunning: { _ in
                                            do { try UnixSocketFile.setMode(path, mode) } catch { logger.error("\(error)") }
                                            socketIdentity.withLock { $0 = UnixSocketFile.identity(path) }
                                            listeners.started()
                                        }, logger: logger))
        } else {
            for fd in config.activatedSockets {
                services.append(ActivatedListener(descriptor: fd, responder: responder, logger: logger))
            }
        }
        for (host, port) in config.tcpListeners {
            listeners.expect()
            services.append(Application(responder: responder,
                                        configuration: .init(address: .hostname(host, port: port), serverName: "revserve"),
                                        onServerRunning: { _ in listeners.started() }, logger: logger))
        }
        let loader = StartupLoader(models: models, configuration: config, store: store, state: state, metrics: metrics,
                                   listeners: listeners, logger: logger)
        // Shut down in reverse order: readiness drops first, then the listeners drain.
        services += [loader, DrainOnShutdown(state: state, store: store, logger: logger)]
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        defer { UnixSocketFile.remove(config.socketPath, ifIdentity: socketIdentity.withLock { $0 }) }
        try await group.run()
        logger.info("stopped")
    }
}

/// Counts listeners that have started, so that model loading waits for all of them.
final class ListenerCount: Sendable {
    private let counts = Mutex((expected: 0, started: 0))
    private let waiters = Mutex<[CheckedContinuation<Void, Never>]>([])

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

/// Loads and warms the startup models once the listeners are up, then marks the server ready;
/// stays running until shutdown so that the service group keeps going.
struct StartupLoader: Service {
    let models: [ModelSource]
    let configuration: ServeConfiguration
    let store: ModelStore
    let state: ServerState
    let metrics: ServerMetrics
    let listeners: ListenerCount
    let logger: Logger

    func run() async throws {
        await listeners.allStarted()
        for source in models { store.setLoading(source.name, version: source.latest) }
        let compute = ComputeThread(name: "revserve-compute")
        for source in models {
            guard let version = source.latest, let path = source.versions[version] else {
                store.setUnavailable(source.name, version: nil, reason: "no version directory with \(ModelRepository.checkpointName)")
                logger.warning("model '\(source.name)': no version directory with \(ModelRepository.checkpointName); skipped")
                continue
            }
            do {
                let threads = configuration.threads
                let model = try await compute.run { try CheckpointModel(name: source.name, version: version, path: path, threads: threads) }
                let d = model.descriptor
                // Warm-up: a full batch through the network before the model is offered (not
                // counted), so that the first requests find buffers sized for the largest batch.
                let warmup = configuration.batching.maxBatch
                _ = try await compute.run { try model.execute([Float](repeating: 0, count: warmup * d.inputSize), count: warmup) }
                let statistics = ModelStatistics()
                let scheduler = BatchScheduler(configuration: configuration.batching, inputSize: d.inputSize, classes: d.classes,
                                               compute: compute, statistics: statistics,
                                               observer: metrics.observer(model: d.name)) { inputs, n in
                    try model.execute(inputs, count: n)
                }
                store.setReady(ServingModel(model: model, scheduler: scheduler, statistics: statistics))
                logger.info("model '\(d.name)' version \(d.version) ready (\(d.platform), input \(d.inputShape), \(d.classes) classes)")
            } catch {
                store.setUnavailable(source.name, version: version, reason: "\(error)")
                logger.error("model '\(source.name)' version \(version) failed to load: \(error)")
            }
        }
        state.markReady()
        logger.info("ready: \(store.all.filter { $0.state == .ready }.count) of \(models.count) models loaded")
        try? await gracefulShutdown()
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
        for serving in store.all.compactMap(\.serving) { await serving.scheduler.flush() }
    }
}
