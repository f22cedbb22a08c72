// ServerContext: the request context of the daemon's router: Hummingbird's core context plus
// the connection, so that control endpoints can ask who is on the other end (SO_PEERCRED).

import Hummingbird
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

public struct ServerContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The peer's credentials as `struct ucred` lays them out (pid, uid, gid).
    struct PeerCredentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// The connecting process's user id, or nil when the transport has none (TCP).
    func peerUID() async -> UInt32? {
        guard case .unixDomainSocket = channel.localAddress, let provider = channel as? any SocketOptionProvider else { return nil }
        let credentials: PeerCredentials? = try? await provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)).get()
        return credentials?.uid
    }

    /// Throws 403 unless the peer is this daemon's user or root.
    func requireOwner(_ what: String) async throws(APIError) {
        guard let uid = await peerUID() else {
            throw APIError(.forbidden, "\(what) is allowed only over the Unix socket, where the caller's user can be checked")
        }
        let owner = getuid()
        guard uid == owner || uid == 0 else {
            throw APIError(.forbidden, "\(what) is allowed only to the daemon's own user (uid \(owner)) or root; the caller is uid \(uid)")
        }
    }
}
