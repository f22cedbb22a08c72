// BoundsTests: the bound check, checked arithmetic at the edges of Int, and the JSON shape
// scan on deep, wide and long documents (each refused in one pass, none recursing).

import Bounds
import Foundation
import Testing

@Suite struct BoundsTests {
    @Test func boundsNameTheValueTheRangeAndTheUnit() throws {
        let b = Bound(1...4096, "images")
        #expect(b.violation("--max-batch", 1) == nil)
        #expect(b.violation("--max-batch", 4096) == nil)
        #expect(b.violation("--max-batch", 4097) == "--max-batch must be an integer from 1 to 4096 images, got 4097")
        #expect(b.violation("--max-batch", 0) != nil)
        #expect(b.violation("x", Int64.max) != nil)
        #expect(b.violation("x", Int64.min) != nil)
        for text in ["9223372036854775808", "-1", "1e3", "2.5", "", " 5", String(repeating: "9", count: 10_000)] {
            guard case .failure(let e) = b.parse("top", Substring(text)) else { Issue.record("'\(text.prefix(20))' parsed"); continue }
            #expect(e.message.hasPrefix("top must be an integer from 1 to 4096 images"))
            #expect(e.message.utf8.count < 200, "the message echoes the whole value")
        }
        #expect(try b.parse("top", "17").get() == 17)
    }

    @Test func checkedArithmeticReportsOverflowInsteadOfTrapping() {
        #expect(Checked.product(Int.max, 2) == nil)
        #expect(Checked.product(1 << 31, 1 << 31) == 1 << 62)
        #expect(Checked.product([1 << 40, 1 << 40, 28]) == nil)
        #expect(Checked.product([64, 1, 28, 28]) == 50_176)
        #expect(Checked.product([3, -1]) == nil)
        #expect(Checked.product([Int]()) == 1)
        // The count fits but its byte size does not: the case that crashed the daemon.
        let count = Checked.product([1 << 61, 1, 1, 1])!
        #expect(Checked.product(count, 4) == nil)
        #expect(Checked.sum(Int.max, 1) == nil)
        #expect(Checked.nanoseconds(Int.max, scale: 1000) == UInt64.max)
        #expect(Checked.nanoseconds(-1, scale: 1000) == nil)
        #expect(Checked.nanoseconds(2000, scale: 1000) == 2_000_000)
    }

    @Test func jsonShapeRefusesDepthWidthAndLengthInOnePass() throws {
        let limits = JSONShapeLimits(maxDepth: 32, maxObjectMembers: 64, maxObjectsInArray: 64, maxScalars: 1000)
        func check(_ s: String) -> String? {
            do { try JSONShape.check(Array(s.utf8), limits); return nil } catch { return error.message }
        }
        // Well within every limit, with strings that look like structure.
        #expect(check(#"{"inputs":[{"name":"x]}{[","shape":[1,2],"data":[[1,2],[3,4]],"parameters":{"a":"\"{["}}]}"#) == nil)
        // Depth: arrays and objects, at and past the limit, up to 100 000 levels.
        #expect(check(String(repeating: "[", count: 32) + String(repeating: "]", count: 32)) == nil)
        #expect(check(String(repeating: "[", count: 33))?.contains("more than 32 levels") == true)
        #expect(check("{\"inputs\":" + String(repeating: "[", count: 100_000))?.contains("under 'inputs'") == true)
        #expect(check(String(repeating: "{\"a\":", count: 100_000))?.contains("levels") == true)
        // Width: members of one object, objects in one array.
        let members = (0..<65).map { "\"k\($0)\":1" }.joined(separator: ",")
        #expect(check("{" + members + "}")?.contains("more than 64 members") == true)
        let inputs = [String](repeating: #"{"name":"image"}"#, count: 65).joined(separator: ",")
        #expect(check(#"{"inputs":["# + inputs + "]}")?.contains("more than 64 objects (under 'inputs')") == true)
        // UTF-16 and UTF-32 (where a 0x22 byte need not be a quote) are refused, not misread.
        let utf16 = Array("{\"id\":\"\u{122}\",\"inputs\":[[[1]]]}".data(using: .utf16LittleEndian)!)
        #expect(throws: BoundViolation.self) { try JSONShape.check(utf16, limits) }
        #expect(throws: BoundViolation.self) { try JSONShape.check([0xFF, 0xFE, 0x7B, 0x00], limits) }
        // Arrays of arrays are tensors: wide is fine, only the scalar count binds.
        #expect(check("[" + [String](repeating: "[1]", count: 999).joined(separator: ",") + "]") == nil)
        #expect(check("[" + [String](repeating: "1.5e300", count: 1001).joined(separator: ",") + "]")?.contains("more than 1000 values") == true)
        #expect(check("[" + [String](repeating: "\"\"", count: 1001).joined(separator: ",") + "]") != nil)
        #expect(check("[" + [String](repeating: "null", count: 1001).joined(separator: ",") + "]") != nil)
        // A 4 MB document of scalars is scanned in well under a second (one pass, no recursion).
        let long = "[" + [String](repeating: "1", count: 2_000_000).joined(separator: ",") + "]"
        let start = Date()
        #expect(check(long) != nil)
        #expect(Date().timeIntervalSince(start) < 2)
    }
}
