// Bound: the named range a value from outside the process (a flag, a config.json key, a request
// field, a file header) must fall in before anything uses it, and the one message that refuses it.

/// An inclusive range for one outside value, with the unit its refusal names.
public struct Bound: Sendable, Equatable, CustomStringConvertible {
    public let range: ClosedRange<Int>
    /// Plural unit for messages ("images", "bytes"); empty for a plain count.
    public let unit: String

    public init(_ range: ClosedRange<Int>, _ unit: String = "") {
        self.range = range
        self.unit = unit
    }

    public var lowerBound: Int { range.lowerBound }
    public var upperBound: Int { range.upperBound }

    public var description: String {
        let u = unit.isEmpty ? "" : " " + unit
        return "\(range.lowerBound)…\(range.upperBound)\(u)"
    }

    /// Why `value` is refused as `name`, or nil when it is within the bound.
    public func violation(_ name: String, _ value: Int) -> String? {
        range.contains(value) ? nil : refusal(name, "\(value)")
    }

    /// The same for a 64-bit value that may not fit an `Int` on every platform.
    public func violation(_ name: String, _ value: Int64) -> String? {
        guard let v = Int(exactly: value) else { return refusal(name, "\(value)") }
        return violation(name, v)
    }

    /// The refusal for a value that is out of the bound whatever it is (not an integer, too
    /// long to parse): `shown` is how the message quotes it.
    public func refusal(_ name: String, _ shown: String) -> String {
        let u = unit.isEmpty ? "" : " " + unit
        return "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)\(u), got \(shown)"
    }

    /// Parses an outside decimal string into the bound; nil with the message otherwise.
    public func parse(_ name: String, _ text: Substring) -> Result<Int, BoundViolation> {
        let shown = text.count > 40 ? "'\(text.prefix(40))…' (\(text.utf8.count) bytes)" : "'\(text)'"
        guard let v = Int(text) else { return .failure(BoundViolation(refusal(name, shown))) }
        if let why = violation(name, v) { return .failure(BoundViolation(why)) }
        return .success(v)
    }
}

/// A value outside its bound: the message names the value, the bound and where it came from.
public struct BoundViolation: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Arithmetic on outside values that reports overflow instead of trapping.
public enum Checked {
    /// a · b, or nil if it does not fit an `Int`.
    public static func product(_ a: Int, _ b: Int) -> Int? {
        let (p, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : p
    }

    /// The product of every factor, or nil if any is negative or the product does not fit.
    public static func product(_ factors: some Sequence<Int>) -> Int? {
        var p = 1
        for f in factors {
            guard f >= 0, let next = product(p, f) else { return nil }
            p = next
        }
        return p
    }

    /// a + b, or nil if it does not fit an `Int`.
    public static func sum(_ a: Int, _ b: Int) -> Int? {
        let (s, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : s
    }

    /// A duration in some unit as nanoseconds (`scale` nanoseconds per unit), saturating at
    /// `UInt64.max` ("never") instead of wrapping; negative durations are nil.
    public static func nanoseconds(_ value: Int, scale: UInt64) -> UInt64? {
        guard value >= 0 else { return nil }
        let (n, overflow) = UInt64(value).multipliedReportingOverflow(by: scale)
        return overflow ? .max : n
    }
}
