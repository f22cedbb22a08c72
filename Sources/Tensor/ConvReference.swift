// ConvReference: naive loop implementations of the convolution kernels, written straight from
// the definitions (no lowering, no BLAS, double accumulation). The fast kernels are tested
// against these; nothing on a hot path calls them.

public enum ConvReference {
    /// conv(x, W) + b by definition. x: (N, Cin, H, W); weight: (Cout, Cin, 3, 3); bias: (Cout).
    public static func conv(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        let (n, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let cout = weight.shape[0]
        var y = Tensor(zeros: [n, cout, h, w])
        for i in 0..<n {
            for co in 0..<cout {
                for oh in 0..<h {
                    for ow in 0..<w {
                        var s = Double(bias?.data[co] ?? 0)
                        for ci in 0..<cin {
                            for kh in 0..<3 {
                                for kw in 0..<3 {
                                    let ih = oh + kh - 1, iw = ow + kw - 1
                                    guard ih >= 0, ih < h, iw >= 0, iw < w else { continue }
                                    s += Double(weight[co, ci, kh, kw]) * Double(x[i, ci, ih, iw])
                                }
                            }
                        }
                        y[i, co, oh, ow] = Float(s)
                    }
                }
            }
        }
        return y
    }

    /// convT(u, W) + b by definition: every input pixel scatters through the kernel.
    /// u: (N, Cout, H, W); weight: (Cout, Cin, 3, 3); bias: (Cin). Returns (N, Cin, H, W).
    public static func convTranspose(_ u: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        let (n, cout, h, w) = (u.shape[0], u.shape[1], u.shape[2], u.shape[3])
        let cin = weight.shape[1]
        var acc = [Double](repeating: 0, count: n * cin * h * w)
        for i in 0..<n {
            for co in 0..<cout {
                for ih in 0..<h {
                    for iw in 0..<w {
                        let v = Double(u[i, co, ih, iw])
                        for ci in 0..<cin {
                            for kh in 0..<3 {
                                for kw in 0..<3 {
                                    let oh = ih + kh - 1, ow = iw + kw - 1
                                    guard oh >= 0, oh < h, ow >= 0, ow < w else { continue }
                                    acc[((i * cin + ci) * h + oh) * w + ow] += Double(weight[co, ci, kh, kw]) * v
                                }
                            }
                        }
                    }
                }
            }
        }
        var y = Tensor(zeros: [n, cin, h, w])
        for idx in 0..<acc.count {
            let c = (idx / (h * w)) % cin
            y.data[idx] = Float(acc[idx] + Double(bias?.data[c] ?? 0))
        }
        return y
    }

    /// ∂⟨conv(x, W), dy⟩/∂W by definition. Returns (Cout, Cin, 3, 3).
    public static func convWeightGradient(input x: Tensor, outputGradient dy: Tensor) -> Tensor {
        let (n, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let cout = dy.shape[1]
        var dW = Tensor(zeros: [cout, cin, 3, 3])
        for co in 0..<cout {
            for ci in 0..<cin {
                for kh in 0..<3 {
                    for kw in 0..<3 {
                        var s = 0.0
                        for i in 0..<n {
                            for oh in 0..<h {
                                for ow in 0..<w {
                                    let ih = oh + kh - 1, iw = ow + kw - 1
                                    guard ih >= 0, ih < h, iw >= 0, iw < w else { continue }
                                    s += Double(dy[i, co, oh, ow]) * Double(x[i, ci, ih, iw])
                                }
                            }
                        }
                        dW[co, ci, kh, kw] = Float(s)
                    }
                }
            }
        }
        return dW
    }

    /// ∂⟨convT(u, W), g⟩/∂W by definition (each scattered product u·W lands on g). Returns (Cout, Cin, 3, 3).
    public static func convTransposeWeightGradient(input u: Tensor, outputGradient g: Tensor) -> Tensor {
        let (n, cout, h, w) = (u.shape[0], u.shape[1], u.shape[2], u.shape[3])
        let cin = g.shape[1]
        var dW = Tensor(zeros: [cout, cin, 3, 3])
        for co in 0..<cout {
            for ci in 0..<cin {
                for kh in 0..<3 {
                    for kw in 0..<3 {
                        var s = 0.0
                        for i in 0..<n {
                            for ih in 0..<h {
                                for iw in 0..<w {
                                    let oh = ih + kh - 1, ow = iw + kw - 1
                                    guard oh >= 0, oh < h, ow >= 0, ow < w else { continue }
                                    s += Double(u[i, co, ih, iw]) * Double(g[i, ci, oh, ow])
                                }
                            }
                        }
                        dW[co, ci, kh, kw] = Float(s)
                    }
                }
            }
        }
        return dW
    }

    /// Σ_{n,h,w} dy[n, c, h, w] per channel. Returns (C).
    public static func biasGradient(_ dy: Tensor) -> Tensor {
        let (n, c, h, w) = (dy.shape[0], dy.shape[1], dy.shape[2], dy.shape[3])
        var db = Tensor(zeros: [c])
        for ch in 0..<c {
            var s = 0.0
            for i in 0..<n { for y in 0..<h { for x in 0..<w { s += Double(dy[i, ch, y, x]) } } }
            db[ch] = Float(s)
        }
        return db
    }
}
