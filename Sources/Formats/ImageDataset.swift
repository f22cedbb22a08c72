// ImageDataset: a labelled image set held in memory as 8-bit samples, and the sources revserve
// reads: Fashion-MNIST IDX files (gzip-compressed or not), CIFAR-10 binary batches, a folder of
// PNGs per class, and synthetic random images. Bad files are errors that name the file.

import Tensor

public struct ImageDataset: Sendable {
    /// Where it came from, for messages.
    public var source: String
    /// [C, H, W] of every image.
    public var shape: [Int]
    public var classes: [String]
    /// count · C·H·W samples, image after image, each plane row-major.
    public var pixels: [UInt8]
    public var labels: [Int]

    public init(source: String, shape: [Int], classes: [String], pixels: [UInt8], labels: [Int]) {
        self.source = source
        self.shape = shape
        self.classes = classes
        self.pixels = pixels
        self.labels = labels
    }

    public var count: Int { labels.count }
    public var imageSize: Int { shape.reduce(1, *) }

    /// Images `indices` as a float batch (N, C, H, W) scaled to [0, 1] then normalised with
    /// `mean`/`std` per channel, and their labels.
    public func batch(_ indices: [Int], mean: [Float], std: [Float]) -> (Tensor, [Int]) {
        let size = imageSize, plane = shape[1] * shape[2]
        var data = [Float](repeating: 0, count: indices.count * size)
        pixels.withUnsafeBufferPointer { p in
            for (k, i) in indices.enumerated() {
                for c in 0..<shape[0] {
                    let m = mean[c], s = std[c]
                    for j in 0..<plane {
                        data[k * size + c * plane + j] = (Float(p[i * size + c * plane + j]) / 255 - m) / s
                    }
                }
            }
        }
        return (try! Tensor(shape: [indices.count] + shape, data: data), indices.map { labels[$0] })
    }

    /// Per-channel mean and standard deviation of the samples scaled to [0, 1].
    public func channelStatistics() -> (mean: [Float], std: [Float]) {
        let plane = shape[1] * shape[2], size = imageSize
        var mean = [Float](), std = [Float]()
        for c in 0..<shape[0] {
            var s = 0.0, ss = 0.0
            for i in 0..<count {
                for j in 0..<plane {
                    let v = Double(pixels[i * size + c * plane + j]) / 255
                    s += v
                    ss += v * v
                }
            }
            let n = Double(max(1, count * plane)), m = s / n
            mean.append(Float(m))
            std.append(Float(max(ss / n - m * m, 1e-12).squareRoot()))
        }
        return (mean, std)
    }

    /// The image at `index` as an 8-bit PNGImage (gray or RGB), for exporting samples.
    public func pngImage(_ index: Int) -> PNGImage {
        let (c, h, w) = (shape[0], shape[1], shape[2]), plane = h * w, base = index * imageSize
        var samples = [UInt16](repeating: 0, count: imageSize)
        for p in 0..<plane { for ch in 0..<c { samples[p * c + ch] = UInt16(pixels[base + ch * plane + p]) } }
        return PNGImage(width: w, height: h, channels: c, bitDepth: 8, samples: samples)
    }
}

public enum DatasetSplit: String, Sendable, CaseIterable {
    case train, test
}
