// Augmentation: pad-4 random crop and random horizontal flip (the paper's), applied to a batch
// in place with a generator seeded per step, so a resumed run draws the same crops.

import Tensor

public enum Augmentation {
    /// Shifts each image by a random offset in −pad…pad (zero fill, as padding then cropping
    /// does) and mirrors it horizontally with probability 1/2. x: (N, C, H, W), changed in place.
    public static func apply(_ x: inout Tensor, pad: Int = 4, flip: Bool = true, using rng: inout SeededGenerator) {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]), plane = h * w
        var scratch = [Float](repeating: 0, count: plane)
        for i in 0..<n {
            let dy = Int(rng.next() % UInt64(2 * pad + 1)) - pad, dx = Int(rng.next() % UInt64(2 * pad + 1)) - pad
            let mirror = flip && rng.next() & 1 == 1
            x.data.withUnsafeMutableBufferPointer { p in
                for ch in 0..<c {
                    let base = (i * c + ch) * plane
                    for y in 0..<h {
                        for xx in 0..<w {
                            let sy = y + dy, sxRaw = xx + dx
                            let sx = mirror ? w - 1 - sxRaw : sxRaw
                            scratch[y * w + xx] = (sy >= 0 && sy < h && sxRaw >= 0 && sxRaw < w) ? p[base + sy * w + sx] : 0
                        }
                    }
                    for j in 0..<plane { p[base + j] = scratch[j] }
                }
            }
        }
    }
}
