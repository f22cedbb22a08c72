// TrainingOutput: where a run writes. Either one checkpoint file (rewritten atomically after
// every epoch) or a model repository, where the run works in DIR/NAME/.training/ and publishes
// the finished model as DIR/NAME/<next version>/ by renaming a complete temporary directory:
// a watching daemon never sees a partial version.

import Formats
#if canImport(Glibc)
import Glibc
#endif

public enum TrainingOutput: Sendable, Equatable {
    case file(String)
    case repository(directory: String, model: String)

    /// Where the working checkpoint goes.
    public var checkpointPath: String {
        switch self {
        case .file(let path): return path
        case .repository(let dir, let model): return "\(dir)/\(model)/.training/model.h5"
        }
    }

    /// Where the metrics (JSON lines) and the chart (SVG) go, next to the checkpoint.
    var metricsPath: String { stem + ".metrics.jsonl" }
    var chartPath: String { stem + ".svg" }
    private var stem: String {
        let p = checkpointPath
        return p.hasSuffix(".h5") ? String(p.dropLast(3)) : p
    }

    /// Creates the directories and proves the location is writable, before any training.
    func prepare() throws(TrainingError) {
        let (dir, _) = splitPath(checkpointPath)
        guard makeDirectories(dir) else { throw .output("\(dir): cannot create the output directory: \(errorString())") }
        let probe = "\(dir)/.revserve-write-test-\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw .output("\(dir): not writable: \(errorString())") }
        close(fd)
        unlink(probe)
        if case .repository(let directory, let model) = self, model.contains("/") || model.hasPrefix(".") || model.isEmpty {
            throw .output("\(directory): model name '\(model)' must be a plain directory name")
        }
    }

    /// Publishes the working directory's files as the next numbered version (repository only).
    /// Returns the version directory.
    func publish() throws(TrainingError) -> String? {
        guard case .repository(let directory, let model) = self else { return nil }
        let modelDir = "\(directory)/\(model)", working = "\(modelDir)/.training"
        let temporary = "\(modelDir)/.publish-\(getpid())"
        _ = removeTree(temporary)
        guard mkdir(temporary, 0o755) == 0 else { throw .output("\(temporary): \(errorString())") }
        for (name, target) in [("model.h5", "model.h5"), ("model.metrics.jsonl", "metrics.jsonl"), ("model.svg", "training.svg")] {
            guard copyFile("\(working)/\(name)", "\(temporary)/\(target)") else {
                throw .output("\(working)/\(name): cannot copy into the new version: \(errorString())")
            }
        }
        // The next free number; if another writer takes it first, rename fails and we try the next.
        for _ in 0..<100 {
            let version = nextVersion(modelDir)
            let target = "\(modelDir)/\(version)"
            if rename(temporary, target) == 0 {
                syncDirectory(modelDir)
                return target
            }
            guard errno == EEXIST || errno == ENOTEMPTY else { throw .output("\(target): cannot publish: \(errorString())") }
        }
        throw .output("\(modelDir): could not find a free version number")
    }
}

/// 1 + the largest numeric directory name in `dir` (1 when there is none).
func nextVersion(_ dir: String) -> Int {
    guard let d = opendir(dir) else { return 1 }
    defer { closedir(d) }
    var largest = 0
    while let entry = readdir(d) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        // Versions above 999 999 999 are not versions to the daemon (ModelConfig.versionBound).
        if let n = Int(name), n > 0, n < 999_999_999, String(n) == name { largest = max(largest, n) }
    }
    return largest + 1
}

func splitPath(_ path: String) -> (String, String) {
    guard let slash = path.lastIndex(of: "/") else { return (".", path) }
    let dir = String(path[..<slash])
    return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
}

func makeDirectories(_ path: String) -> Bool {
    var current = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        current += "/" + part
        if mkdir(current, 0o755) != 0 && errno != EEXIST { return false }
    }
    return true
}

func errorString() -> String { String(cString: strerror(errno)) }

/// Copies a file and fsyncs the copy.
func copyFile(_ from: String, _ to: String) -> Bool {
    guard let bytes = try? readFile(from) else { return false }
    let fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    return written == bytes.count && fsync(fd) == 0
}

func syncDirectory(_ path: String) {
    let fd = open(path, O_RDONLY)
    if fd >= 0 { fsync(fd); close(fd) }
}

/// Removes a directory of plain files (the publish staging area).
@discardableResult
func removeTree(_ path: String) -> Bool {
    guard let d = opendir(path) else { return unlink(path) == 0 }
    while let entry = readdir(d) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { unlink("\(path)/\(name)") }
    }
    closedir(d)
    return rmdir(path) == 0
}
