// JSONShape: a one-pass, non-recursive scan of outside JSON that refuses what would make a
// decoder deep, wide or large before any decoder runs: nesting depth, members of one object,
// objects in one array, and scalars in all. The decoder that follows still checks the syntax.

public struct JSONShapeLimits: Sendable, Equatable {
    /// Deepest nesting of arrays and objects. Foundation's decoders refuse beyond 512 levels;
    /// revserve's own `FlatData` recursion is far shallower than the stack allows at 64
    /// (docs/SECURITY.md), and no protocol message needs more than 4 + a tensor's rank.
    public var maxDepth = 32
    /// Most members in one object (a request's keys, one tensor's parameters).
    public var maxObjectMembers = 64
    /// Most objects in one array (inputs, outputs).
    public var maxObjectsInArray = 64
    /// Most scalars (numbers, strings, booleans, nulls) in the whole document.
    public var maxScalars = 1 << 20

    public init() {}
    public init(maxDepth: Int = 32, maxObjectMembers: Int = 64, maxObjectsInArray: Int = 64, maxScalars: Int = 1 << 20) {
        self.maxDepth = maxDepth
        self.maxObjectMembers = maxObjectMembers
        self.maxObjectsInArray = maxObjectsInArray
        self.maxScalars = maxScalars
    }
}

public enum JSONShape {
    /// Throws a message naming the first limit the document passes (and the top-level key it
    /// is under, when there is one). Malformed JSON is left for the decoder to describe.
    public static func check(_ bytes: some Collection<UInt8>, _ limits: JSONShapeLimits) throws(BoundViolation) {
        // One frame per open container: whether it is an object, its members so far (objects), and
        // the objects it holds (arrays).
        // The stack is bounded by maxDepth, so memory is O(maxDepth) whatever the input.
        var isObject: [Bool] = [], counts: [Int] = [], objectsInArray: [Int] = []
        isObject.reserveCapacity(limits.maxDepth + 1)
        var scalars = 0
        var inString = false, escaped = false, scalarOpen = false
        var topKey: [UInt8] = [], readingTopKey = false, expectKey = false
        func place() -> String {
            topKey.isEmpty ? "" : " (under '\(String(decoding: topKey.prefix(64), as: UTF8.self))')"
        }
        // The scan reads bytes as UTF-8; Foundation's decoders also accept UTF-16 and UTF-32,
        // in which a byte 0x22 need not be a quote. JSON for exchange is UTF-8 (RFC 8259), so
        // those are refused here rather than scanned wrongly.
        if bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) {
            throw BoundViolation("JSON must be UTF-8 (this starts with a UTF-16 or UTF-32 byte order mark)")
        }
        for b in bytes {
            if b == 0 { throw BoundViolation("JSON must be UTF-8 (this holds a NUL byte, as UTF-16 and UTF-32 do)") }
            if inString {
                if readingTopKey && !escaped && b != UInt8(ascii: "\"") && topKey.count < 64 { topKey.append(b) }
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") {
                    inString = false
                    readingTopKey = false
                }
                continue
            }
            switch b {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                scalarOpen = false
                let object = b == UInt8(ascii: "{")
                if let last = isObject.indices.last, !isObject[last] {
                    if object {
                        objectsInArray[last] += 1
                        if objectsInArray[last] > limits.maxObjectsInArray {
                            throw BoundViolation("JSON: an array holds more than \(limits.maxObjectsInArray) objects\(place())")
                        }
                    }
                }
                guard isObject.count < limits.maxDepth else {
                    throw BoundViolation("JSON: nested more than \(limits.maxDepth) levels deep\(place())")
                }
                isObject.append(object)
                counts.append(0)
                objectsInArray.append(0)
                expectKey = object
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                scalarOpen = false
                if !isObject.isEmpty { isObject.removeLast(); counts.removeLast(); objectsInArray.removeLast() }
                expectKey = false
            case UInt8(ascii: "\""):
                scalarOpen = false
                inString = true
                if expectKey, let last = isObject.indices.last {
                    counts[last] += 1
                    if counts[last] > limits.maxObjectMembers {
                        throw BoundViolation("JSON: an object has more than \(limits.maxObjectMembers) members\(place())")
                    }
                    if isObject.count == 1 { topKey = []; readingTopKey = true }
                    expectKey = false
                } else {
                    scalars += 1
                }
            case UInt8(ascii: ","):
                scalarOpen = false
                if let last = isObject.last { expectKey = last }
            case UInt8(ascii: ":"), UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                scalarOpen = false
            default:
                // The first byte of a number, true, false or null (or of garbage the decoder refuses).
                if !scalarOpen {
                    scalarOpen = true
                    scalars += 1
                }
            }
            if scalars > limits.maxScalars {
                throw BoundViolation("JSON: more than \(limits.maxScalars) values\(place())")
            }
        }
    }
}
