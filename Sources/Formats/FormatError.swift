// FormatError: what goes wrong reading or writing files. Every message names the file, the place
// inside it where there is one, and what was expected.

public enum FormatError: Error, Equatable, Codable, CustomStringConvertible {
    case fileNotFound(file: String)
    case unreadable(file: String, reason: String)
    /// A checkpoint that does not follow docs/spec/CHECKPOINT.md: `path` is the HDF5 path inside the file.
    case checkpoint(file: String, path: String, problem: String)
    case image(file: String, problem: String)
    /// An image whose width·height is over the decoder's pixel limit (checked before decoding).
    case imageTooLarge(file: String, problem: String)
    case dataset(file: String, problem: String)
    case writeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case .fileNotFound(let file): return "\(file): no such file"
        case .unreadable(let file, let reason): return "\(file): cannot read: \(reason)"
        case .checkpoint(let file, let path, let problem): return "\(file): \(path): \(problem)"
        case .image(let file, let problem), .imageTooLarge(let file, let problem): return "\(file): \(problem)"
        case .dataset(let file, let problem): return "\(file): \(problem)"
        case .writeFailed(let file, let reason): return "\(file): cannot write: \(reason)"
        }
    }
}
