// ImagePreprocessor: a decoded image → the model's input tensor, docs/spec/NETWORKS.md §1 and the rules
// below, in this order:
// 1. scale samples to [0, 1]: v / 255 for 8-bit, v / 65535 for 16-bit;
// 2. composite alpha onto black: c · a, then drop the alpha channel;
// 3. convert channels: gray → RGB replicates the gray value; RGB → gray is the ITU-R BT.601
//    luma 0.299·R + 0.587·G + 0.114·B;
// 4. resize bilinearly when the size differs from the model's, with PyTorch's
//    align_corners=False convention (no antialiasing): output pixel (y, x) samples the input at
//    ((y + 0.5)·H_in/H_out − 0.5, (x + 0.5)·W_in/W_out − 0.5), coordinates clamped to the image;
// 5. normalise per channel: (x − mean[c]) / std[c].

public struct ImagePreprocessor: Sendable, Equatable {
    /// [C, H, W] the model expects (C is 1 or 3).
    public var inputShape: [Int]
    public var mean: [Float]
    public var std: [Float]

    public init(inputShape: [Int], mean: [Float], std: [Float]) {
        self.inputShape = inputShape
        self.mean = mean
        self.std = std
    }

    /// The model input (C × H × W floats, row-major) for one image; `name` is for errors.
    public func input(from image: PNGImage, name: String) throws(FormatError) -> [Float] {
        let (c, h, w) = (inputShape[0], inputShape[1], inputShape[2])
        guard c == 1 || c == 3 else {
            throw .image(file: name, problem: "the model takes \(c)-channel input; images can feed 1 or 3 channels")
        }
        guard image.width > 0, image.height > 0 else { throw .image(file: name, problem: "image has no pixels") }
        let planes = colourPlanes(image, channels: c)
        var out = [Float](repeating: 0, count: c * h * w)
        for ch in 0..<c {
            let resized = (image.height == h && image.width == w)
                ? planes[ch] : Self.bilinear(planes[ch], from: (image.height, image.width), to: (h, w))
            let m = mean[ch], s = std[ch]
            for i in 0..<(h * w) { out[ch * h * w + i] = (resized[i] - m) / s }
        }
        return out
    }

    /// Steps 1–3: one [0, 1] plane per model channel, alpha composited onto black.
    func colourPlanes(_ image: PNGImage, channels c: Int) -> [[Float]] {
        let n = image.width * image.height, k = image.channels, scale = 1 / image.maxValue
        let hasAlpha = k == 2 || k == 4, colours = hasAlpha ? k - 1 : k
        var source = [[Float]](repeating: [Float](repeating: 0, count: n), count: colours)
        for p in 0..<n {
            let alpha: Float = hasAlpha ? Float(image.samples[p * k + k - 1]) * scale : 1
            for ch in 0..<colours { source[ch][p] = Float(image.samples[p * k + ch]) * scale * alpha }
        }
        switch (colours, c) {
        case (1, 3): return [source[0], source[0], source[0]]
        case (3, 1): return [(0..<n).map { 0.299 * source[0][$0] + 0.587 * source[1][$0] + 0.114 * source[2][$0] }]
        default: return source
        }
    }

    /// Bilinear resize of one plane, align_corners=False (see the file header).
    static func bilinear(_ plane: [Float], from src: (h: Int, w: Int), to dst: (h: Int, w: Int)) -> [Float] {
        func taps(_ outSize: Int, _ inSize: Int) -> [(Int, Int, Float)] {
            (0..<outSize).map { o in
                let x = max(0, min(Float(inSize - 1), (Float(o) + 0.5) * Float(inSize) / Float(outSize) - 0.5))
                let x0 = Int(x), x1 = min(x0 + 1, inSize - 1)
                return (x0, x1, x - Float(x0))
            }
        }
        let rows = taps(dst.h, src.h), cols = taps(dst.w, src.w)
        var out = [Float](repeating: 0, count: dst.h * dst.w)
        for (y, (y0, y1, fy)) in rows.enumerated() {
            for (x, (x0, x1, fx)) in cols.enumerated() {
                let top = plane[y0 * src.w + x0] * (1 - fx) + plane[y0 * src.w + x1] * fx
                let bottom = plane[y1 * src.w + x0] * (1 - fx) + plane[y1 * src.w + x1] * fx
                out[y * dst.w + x] = top * (1 - fy) + bottom * fy
            }
        }
        return out
    }
}
