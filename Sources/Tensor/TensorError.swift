// TensorError: the typed error every kernel throws; messages name the operation and the shapes.

public enum TensorError: Error, Equatable, CustomStringConvertible {
    /// Operands whose shapes do not fit the operation. `detail` names the shapes involved.
    case shapeMismatch(op: String, detail: String)
    /// An argument outside its allowed range (labels out of range, bad momentum, …).
    case invalidArgument(op: String, detail: String)

    public var description: String {
        switch self {
        case .shapeMismatch(let op, let detail): return "\(op): shape mismatch: \(detail)"
        case .invalidArgument(let op, let detail): return "\(op): invalid argument: \(detail)"
        }
    }
}

/// Throws unless `a` and `b` have identical shapes.
@inlinable
func requireSameShape(_ a: Tensor, _ b: Tensor, op: String) throws(TensorError) {
    guard a.shape == b.shape else {
        throw .shapeMismatch(op: op, detail: "\(a.shape) vs \(b.shape)")
    }
}

/// Throws unless `t` has rank 4 (N, C, H, W); returns the four extents.
@inlinable
func nchw(_ t: Tensor, _ name: String, op: String) throws(TensorError) -> (n: Int, c: Int, h: Int, w: Int) {
    guard t.rank == 4 else {
        throw .shapeMismatch(op: op, detail: "\(name) must be (N, C, H, W), got \(t.shape)")
    }
    return (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
}

/// Throws unless `t.shape == expected`; the message names the tensor.
@inlinable
func requireShape(_ t: Tensor, _ expected: [Int], _ name: String, op: String) throws(TensorError) {
    guard t.shape == expected else {
        throw .shapeMismatch(op: op, detail: "\(name) must be \(expected), got \(t.shape)")
    }
}
