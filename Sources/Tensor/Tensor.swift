// Tensor: a dense float32 array with a shape, in row-major (NCHW for images) order.
//
// Legend used across this module: N batch, C channels, H×W spatial size, K classes.
// Tensors are values: copying one shares storage until either copy is written (Swift arrays).

public struct Tensor: Sendable, Equatable {
    /// The extent of each axis, outermost first. A scalar has shape [].
    public private(set) var shape: [Int]
    /// The elements in row-major order; `data.count == shape.reduce(1, *)`.
    public var data: [Float]

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        self.shape = shape
        self.data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    /// A tensor filled with `value`.
    public init(repeating value: Float, shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        self.shape = shape
        self.data = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// Wraps `data` with `shape`; throws if the element count differs.
    public init(shape: [Int], data: [Float]) throws(TensorError) {
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == data.count else {
            throw .shapeMismatch(op: "Tensor(shape:data:)",
                                 detail: "shape \(shape) holds \(shape.reduce(1, *)) elements, data has \(data.count)")
        }
        self.shape = shape
        self.data = data
    }

    /// A tensor whose every element `fill` writes. Skips the zero fill of `init(zeros:)`: for a
    /// kernel's output, the serial memset (and first touch of fresh pages) on the calling thread
    /// would hold up a threaded convolution. `fill` must write every element.
    public init(uninitializedShape shape: [Int], fill: (UnsafeMutableBufferPointer<Float>) -> Void) {
        self.shape = shape
        self.data = [Float](unsafeUninitializedCapacity: shape.reduce(1, *)) { buffer, count in
            fill(buffer)
            count = buffer.count
        }
    }

    /// Number of elements.
    @inlinable public var count: Int { data.count }
    /// Number of axes.
    @inlinable public var rank: Int { shape.count }

    /// The same elements under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) throws(TensorError) -> Tensor {
        try Tensor(shape: newShape, data: data)
    }

    /// Sets every element to zero, keeping the shape (gradients accumulate, so zeroing is explicit).
    public mutating func zero() {
        data.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// Element at a multi-index (bounds-checked; for tests and small code paths, not kernels).
    public subscript(_ index: Int...) -> Float {
        get { data[offset(index)] }
        set { data[offset(index)] = newValue }
    }

    private func offset(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) does not match shape \(shape)")
        var o = 0
        for (i, n) in zip(index, shape) {
            precondition(i >= 0 && i < n, "index \(index) out of bounds for shape \(shape)")
            o = o * n + i
        }
        return o
    }
}

extension Tensor {
    /// Elementwise `self += alpha * other`; shapes must match.
    public mutating func add(_ other: Tensor, scaledBy alpha: Float = 1) throws(TensorError) {
        try requireSameShape(self, other, op: "add")
        let n = count
        data.withUnsafeMutableBufferPointer { y in
            other.data.withUnsafeBufferPointer { x in
                for i in 0..<n { y[i] += alpha * x[i] }
            }
        }
    }

    /// alpha · self, written once (a copy then `scale` passes over the memory twice).
    public func scaled(by alpha: Float) -> Tensor {
        data.withUnsafeBufferPointer { x in
            Tensor(uninitializedShape: shape) { y in
                for i in y.indices { y[i] = alpha * x[i] }
            }
        }
    }

    /// Multiplies every element by `alpha`.
    public mutating func scale(by alpha: Float) {
        data.withUnsafeMutableBufferPointer { y in
            for i in y.indices { y[i] *= alpha }
        }
    }

    /// Sum of all elements, accumulated in double precision.
    public func sum() -> Double {
        data.withUnsafeBufferPointer { x in x.reduce(0.0) { $0 + Double($1) } }
    }

    /// ⟨self, other⟩ accumulated in double precision.
    public func dot(_ other: Tensor) throws(TensorError) -> Double {
        try requireSameShape(self, other, op: "dot")
        return data.withUnsafeBufferPointer { a in
            other.data.withUnsafeBufferPointer { b in
                var s = 0.0
                for i in a.indices { s += Double(a[i]) * Double(b[i]) }
                return s
            }
        }
    }

    /// Largest absolute element (0 for an empty tensor).
    public func maxAbs() -> Float {
        data.withUnsafeBufferPointer { x in x.reduce(0) { Swift.max($0, abs($1)) } }
    }

    /// True when every element is finite (no NaN or infinity).
    public var isFinite: Bool { data.allSatisfy { $0.isFinite } }
}
