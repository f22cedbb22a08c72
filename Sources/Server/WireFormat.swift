// WireFormat: the JSON shapes of the Open Inference Protocol's infer request, as Decodable
// values: parameters of any JSON type, and tensor `data` given flat or nested (row-major).

import Foundation

/// A `parameters` value: the protocol allows any JSON scalar.
enum ParameterValue: Decodable, Equatable {
    case bool(Bool), int(Int64), double(Double), string(String), other

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else { self = .other }
    }

    var int: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9e18: return Int64(d)
        default: return nil
        }
    }
    var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
}

/// Tensor elements in row-major order, whatever nesting the client used.
struct FlatData: Decodable {
    var numbers: [Double] = []
    var strings: [String] = []
    var bools: [Bool] = []

    init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        try Self.flatten(&c, into: &self)
    }

    private static func flatten(_ c: inout any UnkeyedDecodingContainer, into d: inout FlatData) throws {
        while !c.isAtEnd {
            // A failed decode does not advance the container, so the next attempt sees the same element.
            if let x = try? c.decode(Double.self) { d.numbers.append(x) }
            else if let s = try? c.decode(String.self) { d.strings.append(s) }
            else if let b = try? c.decode(Bool.self) { d.bools.append(b) }
            else {
                var nested = try c.nestedUnkeyedContainer()
                try flatten(&nested, into: &d)
            }
        }
    }

    /// How many kinds of element appear (a tensor has one).
    var kinds: Int { [numbers.isEmpty, strings.isEmpty, bools.isEmpty].filter { !$0 }.count }
}

struct WireInput: Decodable {
    var name: String
    var shape: [Int]
    var datatype: String
    var parameters: [String: ParameterValue]?
    var data: FlatData?
}

struct WireOutput: Decodable {
    var name: String
    var parameters: [String: ParameterValue]?
}

struct WireRequest: Decodable {
    var id: String?
    var parameters: [String: ParameterValue]?
    var inputs: [WireInput]
    var outputs: [WireOutput]?
}
