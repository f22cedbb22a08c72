// ParameterSet: an ordered name → tensor map. The network's weights, its gradients and the
// optimiser's state share one layout (same names, same order, same shapes), so an optimiser is a
// flat loop over index-aligned tensors and a checkpoint is this map plus a header.

import Synchronization
import Tensor

public struct ParameterSet: Sendable {
    public private(set) var names: [String]
    public var tensors: [Tensor] {
        didSet { identity = Self.newIdentity() }
    }
    private var index: [String: Int]
    /// Names these exact values in this process: a new number whenever a tensor changes, never
    /// given twice; copies share it until one of them changes. Calls pass it to plugins as the
    /// parameters' generation (rs_run.parameters_generation), which then keep what they derive.
    public private(set) var identity: UInt64

    public init() {
        names = []
        tensors = []
        index = [:]
        identity = Self.newIdentity()
    }

    private static let identities = Atomic<UInt64>(0)
    private static func newIdentity() -> UInt64 { identities.add(1, ordering: .relaxed).newValue }

    /// A number no parameter set's identity ever takes: names a scope of calls whose
    /// parameters stay as they are within it (one block of a training step, on its slices).
    public static func freshGeneration() -> UInt64 { newIdentity() }

    /// Appends a tensor under a new name; returns its position.
    @discardableResult
    public mutating func append(_ name: String, _ tensor: Tensor) -> Int {
        precondition(index[name] == nil, "duplicate parameter name \(name)")
        index[name] = names.count
        names.append(name)
        tensors.append(tensor)
        return names.count - 1
    }

    public var count: Int { names.count }

    /// Position of `name`, or nil.
    public func position(of name: String) -> Int? { index[name] }

    public subscript(name: String) -> Tensor? { index[name].map { tensors[$0] } }

    /// The same layout filled with zeros (gradients, momentum buffers).
    public func zeros() -> ParameterSet {
        var z = self
        for i in z.tensors.indices { z.tensors[i] = Tensor(zeros: tensors[i].shape) }
        return z
    }

    /// Sets every tensor to zero in place.
    public mutating func zero() {
        for i in tensors.indices { tensors[i].zero() }
    }

    /// Total number of scalars.
    public var scalarCount: Int { tensors.reduce(0) { $0 + $1.count } }
    public var bytes: Int { scalarCount * MemoryLayout<Float>.size }

    /// Moves the tensors at `positions` out (so that mutating them does not copy their storage),
    /// runs `body` on them, and moves them back.
    public mutating func withTensors<T>(at positions: [Int], _ body: (inout [Tensor]) throws(TensorError) -> T) throws(TensorError) -> T {
        var taken = positions.map { i -> Tensor in
            let t = tensors[i]
            tensors[i] = Tensor(zeros: [0])
            return t
        }
        defer { for (k, i) in positions.enumerated() { tensors[i] = taken[k] } }
        return try body(&taken)
    }
}

extension Array where Element == Tensor {
    /// Runs `body` on elements i and k as two inout tensors. They are moved out first, so the
    /// body owns their storage uniquely (no copy on write) and the two accesses do not overlap.
    mutating func withPair<T>(_ i: Int, _ k: Int,
                              _ body: (inout Tensor, inout Tensor) throws(TensorError) -> T) throws(TensorError) -> T {
        precondition(i != k, "withPair needs two different positions")
        var a = self[i], b = self[k]
        self[i] = Tensor(zeros: [0])
        self[k] = Tensor(zeros: [0])
        defer { self[i] = a; self[k] = b }
        return try body(&a, &b)
    }
}

extension ParameterSet {
    /// `withPair` on the tensors at positions i and k.
    mutating func withPair<T>(_ i: Int, _ k: Int,
                              _ body: (inout Tensor, inout Tensor) throws(TensorError) -> T) throws(TensorError) -> T {
        try tensors.withPair(i, k, body)
    }
}
