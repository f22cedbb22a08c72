// PreprocessorTests: scaling, alpha compositing onto black, channel conversion, bilinear resize
// and normalisation, each against a direct computation.

import Testing
@testable import Formats

@Suite struct PreprocessorTests {
    @Test func grayAlphaIsCompositedOntoBlackAndReplicatedToRGB() throws {
        // Two pixels: gray 200 at alpha 255, gray 100 at alpha 51 (0.2).
        let image = PNGImage(width: 2, height: 1, channels: 2, bitDepth: 8, samples: [200, 255, 100, 51])
        let p = ImagePreprocessor(inputShape: [3, 1, 2], mean: [0.5, 0.5, 0.5], std: [0.5, 0.25, 1])
        let x = try p.input(from: image, name: "t.png")
        let v0: Float = 200 / 255, v1: Float = 100 / 255 * 0.2
        let expected: [Float] = [(v0 - 0.5) / 0.5, (v1 - 0.5) / 0.5, (v0 - 0.5) / 0.25, (v1 - 0.5) / 0.25, v0 - 0.5, v1 - 0.5]
        for (a, b) in zip(x, expected) { #expect(abs(a - b) <= 1e-6) }
    }

    @Test func rgbToGrayUsesBT601LumaAnd16BitScaling() throws {
        let image = PNGImage(width: 1, height: 1, channels: 3, bitDepth: 16, samples: [65535, 32768, 0])
        let x = try ImagePreprocessor(inputShape: [1, 1, 1], mean: [0], std: [1]).input(from: image, name: "t.png")
        #expect(abs(x[0] - (0.299 + 0.587 * 32768 / 65535)) <= 1e-6)
    }

    @Test func bilinearResizeFollowsHalfPixelCentres() throws {
        // 1×2 → 1×4: sample positions x = (o + 0.5)·2/4 − 0.5 = −0.25, 0.25, 0.75, 1.25 → clamped.
        let image = PNGImage(width: 2, height: 1, channels: 1, bitDepth: 8, samples: [0, 255])
        let x = try ImagePreprocessor(inputShape: [1, 1, 4], mean: [0], std: [1]).input(from: image, name: "t.png")
        let expected: [Float] = [0, 0.25, 0.75, 1]
        for (a, b) in zip(x, expected) { #expect(abs(a - b) <= 1e-6) }
        // Downscaling 4×4 → 2×2 averages each 2×2 block (positions fall exactly between pixels).
        let big = PNGImage(width: 4, height: 4, channels: 1, bitDepth: 8, samples: (0..<16).map { UInt16($0 * 10) })
        let small = try ImagePreprocessor(inputShape: [1, 2, 2], mean: [0], std: [1]).input(from: big, name: "t.png")
        let blocks: [Float] = [25, 45, 105, 125].map { $0 / 255 }
        for (a, b) in zip(small, blocks) { #expect(abs(a - b) <= 1e-6) }
    }
}
