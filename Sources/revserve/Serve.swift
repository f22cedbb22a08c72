// `revserve serve`: runs the daemon (docs/spec/PROTOCOL.md) on the models in a repository directory.

import ArgumentParser
import Bounds
import Foundation
import Inference
import Logging
import PluginHost
import Server
import Tensor

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the models in a repository over HTTP on a Unix socket (Open Inference Protocol).",
        discussion: """
            Listens before the models load: /v2/health/live answers at once, /v2/health/ready \
            once every model is loaded and warmed. SIGTERM or SIGINT drains: ready turns 503, \
            requests in flight finish, the socket is removed, the exit status is 0.

            The repository holds models/NAME/VERSION/model.h5 and an optional models/NAME/config.json \
            (docs/REPOSITORY.md); new versions are picked up, checked and swapped in while serving. \
            Architectures come from the plugin libraries in --plugins (docs/PLUGINS.md).

            Examples:
              revserve serve --models models
              revserve serve --socket /tmp/rs.sock --listen tcp://127.0.0.1:8000 \\
                  --max-batch 32
              curl --unix-socket /tmp/rs.sock localhost/v2/health/ready
            """)

    @Option(help: "The model repository directory.")
    var models = "models"

    @OptionGroup var plugins: PluginOptions

    @Option(help: "The Unix socket to create (default: $XDG_RUNTIME_DIR/revserve.sock, else /tmp/revserve-<uid>.sock).")
    var socket: String?

    @Option(help: "Permission bits of the socket file, in octal.")
    var socketMode = "0660"

    @Option(help: ArgumentHelp("Also listen on loopback TCP, e.g. tcp://127.0.0.1:8000 (repeatable).", valueName: "tcp://127.0.0.1:PORT"))
    var listen: [String] = []

    @Option(help: "Largest batch the batcher runs, in images.")
    var maxBatch = 64

    @Option(help: "Longest an idle model holds a request for companions, in microseconds (0: run at once; batches still form from what arrives while a model computes).")
    var maxQueueDelayUs = 0

    @Option(help: "Most images that may wait in a model's queue; more get 503 with Retry-After.")
    var maxQueue = 1024

    @Option(help: "Compute threads (default: all online cores).")
    var threads = ComputeThreads.onlineCores

    @Option(help: "Models that may load at once, each on a thread of its own beside serving; a checkpoint that hangs holds one slot until --checkpoint-check-timeout-ms.")
    var loadSlots = RepositoryManager.defaultLoadSlots

    @Option(help: "Largest request body, in bytes.")
    var maxBodyBytes = 64 << 20

    @Option(help: "Bytes of request bodies held at once across all connections; past it requests get 503 with Retry-After.")
    var maxInflightBodyBytes = 512 << 20

    @Option(help: "Largest image accepted, in pixels (width × height).")
    var maxImagePixels = 4096 * 4096

    @Option(help: "Most images (or FP32 inputs) in one request.")
    var maxImagesPerRequest = 256

    @Option(help: "Longest a request body may take to arrive, in milliseconds (then 408).")
    var requestTimeoutMs = 30_000

    @Option(help: "Most open connections per listener; more wait in the listen backlog.")
    var maxConnections = 1024

    @Option(help: "Largest request header, in bytes (a header field and all of them together).")
    var maxHeaderBytes = 16 << 10

    @Option(help: "A connection without a complete request for this long is closed, in milliseconds.")
    var idleTimeoutMs = 60_000

    @Option(help: "How often the repository and plugin directories are rescanned besides inotify's notices, in milliseconds.")
    var repositoryPollMs = 2000

    @OptionGroup var checkpointCheck: CheckpointCheckOptions

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func validate() throws {
        for (flag, value, bound) in [
            ("--max-batch", maxBatch, BatchingConfiguration.maxBatchBound),
            ("--max-queue-delay-us", maxQueueDelayUs, BatchingConfiguration.maxQueueDelayMicrosecondsBound),
            ("--max-queue", maxQueue, BatchingConfiguration.maxQueueBound),
            ("--threads", threads, FlagBounds.threads),
            ("--load-slots", loadSlots, RepositoryManager.loadSlotsBound),
            ("--max-body-bytes", maxBodyBytes, RequestLimits.maxBodyBytesBound),
            ("--max-inflight-body-bytes", maxInflightBodyBytes, RequestLimits.maxInflightBodyBytesBound),
            ("--max-image-pixels", maxImagePixels, RequestLimits.maxImagePixelsBound),
            ("--max-images-per-request", maxImagesPerRequest, RequestLimits.maxImagesPerRequestBound),
            ("--request-timeout-ms", requestTimeoutMs, RequestLimits.requestTimeoutMillisecondsBound),
            ("--max-connections", maxConnections, ConnectionLimits.maxConnectionsBound),
            ("--max-header-bytes", maxHeaderBytes, ConnectionLimits.maxHeaderBytesBound),
            ("--idle-timeout-ms", idleTimeoutMs, ConnectionLimits.idleTimeoutMillisecondsBound),
            ("--repository-poll-ms", repositoryPollMs, FlagBounds.repositoryPollMilliseconds),
        ] {
            try requireBound(flag, value, bound)
        }
        guard maxInflightBodyBytes >= maxBodyBytes else {
            throw ValidationError("--max-inflight-body-bytes (\(maxInflightBodyBytes)) must be at least --max-body-bytes (\(maxBodyBytes))")
        }
        guard let mode = UInt32(socketMode, radix: 8), mode <= 0o777 else {
            throw ValidationError("--socket-mode must be octal permission bits such as 0660, not '\(socketMode)'")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level '\(logLevel)' is not a log level") }
        for l in listen { _ = try Self.parseListen(l) }
    }

    /// tcp://HOST:PORT with a loopback host: the daemon has no authentication, so it never
    /// listens beyond the machine.
    static func parseListen(_ value: String) throws -> (host: String, port: Int) {
        guard value.hasPrefix("tcp://") else { throw ValidationError("--listen takes tcp://127.0.0.1:PORT, not '\(value)'") }
        let rest = value.dropFirst("tcp://".count)
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--listen '\(value)': give a port, as in tcp://127.0.0.1:8000")
        }
        var host = String(rest[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard ["127.0.0.1", "localhost", "::1"].contains(host) else {
            throw ValidationError("--listen '\(value)': only loopback addresses (127.0.0.1, ::1) are allowed; the daemon has no authentication")
        }
        return (host == "localhost" ? "127.0.0.1" : host, port)
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var config = ServeConfiguration(socketPath: socket ?? ServeConfiguration.defaultSocketPath(environment: ProcessInfo.processInfo.environment))
        config.socketMode = UInt32(socketMode, radix: 8)!
        config.tcpListeners = try listen.map(Self.parseListen)
        config.modelsDirectory = models
        config.batching = BatchingConfiguration(maxBatch: maxBatch, maxQueueDelay: UInt64(maxQueueDelayUs) * 1000, maxQueue: maxQueue)  // bounded in validate()
        config.threads = threads
        config.loadSlots = loadSlots
        config.limits.maxBodyBytes = maxBodyBytes
        config.limits.maxInflightBodyBytes = maxInflightBodyBytes
        config.limits.maxImagePixels = maxImagePixels
        config.limits.maxImagesPerRequest = maxImagesPerRequest
        config.limits.bodyTimeout = UInt64(requestTimeoutMs) * 1_000_000  // at most an hour (validate())
        config.connections = ConnectionLimits()
        config.connections.maxConnections = maxConnections
        config.connections.maxHeaderBytes = maxHeaderBytes
        config.connections.idleTimeoutMilliseconds = idleTimeoutMs
        config.activatedSockets = UnixSocketFile.activatedSockets()
        config.pluginsDirectory = plugins.directory
        config.repositoryPollInterval = .milliseconds(repositoryPollMs)
        config.checkpointReader = checkpointCheck.reader(plugins: plugins)
        do {
            try await Daemon(configuration: config, logger: Logger(label: "revserve")).run()
        } catch {
            printError("\(error)")
            throw ExitCode.failure
        }
    }
}
