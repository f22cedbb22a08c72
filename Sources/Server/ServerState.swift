// ServerState: the daemon's phase: loading its startup models, ready, or draining after a
// shutdown signal. Readiness and admission of new inference work follow from it.

import Locking

public final class ServerState: Sendable {
    public enum Phase: Sendable, Equatable {
        case loading, ready, draining
    }

    private let phase = Locked(Phase.loading)

    public init() {}

    public var current: Phase { phase.withLock { $0 } }

    /// Startup models are loaded and warmed (no-op once draining).
    public func markReady() {
        phase.withLock { if $0 == .loading { $0 = .ready } }
    }

    public func markDraining() {
        phase.withLock { $0 = .draining }
    }

    /// Throws 503 unless new inference work may start: inference is served while loading for
    /// models already loaded, refused once draining.
    func admitWork() throws(APIError) {
        if current == .draining {
            throw .unavailable("the server is shutting down and accepts no new requests; retry on another instance or after restart")
        }
    }
}
