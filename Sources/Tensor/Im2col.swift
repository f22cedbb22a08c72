// Im2col: lowers a 3×3, stride-1, zero-padding-1 convolution to a matrix product.
//
// For one image x of shape (C, H, W), the im2col matrix is (C·9, H·W): row (c, kh, kw) holds
// x[c, h + kh − 1, w + kw − 1] at column (h, w), zero outside the image, so that
// conv(x, W) = W.reshaped(Cout, C·9) · col is one sgemm. It is built a block of output rows at a
// time: a whole 32×32 image's matrix plus OpenBLAS's packed copy of it would not fit in L2.

/// Fills `col` (C·9 × R·W, row-major) from `x` (C × H × W) for the output rows `rows`
/// (R = rows.count): the columns of the full im2col matrix that those output rows need.
@inline(__always)
func im2col3x3(_ x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
               rows: Range<Int>, into col: UnsafeMutablePointer<Float>) {
    let hw = h * w, cols = rows.count * w
    for ch in 0..<c {
        let plane = x + ch * hw
        for kh in 0..<3 {
            for kw in 0..<3 {
                let row = col + ((ch * 3 + kh) * 3 + kw) * cols
                let dx = kw - 1
                // Columns whose source w + dx falls outside [0, W) are zero; the rest is one copy.
                let w0 = Swift.max(0, -dx), w1 = Swift.min(w, w - dx)
                for oh in rows {
                    let ih = oh + kh - 1
                    let dst = row + (oh - rows.lowerBound) * w
                    guard ih >= 0 && ih < h, w1 > w0 else {
                        dst.update(repeating: 0, count: w)
                        continue
                    }
                    if w0 > 0 { dst.update(repeating: 0, count: w0) }
                    (dst + w0).update(from: plane + ih * w + w0 + dx, count: w1 - w0)
                    if w1 < w { (dst + w1).update(repeating: 0, count: w - w1) }
                }
            }
        }
    }
}

/// Output rows per im2col block: enough columns (about 256) to keep sgemm efficient, few enough
/// that the block and OpenBLAS's packed copy of it stay in the core's L2 cache.
@inline(__always)
func im2colRowsPerBlock(height h: Int, width w: Int, columns: Int = 256) -> Int {
    Swift.max(1, Swift.min(h, columns / Swift.max(w, 1)))
}

/// The weight of the convolution equal to convT(·, W): channels swapped and taps flipped,
/// Wf[ci, co, kh, kw] = W[co, ci, 2 − kh, 2 − kw]. With stride 1 and padding 1 this is exact,
/// so the transposed convolution runs through the same gather-style im2col path as conv.
func flippedTransposedWeight(_ weight: Tensor) -> Tensor {
    let cout = weight.shape[0], cin = weight.shape[1]
    var out = Tensor(zeros: [cin, cout, 3, 3])
    weight.data.withUnsafeBufferPointer { w in
        out.data.withUnsafeMutableBufferPointer { f in
            for co in 0..<cout {
                for ci in 0..<cin {
                    for k in 0..<9 {
                        f[(ci * cout + co) * 9 + (8 - k)] = w[(co * cin + ci) * 9 + k]
                    }
                }
            }
        }
    }
    return out
}
