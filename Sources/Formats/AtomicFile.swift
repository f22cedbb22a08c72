// AtomicFile: replace a file so that readers (and a crash) only ever see the old contents or the
// new, never a mixture: write a temporary file in the same directory, fsync it, rename it over
// the target, fsync the directory.

#if canImport(Glibc)
import Glibc
#endif

public enum AtomicFile {
    /// Calls `produce(temporaryPath)` to write the new contents, then moves them into place.
    /// The temporary file is removed if anything fails.
    public static func write(to path: String, _ produce: (String) throws(FormatError) -> Void) throws(FormatError) {
        let (directory, name) = split(path)
        removeStaleTemporaries(directory: directory, name: name)
        var random = SystemRandomNumberGenerator()
        let temporary = "\(directory)/.\(name).tmp-\(getpid())-\(String(random.next() & 0xFFFF_FFFF, radix: 16))"
        do throws(FormatError) {
            try produce(temporary)
            try fsyncPath(temporary, label: path)
            guard rename(temporary, path) == 0 else {
                throw FormatError.writeFailed(file: path, reason: "rename failed: \(errorText())")
            }
            try? fsyncPath(directory, label: directory)   // the rename itself made durable; best effort
        } catch {
            unlink(temporary)
            throw explain(error, path: path, temporary: temporary, directory: directory)
        }
    }

    /// The failure said of the target (not the temporary nobody asked for), with the disk's
    /// free space when it is nearly full, and the reassurance that the old file is intact.
    static func explain(_ error: FormatError, path: String, temporary: String, directory: String) -> FormatError {
        var reason: String
        if case .writeFailed(_, let r) = error { reason = r } else { reason = error.description }
        var vfs = statvfs()
        if statvfs(directory, &vfs) == 0 {
            let free = UInt64(vfs.f_bavail) * UInt64(vfs.f_frsize)
            if free < 1 << 20 { reason += " (the file system of \(directory) has \(free) bytes free)" }
        }
        return .writeFailed(file: path, reason: reason + "; any previous \(split(path).name) is untouched")
    }

    /// Temporary files of this name left by writers that were killed (their pid is gone).
    static func removeStaleTemporaries(directory: String, name: String) {
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        let prefix = ".\(name).tmp-"
        while let entry = readdir(dir) {
            let file = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard file.hasPrefix(prefix), let pid = Int32(file.dropFirst(prefix.count).prefix { $0 != "-" }) else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink("\(directory)/\(file)") }
        }
    }

    private static func fsyncPath(_ path: String, label: String) throws(FormatError) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .writeFailed(file: label, reason: "cannot reopen to sync: \(errorText())") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .writeFailed(file: label, reason: "fsync failed: \(errorText())") }
    }

    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }
}

/// The current errno as text.
func errorText() -> String { String(cString: strerror(errno)) }

/// True when a file (of any kind) exists at `path`.
func fileExists(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0
}
