// PluginRegistry: the plugins of one directory, registered as the architectures their names
// resolve to. Rescanning loads new or changed libraries (under new private paths) and
// re-registers them; it reports what changed so that models using a replaced architecture can
// be reloaded through the usual warm-up-and-swap path.

import Foundation
import Locking
import RevNet
#if canImport(Glibc)
import Glibc
#endif

public final class PluginRegistry: Sendable {
    public struct Change: Sendable {
        /// Architectures newly registered or replaced by a changed library.
        public var loaded: [PluginArchitecture] = []
        /// Libraries refused, with why.
        public var refused: [PluginError] = []
    }

    public let directory: String
    /// Per library file: its fingerprint when last loaded (or refused).
    private let seen = Locked<[String: [UInt64]]>([:])

    public init(directory: String) {
        self.directory = directory
    }

    /// The default plugin directory: the one holding the running executable, where SwiftPM
    /// puts the bundled plugin libraries.
    public static var besideExecutable: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
    }

    /// Loads every new or changed library in the directory and registers its architecture.
    /// A directory others may write is refused whole: they could drop code in it.
    public func rescan() -> Change {
        var change = Change()
        var st = stat()
        if stat(directory, &st) == 0, st.st_mode & (S_IWOTH | S_IWGRP) != 0 {
            let key = directory + "/"
            if seen.withLock({ $0[key] }) == nil {
                seen.withLock { $0[key] = [] }
                change.refused.append(.unsafePermissions(directory, reason: "the plugin directory is writable by its group or other users (chmod go-w)"))
            }
            return change
        }
        for path in PluginLoader.libraries(in: directory) {
            guard let fingerprint = Self.fingerprint(path) else { continue }
            guard seen.withLock({ $0[path] }) != fingerprint else { continue }
            seen.withLock { $0[path] = fingerprint }
            do {
                let architecture = try PluginLoader.load(path)
                Architectures.register(architecture)
                change.loaded.append(architecture)
            } catch {
                change.refused.append(error)
            }
        }
        return change
    }

    /// (inode, size, mtime ns). Only compared for equality, so the time wraps instead of
    /// trapping: a library may be dated before 1970 or after 2554.
    static func fingerprint(_ path: String) -> [UInt64]? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        let seconds = UInt64(bitPattern: Int64(st.st_mtim.tv_sec)), nanoseconds = UInt64(bitPattern: Int64(st.st_mtim.tv_nsec))
        return [UInt64(st.st_ino), UInt64(bitPattern: Int64(st.st_size)), seconds &* 1_000_000_000 &+ nanoseconds]
    }
}
