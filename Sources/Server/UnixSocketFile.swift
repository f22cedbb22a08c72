// UnixSocketFile: docs/spec/PROTOCOL.md's socket conventions: a stale socket (a socket nobody listens
// on) is removed before binding, any other file is refused; the new socket gets its mode; on
// exit the file is removed only if it is still ours. Also systemd's LISTEN_FDS.

#if canImport(Glibc)
import Glibc
#endif

public enum SocketError: Error, Equatable, CustomStringConvertible {
    case notASocket(String)
    case unsafeDirectory(String)
    case inUse(String)
    case pathTooLong(String, limit: Int)
    case system(String, operation: String, errno: Int32)

    public var description: String {
        switch self {
        case .notASocket(let p): return "\(p) exists and is not a socket; refusing to replace it (choose another --socket path)"
        case .unsafeDirectory(let d): return "\(d) is writable by every user and has no sticky bit, so anyone could replace the socket; choose a --socket in a directory only you (or root) can write, or chmod +t \(d)"
        case .inUse(let p): return "\(p): another server is listening on this socket (stop it or choose another --socket path)"
        case .pathTooLong(let p, let limit): return "\(p): socket paths are limited to \(limit) bytes"
        case .system(let p, let op, let e): return "\(p): \(op) failed: \(String(cString: strerror(e)))"
        }
    }
}

public func currentUID() -> UInt32 { getuid() }

public enum UnixSocketFile {
    /// Longest path sockaddr_un holds (with its terminating NUL).
    static let maxPathLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// Refuses a socket directory that others may write without the sticky bit (they could
    /// unlink our socket and put their own in its place).
    public static func checkDirectory(_ path: String) throws(SocketError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        var st = stat()
        guard stat(directory, &st) == 0 else { throw .system(directory, operation: "stat", errno: errno) }
        if st.st_mode & S_IWOTH != 0 && st.st_mode & S_ISVTX == 0 { throw .unsafeDirectory(directory) }
    }

    /// Makes `path` free for binding: nothing there, or a stale socket (removed).
    public static func prepare(_ path: String) throws(SocketError) {
        guard path.utf8.count <= maxPathLength else { throw .pathTooLong(path, limit: maxPathLength) }
        var st = stat()
        if lstat(path, &st) != 0 {
            if errno == ENOENT { return }
            throw .system(path, operation: "stat", errno: errno)
        }
        guard st.st_mode & S_IFMT == S_IFSOCK else { throw .notASocket(path) }
        switch connectProbe(path) {
        case 0: throw .inUse(path)
        case ECONNREFUSED, ENOENT:
            if unlink(path) != 0 && errno != ENOENT { throw .system(path, operation: "removing the stale socket", errno: errno) }
        case let e: throw .system(path, operation: "probing the existing socket", errno: e)
        }
    }

    /// 0 if something accepts connections on `path`, else the connect errno.
    static func connectProbe(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(maxPathLength))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return rc == 0 ? 0 : errno
    }

    /// The identity of the file at `path` (device, inode), to recognise our own socket later.
    public static func identity(_ path: String) -> (UInt64, UInt64)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    public static func setMode(_ path: String, _ mode: UInt32) throws(SocketError) {
        guard chmod(path, mode_t(mode)) == 0 else { throw .system(path, operation: "chmod", errno: errno) }
    }

    /// Removes `path` if it is still the socket we created (a newer server may own it now).
    public static func remove(_ path: String, ifIdentity identity: (UInt64, UInt64)?) {
        guard let identity, let now = Self.identity(path), now == identity else { return }
        unlink(path)
    }

    /// Listening sockets passed by systemd (LISTEN_PID is us, LISTEN_FDS of them from fd 3);
    /// the variables are then removed so that children do not inherit them.
    public static let maxActivatedSockets: Int32 = 64

    public static func activatedSockets() -> [Int32] {
        guard let pid = getenv("LISTEN_PID").map({ String(cString: $0) }), Int32(pid) == getpid(),
              let count = getenv("LISTEN_FDS").map({ String(cString: $0) }).flatMap({ Int32($0) }), count > 0 else { return [] }
        // systemd passes a handful; a larger count is a wrong environment, not sockets.
        guard count <= maxActivatedSockets else { return [] }
        unsetenv("LISTEN_PID")
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_FDNAMES")
        return (0..<count).map { 3 + $0 }
    }
}
