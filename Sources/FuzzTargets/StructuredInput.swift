// StructuredInput: turns fuzzer bytes into well-formed documents whose numbers are extreme, so
// that fuzzing reaches the arithmetic behind the parsers instead of stopping at the syntax:
// infer requests (JSON header, binary data, PNGs inside), config.json files and PNGs with
// extreme IHDR values. Each byte the fuzzer mutates is one choice of the generator.

import CZlib
import Foundation

/// Reads choices from the fuzzer's bytes; once they run out every choice is the first option.
struct Choices {
    private var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    var isEmpty: Bool { bytes.isEmpty }

    mutating func byte() -> UInt8 { bytes.popFirst() ?? 0 }

    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(byte()) % n }

    mutating func flip() -> Bool { byte() & 1 == 1 }

    mutating func pick<T>(_ options: [T]) -> T { options[below(options.count)] }

    mutating func uint64() -> UInt64 { (0..<8).reduce(UInt64(0)) { acc, _ in acc << 8 | UInt64(byte()) } }

    mutating func take(_ n: Int) -> [UInt8] {
        let n = min(n, bytes.count)
        defer { bytes = bytes.dropFirst(n) }
        return Array(bytes.prefix(n))
    }

    /// The values at the edges of every integer type and of Double, and a few fractions, as
    /// JSON text; or 8 bytes read as an integer or a double.
    static let edges = ["0", "1", "-1", "2", "3", "8", "16", "28", "255", "256", "784", "4096", "4097", "65535", "65536",
                        "2147483647", "2147483648", "2147483649", "-2147483648", "-2147483649", "4294967295", "4294967296",
                        "9007199254740992", "9007199254740993", "4611686018427387904", "9223372036854775807",
                        "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551615",
                        "18446744073709551616", "3000000000000000", "1e300", "-1e300", "1e-300", "1e308", "0.5", "2.5",
                        "-0", "1.0", "1E2", "1e19", "123456789012345678901234567890"]

    mutating func number() -> String {
        switch below(4) {
        case 0, 1: return pick(Self.edges)
        case 2: return String(Int64(bitPattern: uint64()))
        default:
            let d = Double(bitPattern: uint64())
            return d.isFinite ? "\(d)" : "1e400"
        }
    }

    /// A JSON value where a number is expected: mostly numbers, sometimes another type.
    mutating func numberish() -> String {
        below(8) == 0 ? pick(["null", "true", "\"7\"", "[]", "{}", "[1]"]) : number()
    }
}

enum Structured {
    // MARK: infer requests

    /// An infer request body and its Inference-Header-Content-Length (nil: JSON only).
    static func inferRequest(_ c: inout Choices) -> (body: [UInt8], headerLength: Int?) {
        var binary: [UInt8] = []
        var inputs: [String] = []
        for _ in 0..<(c.below(8) == 0 ? 2 : 1) {
            let name = c.pick(["image", "input", "image", "input", "x"])
            let datatype = c.pick(name == "image" ? ["BYTES", "BYTES", "FP32", "INT64"] : ["FP32", "FP32", "BYTES", "UINT8"])
            let rank = c.pick([1, 4, 4, 2, 0, 5, 9])
            var shape = (0..<rank).map { _ in c.numberish() }
            if c.flip(), rank == 4 { shape[1...] = ["1", "28", "28"] }     // the bundled models' input
            var parts = [#""name":"\#(name)""#, #""datatype":"\#(datatype)""#, #""shape":[\#(shape.joined(separator: ","))]"#]
            switch c.below(3) {
            case 0:
                // Binary data: what it claims and what follows may differ.
                let payload = name == "image" ? bytesElements(&c) : c.take(c.below(64) * 4)
                let claimed = c.flip() ? String(payload.count) : c.numberish()
                parts.append(#""parameters":{"binary_data_size":\#(claimed)}"#)
                binary += payload
            case 1:
                let count = c.pick([1, 0, 2, 784, 3])
                let values = name == "image"
                    ? (0..<min(count, 3)).map { _ in "\"" + Data(png(&c)).base64EncodedString() + "\"" }
                    : (0..<count).map { _ in c.numberish() }
                parts.append(#""data":[\#(values.joined(separator: ","))]"#)
            default:
                break
            }
            inputs.append("{" + parts.joined(separator: ",") + "}")
        }
        var top = [#""inputs":[\#(inputs.joined(separator: ","))]"#]
        if c.flip() { top.append(#""id":\#(c.flip() ? "\"r\"" : c.numberish())"#) }
        if c.flip() {
            top.append(#""parameters":{"timeout":\#(c.numberish()),"binary_data_output":\#(c.flip() ? "true" : c.numberish())}"#)
        }
        if c.flip() {
            let outputs = (0..<c.below(4)).map { _ in
                #"{"name":"\#(c.pick(["logits", "probabilities", "logits", "z"]))","parameters":{"classification":\#(c.numberish()),"binary_data":\#(c.flip() ? "true" : c.numberish())}}"#
            }
            top.append(#""outputs":[\#(outputs.joined(separator: ","))]"#)
        }
        let header = Array(("{" + top.joined(separator: ",") + "}").utf8)
        return (header + binary, binary.isEmpty && c.flip() ? nil : header.count)
    }

    /// BYTES elements, each a 4-byte little-endian length (true or not) and a PNG or raw bytes.
    static func bytesElements(_ c: inout Choices) -> [UInt8] {
        var out: [UInt8] = []
        for _ in 0..<c.pick([1, 2, 0, 17]) {
            let element = c.flip() ? png(&c) : c.take(c.below(32))
            let length: UInt32 = c.below(4) == 0 ? c.pick([0, 0xFFFF_FFFF, 0x8000_0000, UInt32(element.count + 1)]) : UInt32(element.count)
            out += withUnsafeBytes(of: length.littleEndian) { Array($0) } + element
        }
        return out
    }

    // MARK: PNG

    /// A PNG with well-formed chunks (right lengths and CRCs) and extreme header values: width,
    /// height, bit depth, colour type and interlacing, a palette and tRNS, and image data that
    /// fits the header when the image is small (else a short stream).
    static func png(_ c: inout Choices) -> [UInt8] {
        let sizes: [UInt32] = [1, 2, 7, 8, 28, 29, 31, 1, 4000, 65535, 65536, 1 << 24, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0]
        let width = c.below(4) == 0 ? UInt32(truncatingIfNeeded: c.uint64()) : c.pick(sizes)
        let height = c.below(4) == 0 ? UInt32(truncatingIfNeeded: c.uint64()) : c.pick(sizes)
        let colour = c.pick([0, 2, 3, 4, 6, 0, 2, 1, 7]) as UInt8
        let depth = c.pick([8, 8, 1, 2, 4, 16, 3, 0]) as UInt8
        let interlace = c.pick([0, 1, 0, 2]) as UInt8
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        func chunk(_ type: String, _ data: [UInt8]) {
            let typeBytes = Array(type.utf8)
            png += withUnsafeBytes(of: UInt32(data.count).bigEndian) { Array($0) } + typeBytes + data
            let crc = (typeBytes + data).withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
            png += withUnsafeBytes(of: crc.bigEndian) { Array($0) }
        }
        chunk("IHDR", withUnsafeBytes(of: width.bigEndian) { Array($0) } + withUnsafeBytes(of: height.bigEndian) { Array($0) }
                      + [depth, colour, 0, 0, interlace])
        if colour == 3 || c.below(8) == 0 { chunk("PLTE", c.take(3 * c.pick([1, 16, 256, 257, 0]))) }
        if c.flip() { chunk("tRNS", c.take(c.pick([1, 2, 6, 300]))) }
        // Rows for small images: a filter byte and the row's bytes (at most 4 channels × 16 bits).
        let rowBytes = Int(width) * 8 + 1
        let raw: [UInt8]
        if width > 0, height > 0, width <= 64, height <= 64 {
            raw = (0..<(Int(height) * rowBytes)).map { i in i % rowBytes == 0 ? UInt8(c.below(5)) : c.byte() }
        } else {
            raw = c.take(c.below(256))
        }
        var compressed = [UInt8](repeating: 0, count: Int(compressBound(UInt(raw.count))))
        var size = UInt(compressed.count)
        if compress2(&compressed, &size, raw, UInt(raw.count), 1) == Z_OK {
            let data = Array(compressed[0..<Int(size)])
            if c.below(8) == 0 { chunk("IDAT", Array(data.prefix(data.count / 2))); chunk("IDAT", Array(data.dropFirst(data.count / 2))) }
            else { chunk("IDAT", c.below(8) == 0 ? Array(data.prefix(c.below(data.count + 1))) : data) }
        }
        chunk("IEND", [])
        return png
    }

    // MARK: config.json

    /// A config.json object with a choice of the known keys holding extreme values (and, now
    /// and then, an unknown key or a value of the wrong type).
    static func config(_ c: inout Choices) -> [UInt8] {
        var members: [String] = []
        if c.flip() { members.append(#""max_batch_size":\#(c.numberish())"#) }
        if c.flip() { members.append(#""max_queue_delay_us":\#(c.numberish())"#) }
        if c.flip() { members.append(#""max_queue":\#(c.numberish())"#) }
        if c.flip() { members.append(#""reversibility_tolerance":\#(c.numberish())"#) }
        if c.flip() { members.append(#""architecture":\#(c.pick(["\"hamiltonian\"", "\"\"", "1", "null"]))"#) }
        if c.flip() {
            // Now and then one past the limit of 100 000 (rare: a long document slows every run).
            let count = c.below(32) == 0 ? 100_001 : c.pick([1, 0, 10, 3])
            members.append(#""labels":[\#((0..<min(count, 200_000)).map { _ in c.flip() ? "\"l\"" : "1" }.joined(separator: ","))]"#)
        }
        switch c.below(5) {
        case 0: members.append(#""version_policy":{"latest":{"num_versions":\#(c.numberish())}}"#)
        case 1: members.append(#""version_policy":{"specific":{"versions":[\#((0..<c.below(4)).map { _ in c.numberish() }.joined(separator: ","))]}}"#)
        case 2: members.append(#""version_policy":{"all":{}}"#)
        case 3: members.append(#""version_policy":{"\#(c.pick(["latest", "newest"]))":\#(c.numberish())}"#)
        default: break
        }
        if c.below(16) == 0 { members.append(#""max_batch":1"#) }
        return Array(("{" + members.joined(separator: ",") + "}").utf8)
    }
}
