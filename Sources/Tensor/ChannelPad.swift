// ChannelPad: symmetric zero-padding of channels, as the transitions between units need it, and
// its backward (a slice). With `groups` > 1 each contiguous group of channels is padded on its
// own: the Hamiltonian network pads its Y and Z halves separately (docs/spec/NETWORKS.md §1).

public enum ChannelPad {
    /// x: (N, C, H, W) → (N, C + groups·(before + after), H, W). Each of the `groups` groups of
    /// C/groups channels gets `before` zero channels ahead of it and `after` behind it.
    public static func forward(_ x: Tensor, before: Int, after: Int, groups: Int = 1) throws(TensorError) -> Tensor {
        let op = "ChannelPad.forward"
        let (n, c, h, w) = try nchw(x, "input", op: op)
        let g = try groupSize(channels: c, before: before, after: after, groups: groups, op: op)
        let outC = c + groups * (before + after)
        let hw = h * w
        var y = Tensor(zeros: [n, outC, h, w])
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                for i in 0..<n {
                    for k in 0..<groups {
                        let src = (i * c + k * g) * hw
                        let dst = (i * outC + k * (g + before + after) + before) * hw
                        (yp.baseAddress! + dst).update(from: xp.baseAddress! + src, count: g * hw)
                    }
                }
            }
        }
        return y
    }

    /// dx = the slice of dy that forward copied x into (the padding receives no gradient).
    /// - Parameters: dy: (N, C + groups·(before + after), H, W). Returns (N, C, H, W).
    public static func backward(_ dy: Tensor, before: Int, after: Int, groups: Int = 1) throws(TensorError) -> Tensor {
        let op = "ChannelPad.backward"
        let (n, outC, h, w) = try nchw(dy, "output gradient", op: op)
        let c = outC - groups * (before + after)
        let g = try groupSize(channels: c, before: before, after: after, groups: groups, op: op)
        let hw = h * w
        var dx = Tensor(zeros: [n, c, h, w])
        dy.data.withUnsafeBufferPointer { gp in
            dx.data.withUnsafeMutableBufferPointer { d in
                for i in 0..<n {
                    for k in 0..<groups {
                        let src = (i * outC + k * (g + before + after) + before) * hw
                        let dst = (i * c + k * g) * hw
                        (d.baseAddress! + dst).update(from: gp.baseAddress! + src, count: g * hw)
                    }
                }
            }
        }
        return dx
    }

    private static func groupSize(channels c: Int, before: Int, after: Int, groups: Int,
                                  op: String) throws(TensorError) -> Int {
        guard before >= 0, after >= 0 else {
            throw .invalidArgument(op: op, detail: "padding must be non-negative, got before \(before), after \(after)")
        }
        guard groups >= 1, c >= 0, c % groups == 0 else {
            throw .shapeMismatch(op: op, detail: "\(c) channels do not split into \(groups) equal groups")
        }
        return c / groups
    }
}
