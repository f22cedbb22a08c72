// Pooling: 2×2 average pooling (stride 2, floor for odd sizes) and global average pooling,
// each with its backward. Used by the transitions between units and by the head.

public enum AvgPool2x2 {
    /// x: (N, C, H, W) → (N, C, ⌊H/2⌋, ⌊W/2⌋). A trailing odd row or column is dropped.
    public static func forward(_ x: Tensor) throws(TensorError) -> Tensor {
        let (n, c, h, w) = try nchw(x, "input", op: "AvgPool2x2.forward")
        let oh = h / 2, ow = w / 2
        var y = Tensor(zeros: [n, c, oh, ow])
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                for plane in 0..<(n * c) {
                    let src = plane * h * w, dst = plane * oh * ow
                    for i in 0..<oh {
                        let r0 = src + 2 * i * w, r1 = r0 + w
                        for j in 0..<ow {
                            yp[dst + i * ow + j] = 0.25 * (xp[r0 + 2 * j] + xp[r0 + 2 * j + 1]
                                                          + xp[r1 + 2 * j] + xp[r1 + 2 * j + 1])
                        }
                    }
                }
            }
        }
        return y
    }

    /// dx from dy: each output gradient spreads a quarter to its four inputs; dropped rows get 0.
    /// - Parameters: dy: (N, C, ⌊H/2⌋, ⌊W/2⌋); inputShape: (N, C, H, W) of the forward input.
    public static func backward(_ dy: Tensor, inputShape: [Int]) throws(TensorError) -> Tensor {
        let op = "AvgPool2x2.backward"
        guard inputShape.count == 4 else {
            throw .shapeMismatch(op: op, detail: "input shape must be (N, C, H, W), got \(inputShape)")
        }
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let oh = h / 2, ow = w / 2
        try requireShape(dy, [n, c, oh, ow], "output gradient", op: op)
        var dx = Tensor(zeros: inputShape)
        dy.data.withUnsafeBufferPointer { g in
            dx.data.withUnsafeMutableBufferPointer { d in
                for plane in 0..<(n * c) {
                    let src = plane * oh * ow, dst = plane * h * w
                    for i in 0..<oh {
                        let r0 = dst + 2 * i * w, r1 = r0 + w
                        for j in 0..<ow {
                            let v = 0.25 * g[src + i * ow + j]
                            d[r0 + 2 * j] = v; d[r0 + 2 * j + 1] = v
                            d[r1 + 2 * j] = v; d[r1 + 2 * j + 1] = v
                        }
                    }
                }
            }
        }
        return dx
    }
}

public enum GlobalAvgPool {
    /// x: (N, C, H, W) → (N, C), the mean over each H×W plane.
    public static func forward(_ x: Tensor) throws(TensorError) -> Tensor {
        let (n, c, h, w) = try nchw(x, "input", op: "GlobalAvgPool.forward")
        let hw = h * w
        var y = Tensor(zeros: [n, c])
        guard hw > 0 else { return y }
        x.data.withUnsafeBufferPointer { xp in
            for plane in 0..<(n * c) {
                var s: Float = 0
                for j in 0..<hw { s += xp[plane * hw + j] }
                y.data[plane] = s / Float(hw)
            }
        }
        return y
    }

    /// dx[n, c, :, :] = dy[n, c] / (H·W). - Parameters: dy: (N, C); inputShape: (N, C, H, W).
    public static func backward(_ dy: Tensor, inputShape: [Int]) throws(TensorError) -> Tensor {
        let op = "GlobalAvgPool.backward"
        guard inputShape.count == 4 else {
            throw .shapeMismatch(op: op, detail: "input shape must be (N, C, H, W), got \(inputShape)")
        }
        try requireShape(dy, [inputShape[0], inputShape[1]], "output gradient", op: op)
        let hw = inputShape[2] * inputShape[3]
        var dx = Tensor(zeros: inputShape)
        dx.data.withUnsafeMutableBufferPointer { d in
            for plane in 0..<(inputShape[0] * inputShape[1]) {
                let v = dy.data[plane] / Float(hw)
                for j in 0..<hw { d[plane * hw + j] = v }
            }
        }
        return dx
    }
}
