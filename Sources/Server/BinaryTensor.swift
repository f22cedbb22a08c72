// BinaryTensor: the binary tensor data extension's element encodings: FP32 as little-endian
// floats, BYTES as elements each prefixed by a 4-byte little-endian length.

import Inference

enum BinaryTensor {
    /// Splits length-prefixed BYTES elements; every byte must belong to an element, and there
    /// are at most `maxElements` (counted as they are found: a body of empty elements holds a
    /// quarter as many as it has bytes).
    static func splitBytes(_ raw: ArraySlice<UInt8>, tensor: String, maxElements: Int) throws(APIError) -> [[UInt8]] {
        var elements: [[UInt8]] = []
        var i = raw.startIndex
        while i < raw.endIndex {
            guard elements.count < maxElements else {
                throw .tooLarge("input '\(tensor)': the binary data holds more than \(maxElements) elements (the server's --max-images-per-request)")
            }
            guard raw.endIndex - i >= 4 else {
                throw .badRequest("input '\(tensor)': binary BYTES element \(elements.count) is cut off inside its 4-byte length prefix")
            }
            // At most 2^32 − 1: compared with what remains before it is added to an index.
            let length = Int(raw[i]) | Int(raw[i + 1]) << 8 | Int(raw[i + 2]) << 16 | Int(raw[i + 3]) << 24
            i += 4
            guard length <= raw.endIndex - i else {
                throw .badRequest("input '\(tensor)': binary BYTES element \(elements.count) claims \(length) bytes but \(raw.endIndex - i) remain")
            }
            elements.append(Array(raw[i..<(i + length)]))
            i += length
        }
        return elements
    }

    static func floats(_ raw: ArraySlice<UInt8>) -> [Float] {
        var out = [Float](repeating: 0, count: raw.count / 4)
        out.withUnsafeMutableBytes { dst in
            raw.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<dst.count])) }
        }
        #if _endian(big)
        for i in out.indices { out[i] = Float(bitPattern: UInt32(littleEndian: out[i].bitPattern)) }
        #endif
        return out
    }

    static func appendFloats(_ values: [Float], to out: inout [UInt8]) {
        out.reserveCapacity(out.count + values.count * 4)
        for v in values {
            let b = v.bitPattern.littleEndian
            withUnsafeBytes(of: b) { out.append(contentsOf: $0) }
        }
    }

    static func appendBytes(_ elements: [String], to out: inout [UInt8]) {
        for e in elements {
            let utf8 = Array(e.utf8), n = UInt32(utf8.count).littleEndian
            withUnsafeBytes(of: n) { out.append(contentsOf: $0) }
            out.append(contentsOf: utf8)
        }
    }
}
