// BatchSlices: splitting a tensor along its first (batch) axis and joining the parts back, so
// that the engine can run slices of a batch on separate workers.

extension Tensor {
    /// Items `range` of the first axis: (N, …) → (range.count, …).
    public func batchItems(_ range: Range<Int>) throws(TensorError) -> Tensor {
        let n = shape.first ?? 0
        guard rank >= 1, range.lowerBound >= 0, range.upperBound <= n else {
            throw .invalidArgument(op: "Tensor.batchItems", detail: "items \(range) are outside 0..<\(n) of \(shape)")
        }
        let item = count / Swift.max(n, 1)
        return data.withUnsafeBufferPointer { src in
            Tensor(uninitializedShape: [range.count] + shape.dropFirst()) { out in
                out.baseAddress!.update(from: src.baseAddress! + range.lowerBound * item, count: out.count)
            }
        }
    }

    /// Joins parts along the first axis: (N₁, …), (N₂, …), … → (ΣNᵢ, …); the other axes must match.
    public static func concatenatingBatches(_ parts: [Tensor]) throws(TensorError) -> Tensor {
        let op = "Tensor.concatenatingBatches"
        guard let first = parts.first, first.rank >= 1 else { throw .invalidArgument(op: op, detail: "no parts to join") }
        let rest = Array(first.shape.dropFirst())
        for (i, p) in parts.enumerated() where p.rank != first.rank || Array(p.shape.dropFirst()) != rest {
            throw .shapeMismatch(op: op, detail: "part \(i) is \(p.shape), part 0 is \(first.shape)")
        }
        return Tensor(uninitializedShape: [parts.reduce(0) { $0 + $1.shape[0] }] + rest) { out in
            var at = out.baseAddress!
            for p in parts {
                p.data.withUnsafeBufferPointer { at.update(from: $0.baseAddress!, count: $0.count) }
                at += p.count
            }
        }
    }
}
