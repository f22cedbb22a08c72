// ModelRepository: reads a model repository directory (Triton's layout:
// models/NAME/config.json, optional, and numbered version directories models/NAME/N/model.h5,
// as `revserve train --repository` publishes them by rename). Hidden entries (.training/,
// .publish-*) are work in progress and never read. Each version carries a fingerprint of its
// checkpoint so that a changed file is noticed.

import Foundation

public struct VersionFile: Sendable, Equatable {
    public var path: String
    /// (inode, size, modification time in ns): changes when the file is replaced or rewritten.
    public var fingerprint: [UInt64]
}

public struct ModelSource: Sendable, Equatable {
    public var name: String
    /// The parsed config.json (defaults without one), or why it could not be used.
    public var config: Result<ModelConfig, RepositoryError>
    public var configFingerprint: [UInt64]
    /// Version number → checkpoint, for every version directory holding model.h5.
    public var versions: [Int: VersionFile]
}

public enum RepositoryError: Error, Equatable, CustomStringConvertible {
    case notADirectory(String)
    case unreadable(String, reason: String)
    case badConfig(String, reason: String)

    public var description: String {
        switch self {
        case .notADirectory(let path): return "\(path): no such model repository directory (give one with --models)"
        case .unreadable(let path, let reason): return "\(path): cannot read the model repository: \(reason)"
        case .badConfig(let path, let reason): return "\(path): \(reason)"
        }
    }
}

public enum ModelRepository {
    /// The checkpoint file inside a version directory.
    public static let checkpointName = "model.h5"

    /// The models in `directory`, sorted by name.
    public static func scan(_ directory: String) throws(RepositoryError) -> [ModelSource] {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .notADirectory(directory)
        }
        let names: [String]
        do { names = try fm.contentsOfDirectory(atPath: directory) } catch {
            throw .unreadable(directory, reason: error.localizedDescription)
        }
        var sources: [ModelSource] = []
        for name in names.sorted() where !name.hasPrefix(".") && isValidName(name) {
            let modelDir = directory + "/" + name
            guard fm.fileExists(atPath: modelDir, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            sources.append(scanModel(name, in: modelDir))
        }
        return sources
    }

    /// One model directory.
    public static func scanModel(_ name: String, in modelDir: String) -> ModelSource {
        var versions: [Int: VersionFile] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: modelDir)) ?? [] {
            guard let v = Int(entry), ModelConfig.versionBound.range.contains(v), String(v) == entry else { continue }
            let file = modelDir + "/" + entry + "/" + checkpointName
            if let fingerprint = fingerprint(file) { versions[v] = VersionFile(path: file, fingerprint: fingerprint) }
        }
        let configPath = modelDir + "/" + ModelConfig.fileName
        let config: Result<ModelConfig, RepositoryError>
        switch readBounded(configPath, limit: ModelConfig.maxFileBytes) {
        case .success(let data?):
            do { config = .success(try ModelConfig.parse(data, path: configPath)) } catch { config = .failure(error) }
        case .success(nil):
            config = .success(ModelConfig())
        case .failure(let error):
            config = .failure(error)
        }
        return ModelSource(name: name, config: config, configFingerprint: fingerprint(configPath) ?? [], versions: versions)
    }

    /// (inode, size, mtime ns) of a regular file, nil if there is none. Only compared for
    /// equality, so the time wraps instead of trapping (a file may be dated before 1970).
    static func fingerprint(_ path: String) -> [UInt64]? {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        let seconds = UInt64(bitPattern: Int64(st.st_mtim.tv_sec)), nanoseconds = UInt64(bitPattern: Int64(st.st_mtim.tv_nsec))
        return [UInt64(st.st_ino), UInt64(bitPattern: Int64(st.st_size)), seconds &* 1_000_000_000 &+ nanoseconds]
    }

    /// A small file's bytes, nil if there is no file; refused if it is not a regular file or
    /// holds more than `limit` bytes (a config.json that is a FIFO or /dev/zero must not hang
    /// or fill the daemon).
    static func readBounded(_ path: String, limit: Int) -> Result<Data?, RepositoryError> {
        // Opened without blocking and checked on the descriptor: a FIFO swapped in after a
        // stat() would otherwise block the repository in open().
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return errno == ENOENT ? .success(nil) : .failure(.unreadable(path, reason: String(cString: strerror(errno)))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return .failure(.badConfig(path, reason: "not a regular file")) }
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { return .failure(.unreadable(path, reason: String(cString: strerror(errno)))) }
            if n == 0 { break }
            filled += n
        }
        guard filled <= limit else {
            return .failure(.badConfig(path, reason: "larger than \(limit) bytes (the limit for a config.json)"))
        }
        return .success(Data(bytes[0..<filled]))
    }

    /// Names that are safe in a URL path segment, a file name and a metric label: letters,
    /// digits, '-', '_' and '.', not starting with '.', at most 128 characters.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 128 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
