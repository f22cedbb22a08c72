// MultipartForm: a multipart/form-data body (RFC 2046 §5.1, RFC 7578) split into its parts in
// one linear pass over bytes already in memory, with every count and length bounded.
//
// Not multipart-kit: as of 4.7.1 it traps (the process dies) on a part header name byte of 128
// or more and on an empty boundary (a precondition), and a check placed in front of it can be
// bypassed through a self-overlapping boundary its matcher skips to. A parser that cannot be
// made safe from the outside is not one to call with a client's bytes, so the format (small,
// and fully specified) is parsed here, where every path ends in a value or a thrown message.

import Foundation

struct MultipartForm {
    struct Part: Equatable {
        /// The filename parameter of its Content-Disposition, if any.
        var filename: String?
        var body: ArraySlice<UInt8>
    }

    struct Limits {
        /// Most parts kept; one more is refused without holding the rest.
        var maxParts: Int
        /// Most header lines in one part.
        var maxHeaders = 32
        /// Longest header section of one part, in bytes.
        var maxHeaderBytes = 16 << 10
    }

    enum Failure: Error, Equatable {
        /// Malformed: the message says where.
        case malformed(String)
        /// More parts than `maxParts`.
        case tooManyParts(Int)
    }

    /// RFC 2046's limit on a boundary's length.
    static let maxBoundaryBytes = 70

    /// Checks a boundary parameter: 1 to 70 of RFC 2046's `bchars`, not ending in a space.
    static func validBoundary(_ boundary: String) -> Bool {
        let bytes = Array(boundary.utf8)
        guard (1...maxBoundaryBytes).contains(bytes.count), bytes.last != UInt8(ascii: " ") else { return false }
        let extra = Set("'()+_,-./:=? ".utf8)
        return bytes.allSatisfy { b in
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b) || extra.contains(b)
        }
    }

    /// The parts of `body`. The boundary must have passed `validBoundary`.
    static func parse(_ body: [UInt8], boundary: String, limits: Limits) throws(Failure) -> [Part] {
        let dash = Array(("--" + boundary).utf8)
        let delimiter = [0x0D, 0x0A] + dash   // CRLF "--" boundary: what ends a part's body
        // The first delimiter may open the body or follow a preamble that ends in CRLF.
        var i: Int
        if body.starts(with: dash) {
            i = dash.count
        } else if let at = find(delimiter, in: body, from: 0) {
            i = at + delimiter.count
        } else {
            throw .malformed("no --boundary line (is the boundary right?)")
        }
        var parts: [Part] = []
        var count = 0
        while true {
            // After a delimiter: "--" closes the body; otherwise padding, then CRLF.
            if body[i...].starts(with: [0x2D, 0x2D]) { return parts }
            while i < body.count, body[i] == 0x20 || body[i] == 0x09 { i += 1 }
            guard body[i...].starts(with: [0x0D, 0x0A]) else {
                throw .malformed("part \(count): the boundary line does not end in CRLF")
            }
            i += 2
            let (filename, bodyStart) = try headers(body, from: i, part: count, limits: limits)
            guard let end = find(delimiter, in: body, from: bodyStart) else {
                throw .malformed("the body ends inside part \(count) (no closing --boundary--)")
            }
            count += 1
            guard count <= limits.maxParts else { throw .tooManyParts(count) }
            parts.append(Part(filename: filename, body: body[bodyStart..<end]))
            i = end + delimiter.count
        }
    }

    /// Reads one part's header lines from `start`; returns its filename and where its body begins.
    private static func headers(_ body: [UInt8], from start: Int, part: Int, limits: Limits) throws(Failure) -> (String?, Int) {
        var i = start, lines = 0
        var filename: String?
        while true {
            guard i - start <= limits.maxHeaderBytes else {
                throw .malformed("part \(part): headers longer than \(limits.maxHeaderBytes) bytes")
            }
            guard let eol = find([0x0D, 0x0A], in: body, from: i, within: limits.maxHeaderBytes + 2) else {
                throw .malformed("part \(part): a header line without CRLF")
            }
            if eol == i { return (filename, i + 2) }          // the blank line: the body follows
            lines += 1
            guard lines <= limits.maxHeaders else { throw .malformed("part \(part): more than \(limits.maxHeaders) header lines") }
            let line = body[i..<eol]
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                  line[..<colon].allSatisfy(isTokenByte) else {
                throw .malformed("part \(part): a header line that is not 'Name: value' with an ASCII name")
            }
            let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            if name == "content-disposition" {
                filename = dispositionFilename(String(decoding: line[(colon + 1)...], as: UTF8.self))
            }
            i = eol + 2
        }
    }

    /// RFC 7230's token characters, which header names are made of.
    private static func isTokenByte(_ b: UInt8) -> Bool {
        b > 0x20 && b < 0x7F && !"\"(),/:;<=>?@[\\]{}".utf8.contains(b)
    }

    /// The filename parameter of a Content-Disposition value, unquoted.
    static func dispositionFilename(_ value: String) -> String? {
        for parameter in value.split(separator: ";").dropFirst() {
            let kv = parameter.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces).lowercased() == "filename" else { continue }
            var v = kv[1].trimmingCharacters(in: .whitespaces)
            if v.count >= 2, v.hasPrefix("\""), v.hasSuffix("\"") { v = String(v.dropFirst().dropLast()) }
            return v
        }
        return nil
    }

    /// The first index at or after `from` where `needle` starts (looking at most `within` bytes
    /// past `from`). Naive, but the needle is at most 74 bytes and its first byte (CR) is
    /// rare in image data, so this stays linear in practice and O(n · 74) at worst.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int, within: Int = .max) -> Int? {
        let last = haystack.count - needle.count
        guard from <= last else { return nil }
        let stop = min(last, from.addingReportingOverflow(within).overflow ? last : from + within)
        guard from <= stop else { return nil }
        let first = needle[0]
        var i = from
        while i <= stop {
            if haystack[i] == first, haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}

