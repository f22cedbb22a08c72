// ServeConfiguration: everything `revserve serve` can be told: where to listen, what to serve,
// how to batch, and the limits that protect the daemon from oversized input.

import Formats
import Inference

public struct ServeConfiguration: Sendable {
    /// Where the Unix socket is created (ignored when systemd passes listening sockets).
    public var socketPath: String
    /// Permission bits of the socket file.
    public var socketMode: UInt32 = 0o660
    /// Extra loopback TCP listeners, as (host, port); port 0 picks a free one.
    public var tcpListeners: [(host: String, port: Int)] = []
    public var modelsDirectory: String = "models"
    /// Architecture plugin libraries (*.so) to load and follow; nil: the built-in architectures.
    public var pluginsDirectory: String?
    /// How often the repository is rescanned besides inotify's notifications.
    public var repositoryPollInterval: Duration = .seconds(2)
    public var batching = BatchingConfiguration()
    /// Compute threads of the serving models' kernels (nil: one per online core).
    public var threads: Int?
    /// Models that may load at once (RepositoryManager's load slots).
    public var loadSlots = RepositoryManager.defaultLoadSlots
    /// Reads each checkpoint in a child process within its time limit, so that libhdf5 never
    /// parses one inside the daemon (nil: in-process).
    public var checkpointReader: CheckpointReader?
    public var limits = RequestLimits()
    public var connections = ConnectionLimits()
    /// Sockets inherited through systemd socket activation (LISTEN_FDS), used instead of binding.
    public var activatedSockets: [Int32] = []

    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    /// docs/spec/PROTOCOL.md's default: $XDG_RUNTIME_DIR/revserve.sock, else /tmp/revserve-<uid>.sock.
    public static func defaultSocketPath(environment: [String: String]) -> String {
        if let dir = environment["XDG_RUNTIME_DIR"], !dir.isEmpty { return dir + "/revserve.sock" }
        return "/tmp/revserve-\(currentUID()).sock"
    }
}
