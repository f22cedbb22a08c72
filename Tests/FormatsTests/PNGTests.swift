// PNGTests: decoding every colour type and bit depth against fixtures written by an independent
// encoder (Tests/Fixtures/make_png_fixtures.py, pypng), our own encoder round trip, and broken
// or hostile files rejected with a clear reason.

import CZlib
import Foundation
import Testing
@testable import Formats

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

struct ExpectedImage: Decodable {
    var width: Int, height: Int, channels: Int, bitDepth: Int, samples: [Int]
}

/// A PNG built chunk by chunk, for headers no encoder would write.
func handmadePNG(width: UInt32, height: UInt32, bitDepth: UInt8 = 8, colorType: UInt8 = 0, idat: [UInt8]? = nil) -> [UInt8] {
    func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 255), UInt8((v >> 8) & 255), UInt8(v & 255)] }
    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        let crc = body.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
        return be(UInt32(data.count)) + body + be(crc)
    }
    var png: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]
    png += chunk("IHDR", be(width) + be(height) + [bitDepth, colorType, 0, 0, 0])
    if let idat { png += chunk("IDAT", idat) }
    png += chunk("IEND", [])
    return png
}

func decodeError(_ bytes: [UInt8], maxPixels: Int = PNG.defaultMaxPixels) -> String {
    do {
        _ = try PNG.decode(bytes, name: "x.png", maxPixels: maxPixels)
        return "no error"
    } catch {
        return error.description
    }
}

@Suite struct PNGTests {
    @Test func everyColourTypeAndBitDepthDecodesAsTheIndependentEncoderWroteIt() throws {
        let data = try Data(contentsOf: fixtures.appendingPathComponent("png/expected.json"))
        let expected = try JSONDecoder().decode([String: ExpectedImage].self, from: data)
        #expect(expected.count == 42)
        for (name, e) in expected.sorted(by: { $0.key < $1.key }) {
            let image = try PNG.decodeFile(fixtures.appendingPathComponent("png/\(name).png").path)
            #expect(image.width == e.width && image.height == e.height, "\(name)")
            #expect(image.channels == e.channels && image.bitDepth == e.bitDepth, "\(name): \(image.channels)ch \(image.bitDepth)bit")
            #expect(image.samples.map(Int.init) == e.samples, "\(name)")
        }
    }

    @Test(arguments: [(1, 8), (2, 8), (3, 8), (4, 8), (1, 16), (3, 16), (4, 16)])
    func ownEncoderRoundTrips(channels: Int, bitDepth: Int) throws {
        var rng = SystemRandomNumberGenerator()
        let max = bitDepth == 16 ? 65535 : 255
        let samples = (0..<(9 * 6 * channels)).map { _ in UInt16(Int.random(in: 0...max, using: &rng)) }
        let image = PNGImage(width: 9, height: 6, channels: channels, bitDepth: bitDepth, samples: samples)
        for interlaced in [false, true] {
            #expect(try PNG.decode(PNG.encode(image, interlaced: interlaced), name: "mem") == image)
        }
    }

    @Test func brokenFilesGiveOneClearReason() throws {
        let good = try PNG.encode(PNGImage(width: 4, height: 4, channels: 1, bitDepth: 8, samples: Array(repeating: 9, count: 16)))
        #expect(decodeError(Array("GIF89a is not a png".utf8)) == "x.png: invalid PNG: not a PNG file (the 8-byte PNG signature is missing)")
        #expect(decodeError(Array(good.prefix(good.count - 20))).contains("truncated PNG data"))
        var crc = good
        crc[29] ^= 0xFF   // a byte of the IHDR's CRC
        #expect(decodeError(crc).contains("CRC error"), "\(decodeError(crc))")
        #expect(decodeError(handmadePNG(width: 0, height: 5)) == "x.png: invalid PNG: Invalid IHDR data (Image width is zero in IHDR)")
    }

    @Test func hugeHeadersAreRejectedBeforeAnyPixelMemory() throws {
        // 100000 × 100000 gray would need 10 GB; the header alone must be refused.
        let huge = handmadePNG(width: 100_000, height: 100_000, idat: [])
        #expect(decodeError(huge) == "x.png: image is 100000x100000 = 10000000000 pixels, above the limit of 16777216 pixels")
        #expect(decodeError(handmadePNG(width: 20, height: 20, idat: []), maxPixels: 399).contains("above the limit of 399 pixels"))
        // A distinct case, so that the daemon can answer 413 rather than 400.
        #expect(throws: FormatError.imageTooLarge(file: "x.png", problem: "image is 20x20 = 400 pixels, above the limit of 399 pixels")) {
            try PNG.decode(handmadePNG(width: 20, height: 20, idat: []), name: "x.png", maxPixels: 399)
        }
    }
}
