// ModelRepository: reads a model repository directory (models/NAME/VERSION/model.h5, the
// layout `revserve train --repository` publishes) into the checkpoint each model should serve:
// the highest numbered version. Hidden entries (.training/, .publish-*) are work in progress.

import Foundation

public struct ModelSource: Sendable, Equatable {
    public var name: String
    /// Version number → checkpoint path, for every complete version on disk.
    public var versions: [Int: String]
    /// The version to serve (the highest), nil if the directory holds none.
    public var latest: Int? { versions.keys.max() }
}

public enum RepositoryError: Error, Equatable, CustomStringConvertible {
    case notADirectory(String)
    case unreadable(String, reason: String)

    public var description: String {
        switch self {
        case .notADirectory(let path): return "\(path): no such model repository directory (give one with --models)"
        case .unreadable(let path, let reason): return "\(path): cannot read the model repository: \(reason)"
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
            var versions: [Int: String] = [:]
            for entry in (try? fm.contentsOfDirectory(atPath: modelDir)) ?? [] {
                guard let v = Int(entry), v >= 1, String(v) == entry else { continue }
                let file = modelDir + "/" + entry + "/" + checkpointName
                if fm.fileExists(atPath: file) { versions[v] = file }
            }
            sources.append(ModelSource(name: name, versions: versions))
        }
        return sources
    }

    /// Names that are safe in a URL path segment and a metric label.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 128
            && name.unicodeScalars.allSatisfy { $0.properties.isAlphabetic && $0.isASCII || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) }
    }
}
