// PNG: decoding and encoding PNG images through libpng (the C side is CShims/png_shims.c, which
// keeps libpng's setjmp/longjmp error handling away from Swift).

import CShims
#if canImport(Glibc)
import Glibc
#endif

/// A decoded PNG: samples row-major, `channels` per pixel (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA),
/// each 8 or 16 bits as the file had them (1, 2 and 4-bit files are scaled up to 8 bits, and
/// palettes become RGB or RGBA).
public struct PNGImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var channels: Int
    /// 8 or 16.
    public var bitDepth: Int
    /// width·height·channels values, each in 0…2^bitDepth − 1.
    public var samples: [UInt16]

    public init(width: Int, height: Int, channels: Int, bitDepth: Int, samples: [UInt16]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.bitDepth = bitDepth
        self.samples = samples
    }

    /// Largest sample value at this bit depth.
    public var maxValue: Float { bitDepth == 16 ? 65535 : 255 }
}

public enum PNG {
    /// Default largest image accepted by the decoders: 4096×4096 pixels.
    public static let defaultMaxPixels = 4096 * 4096

    /// Decodes PNG bytes. `name` is used in error messages (a file name or "request body").
    /// The header's width·height is checked against `maxPixels` before any pixel memory exists.
    public static func decode(_ bytes: [UInt8], name: String, maxPixels: Int = defaultMaxPixels) throws(FormatError) -> PNGImage {
        var info = rs_png_info()
        var pixels: UnsafeMutableRawPointer?
        var message = [CChar](repeating: 0, count: 256)
        let status = bytes.withUnsafeBufferPointer { b in
            rs_png_decode(b.baseAddress, b.count, UInt64(max(0, maxPixels)), &info, &pixels, &message, message.count)
        }
        guard status == 0, let pixels else {
            let reason = String(cString: message)
            if status == -2 { throw .imageTooLarge(file: name, problem: reason) }
            throw .image(file: name, problem: "invalid PNG: " + reason)
        }
        defer { rs_png_free(pixels) }
        let count = Int(info.width) * Int(info.height) * Int(info.channels)
        let samples: [UInt16]
        if info.bit_depth == 16 {
            let p = pixels.assumingMemoryBound(to: UInt16.self)
            samples = Array(UnsafeBufferPointer(start: p, count: count))
        } else {
            let p = pixels.assumingMemoryBound(to: UInt8.self)
            samples = UnsafeBufferPointer(start: p, count: count).map { UInt16($0) }
        }
        return PNGImage(width: Int(info.width), height: Int(info.height), channels: Int(info.channels),
                        bitDepth: Int(info.bit_depth), samples: samples)
    }

    /// Width and height from a PNG's IHDR, without decoding; nil unless the bytes start with
    /// the signature and an IHDR chunk.
    public static func headerSize(_ bytes: [UInt8]) -> (width: Int, height: Int)? {
        guard bytes.count >= 24, bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
              bytes[12..<16].elementsEqual("IHDR".utf8) else { return nil }
        func word(_ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        return (word(16), word(20))
    }

    /// Reads and decodes a PNG file.
    public static func decodeFile(_ path: String, maxPixels: Int = defaultMaxPixels) throws(FormatError) -> PNGImage {
        try decode(try readFile(path), name: path, maxPixels: maxPixels)
    }

    /// Encodes an image (channels 1–4, bit depth 8 or 16) as PNG bytes.
    public static func encode(_ image: PNGImage, interlaced: Bool = false) throws(FormatError) -> [UInt8] {
        guard image.samples.count == image.width * image.height * image.channels else {
            throw .image(file: "PNG encoder", problem: "\(image.samples.count) samples do not fill \(image.width)x\(image.height)x\(image.channels)")
        }
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status: Int32
        if image.bitDepth == 16 {
            status = image.samples.withUnsafeBytes { p in
                rs_png_encode(p.baseAddress, UInt32(image.width), UInt32(image.height), Int32(image.channels), 16,
                              interlaced ? 1 : 0, &out, &size, &message, message.count)
            }
        } else {
            let bytes = image.samples.map { UInt8(truncatingIfNeeded: $0) }
            status = bytes.withUnsafeBytes { p in
                rs_png_encode(p.baseAddress, UInt32(image.width), UInt32(image.height), Int32(image.channels),
                              Int32(image.bitDepth), interlaced ? 1 : 0, &out, &size, &message, message.count)
            }
        }
        guard status == 0, let out else {
            throw .image(file: "PNG encoder", problem: String(cString: message))
        }
        defer { rs_png_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }
}

/// The whole file as bytes; errors name the file.
public func readFile(_ path: String) throws(FormatError) -> [UInt8] {
    guard let f = fopen(path, "rb") else {
        throw errno == ENOENT ? .fileNotFound(file: path) : .unreadable(file: path, reason: errorText())
    }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
        if n < chunk.count {
            if ferror(f) != 0 { throw .unreadable(file: path, reason: errorText()) }
            break
        }
    }
    return bytes
}

/// Writes bytes to a file atomically.
public func writeFile(_ path: String, _ bytes: [UInt8]) throws(FormatError) {
    try AtomicFile.write(to: path) { (temporary: String) throws(FormatError) in
        guard let f = fopen(temporary, "wb") else { throw .writeFailed(file: path, reason: errorText()) }
        let written = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, f) }
        let closed = fclose(f) == 0
        guard written == bytes.count, closed else { throw .writeFailed(file: path, reason: errorText()) }
    }
}
