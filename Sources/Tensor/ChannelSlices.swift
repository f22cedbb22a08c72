// ChannelSlices: splitting an NCHW tensor along its channels and joining parts back, as the
// Hamiltonian network does with its Y and Z halves.

extension Tensor {
    /// Channels `range` of x: (N, C, H, W) → (N, range.count, H, W).
    public func channels(_ range: Range<Int>) throws(TensorError) -> Tensor {
        let op = "Tensor.channels"
        let (n, c, h, w) = try nchw(self, "input", op: op)
        guard range.lowerBound >= 0, range.upperBound <= c else {
            throw .invalidArgument(op: op, detail: "channels \(range) are outside 0..<\(c) of \(shape)")
        }
        let hw = h * w, k = range.count
        return Tensor(uninitializedShape: [n, k, h, w]) { out in
            data.withUnsafeBufferPointer { src in
                for i in 0..<n {
                    (out.baseAddress! + i * k * hw).update(from: src.baseAddress! + (i * c + range.lowerBound) * hw,
                                                           count: k * hw)
                }
            }
        }
    }

    /// Joins parts along the channel axis: (N, C₁, H, W), (N, C₂, H, W), … → (N, ΣCᵢ, H, W).
    public static func concatenatingChannels(_ parts: [Tensor]) throws(TensorError) -> Tensor {
        let op = "Tensor.concatenatingChannels"
        guard let first = parts.first else { throw .invalidArgument(op: op, detail: "no parts to join") }
        let (n, _, h, w) = try nchw(first, "part 0", op: op)
        var total = 0
        for (i, p) in parts.enumerated() {
            let d = try nchw(p, "part \(i)", op: op)
            guard d.n == n, d.h == h, d.w == w else {
                throw .shapeMismatch(op: op, detail: "part \(i) is \(p.shape), part 0 is \(first.shape)")
            }
            total += d.c
        }
        let hw = h * w
        return Tensor(uninitializedShape: [n, total, h, w]) { out in
            var offset = 0
            for p in parts {
                let c = p.shape[1]
                p.data.withUnsafeBufferPointer { src in
                    for i in 0..<n {
                        (out.baseAddress! + (i * total + offset) * hw).update(from: src.baseAddress! + i * c * hw,
                                                                              count: c * hw)
                    }
                }
                offset += c
            }
        }
    }
}
