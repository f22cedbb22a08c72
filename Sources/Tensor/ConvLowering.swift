// ConvLowering: how a 3×3, stride-1, zero-padding-1 convolution becomes sgemm calls.
//
// The image is copied into a zero-bordered (H+2)×(W+2) grid. On that grid, the input values
// that tap (kh, kw) reads for a block of output rows form, for every channel, one contiguous
// span shifted by kh·(W+2) + kw; with the channels as rows (stride = one padded plane) that is a
// plain row-major matrix. So
//
//     out[Cout × cols] = Σ over the 9 taps of  W_tap[Cout × Cin] · shifted_tap[Cin × cols]
//
// is nine accumulating sgemms straight from the padded image, with no im2col copy at all
// (im2col writes 9× the input per call). Outputs are computed on the padded grid, so each
// output row carries two extra columns, dropped when the block is written out in NCHW.

struct PaddedGrid {
    let height: Int, width: Int
    /// Length of a padded row.
    var stride: Int { width + 2 }
    /// Floats in one padded channel plane.
    var planeSize: Int { (height + 2) * (width + 2) }
    /// Output rows per block: the whole image, so every sgemm is as wide as it can be.
    var rowsPerBlock: Int { height }

    /// Columns a block of `rows` output rows spans on the padded grid (the last row's two extra
    /// columns are left out so that the shifted spans stay inside the padded plane).
    func columns(rows: Int) -> Int { rows * stride - 2 }

    /// Offset of tap (kh, kw) = (tap / 3, tap % 3) for the block starting at output row r0.
    func offset(tap: Int, firstRow r0: Int) -> Int { (r0 + tap / 3) * stride + tap % 3 }

    /// Copies `channels` planes of x (C × H × W) into `padded` (C × (H+2) × (W+2)) with zero borders.
    @inline(__always)
    func pad(_ x: UnsafePointer<Float>, channels: Int, into padded: UnsafeMutablePointer<Float>) {
        pad(x, channels: channels, outputRows: 0..<height, into: padded)
    }

    /// Fills only the padded rows that output rows `rows` read (padded rows rows.lowerBound ...
    /// rows.upperBound + 1), at their places in the full padded planes: all of them for a whole
    /// image, a slice when an image's rows are split over workers.
    @inline(__always)
    func pad(_ x: UnsafePointer<Float>, channels: Int, outputRows rows: Range<Int>,
             into padded: UnsafeMutablePointer<Float>) {
        for ch in 0..<channels {
            let src = x + ch * height * width, dst = padded + ch * planeSize
            for pr in rows.lowerBound...(rows.upperBound + 1) {
                let row = dst + pr * stride
                if pr == 0 || pr == height + 1 {
                    row.update(repeating: 0, count: stride)                           // top or bottom border
                } else {
                    row[0] = 0
                    (row + 1).update(from: src + (pr - 1) * width, count: width)
                    row[width + 1] = 0
                }
            }
        }
    }

    /// Writes a block computed on the padded grid (`channels` rows of columns(rows.count)) into
    /// the NCHW planes `out` (channels × H × W), adding the bias and applying ReLU on the way.
    @inline(__always)
    func compact(_ block: UnsafePointer<Float>, channels: Int, rows: Range<Int>,
                 into out: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, relu: Bool) {
        let n = columns(rows: rows.count), hw = height * width
        for c in 0..<channels {
            let b = bias?[c] ?? 0
            for (r, oh) in rows.enumerated() {
                let src = block + c * n + r * stride, dst = out + c * hw + oh * width
                if relu {
                    for k in 0..<width { dst[k] = Swift.max(src[k] + b, 0) }
                } else {
                    for k in 0..<width { dst[k] = src[k] + b }
                }
            }
        }
    }

    /// The reverse of `compact` for a gradient: copies rows `rows` of dy (channels × H × W) onto
    /// the padded-grid layout, with zeros in the extra columns so that they contribute nothing.
    @inline(__always)
    func spread(_ dy: UnsafePointer<Float>, channels: Int, rows: Range<Int>, into block: UnsafeMutablePointer<Float>) {
        let n = columns(rows: rows.count), hw = height * width
        for c in 0..<channels {
            for (r, oh) in rows.enumerated() {
                let dst = block + c * n + r * stride
                dst.update(from: dy + c * hw + oh * width, count: width)
                if r + 1 < rows.count { dst[width] = 0; dst[width + 1] = 0 }
            }
        }
    }
}

/// W (Cout, Cin, 3, 3) rearranged tap-major: nine row-major (Cout × Cin) matrices. The same
/// matrices serve convT(·, W): its tap k is the transpose of W's tap 8 − k (see Conv3x3.lowered).
func tapMajor(_ weight: Tensor) -> [Float] {
    let cout = weight.shape[0], cin = weight.shape[1], count = 9 * cout * cin
    return [Float](unsafeUninitializedCapacity: count) { taps, initialized in
        weight.data.withUnsafeBufferPointer { w in
            let src = w.baseAddress!, dst = taps.baseAddress!
            for k in 0..<9 {
                let tap = dst + k * cout * cin
                for j in 0..<(cout * cin) { tap[j] = src[j * 9 + k] }
            }
        }
        initialized = count
    }
}

/// The weight of the convolution equal to convT(·, W): channels swapped and taps flipped,
/// Wf[ci, co, kh, kw] = W[co, ci, 2 − kh, 2 − kw]. With stride 1 and padding 1 this is exact,
/// so the transposed convolution runs through the same lowering as conv.
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
