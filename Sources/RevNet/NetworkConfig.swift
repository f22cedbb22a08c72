// NetworkConfig: the shape of a network (architecture, units, widths, h, input, classes), the
// named presets of docs/spec/NETWORKS.md §4, and validation that says which value is wrong and why.

public struct NetworkConfig: Sendable, Equatable, Codable {
    /// Architecture name: `hamiltonian`, `midpoint`, `leapfrog` or another registered one.
    public var architecture: String
    /// [C_in, H, W] of the input images.
    public var inputShape: [Int]
    public var numClasses: Int
    /// Width C_u of each unit; the stem outputs unitChannels[0].
    public var unitChannels: [Int]
    /// Reversible blocks B_u in each unit.
    public var unitBlocks: [Int]
    /// Step size h of the discretised ODE.
    public var h: Float
    /// Batch-norm epsilon.
    public var bnEps: Float

    public init(architecture: String, inputShape: [Int] = [3, 32, 32], numClasses: Int = 10,
                unitChannels: [Int], unitBlocks: [Int], h: Float = 0.1, bnEps: Float = 1e-5) {
        self.architecture = architecture
        self.inputShape = inputShape
        self.numClasses = numClasses
        self.unitChannels = unitChannels
        self.unitBlocks = unitBlocks
        self.h = h
        self.bnEps = bnEps
    }

    /// Number of units U.
    public var units: Int { unitChannels.count }

    /// Spatial size (H, W) inside unit u: the input halved (floor) once per transition before it.
    public func resolution(unit u: Int) -> (h: Int, w: Int) {
        var h = inputShape[1], w = inputShape[2]
        for _ in 0..<u { h /= 2; w /= 2 }
        return (h, w)
    }

    /// The largest network accepted: 2^28 parameters (1 GiB of float32, hamiltonian-1202 has 9.7 M).
    public static let maxParameters = 1 << 28
    /// The largest input accepted: 2^24 values per image (a 4096 × 4096 grey image; the presets
    /// take 3 072).
    public static let maxInputValues = 1 << 24
    /// Most classes (labels are an HDF5 attribute of at most 2^20 strings).
    public static let maxClasses = 1 << 20
    /// Most blocks in all units: the deepest preset has a few hundred; each block is several
    /// tensors built before any weight is read, so a declared million is refused first.
    public static let maxBlocks = 100_000

    /// Checks everything that does not depend on the architecture; the architecture's own
    /// constraints are checked by `validate(for:)`.
    public func validate() throws(ConfigError) {
        func bad(_ field: String, _ why: String) -> ConfigError { .invalid(field: field, reason: why) }
        guard inputShape.count == 3, inputShape.allSatisfy({ $0 >= 1 }) else {
            throw bad("input_shape", "must be three positive sizes [C, H, W], got \(inputShape)")
        }
        guard numClasses >= 1, numClasses <= Self.maxClasses else {
            throw bad("num_classes", "must be from 1 to \(Self.maxClasses), got \(numClasses)")
        }
        guard !unitChannels.isEmpty else { throw bad("unit_channels", "needs at least one unit") }
        guard unitBlocks.count == unitChannels.count else {
            throw bad("unit_blocks", "has \(unitBlocks.count) entries but unit_channels has \(unitChannels.count)")
        }
        if let u = unitBlocks.firstIndex(where: { $0 < 1 || $0 > Self.maxBlocks }) {
            throw bad("unit_blocks", "unit \(u) has \(unitBlocks[u]) blocks; every unit needs from 1 to \(Self.maxBlocks)")
        }
        if let u = unitChannels.firstIndex(where: { $0 < 1 }) {
            throw bad("unit_channels", "unit \(u) has width \(unitChannels[u]); widths must be positive")
        }
        for u in 1..<units where unitChannels[u] < unitChannels[u - 1] {
            throw bad("unit_channels", "unit \(u) is narrower (\(unitChannels[u])) than unit \(u - 1) (\(unitChannels[u - 1])); transitions only add channels")
        }
        let last = resolution(unit: units - 1)
        guard last.h >= 1, last.w >= 1 else {
            throw bad("input_shape", "\(inputShape[1])×\(inputShape[2]) is too small for \(units) units: each transition halves it")
        }
        // Sizes are checked before anything is allocated for them: a damaged or hostile
        // checkpoint can declare any shape.
        let inputValues = inputShape.reduce(1.0) { $0 * Double($1) }
        guard inputValues <= Double(Self.maxInputValues) else {
            throw bad("input_shape", "\(inputShape) is \(inputValues) values per image; the limit is \(Self.maxInputValues)")
        }
        // An upper bound for every architecture: 2 · 9 · C² per block (Midpoint and Leapfrog
        // have 9 · C², Hamiltonian 4.5 · C²), plus stem, head and FC.
        // In Double: the sizes are not yet bounded individually, and Int arithmetic could trap.
        var parameters = (Double(inputShape[0]) * 9 + 2) * Double(unitChannels[0]) + (Double(numClasses) + 4) * Double(unitChannels[units - 1])
        guard unitBlocks.reduce(0.0, { $0 + Double($1) }) <= Double(Self.maxBlocks) else {
            throw bad("unit_blocks", "\(unitBlocks) are more than \(Self.maxBlocks) blocks in all")
        }
        for u in 0..<units { parameters += Double(unitBlocks[u]) * (18 * Double(unitChannels[u]) * Double(unitChannels[u]) + 2 * Double(unitChannels[u])) }
        guard parameters <= Double(Self.maxParameters) else {
            throw bad("unit_channels", "widths \(unitChannels) with blocks \(unitBlocks) need up to \(Int(min(parameters, 9e18))) parameters; the limit is \(Self.maxParameters) (1 GiB)")
        }
        guard h.isFinite, h > 0 else { throw bad("h", "must be a positive finite step size, got \(h)") }
        guard bnEps.isFinite, bnEps > 0 else { throw bad("bn_eps", "must be positive, got \(bnEps)") }
    }

    /// All checks, including the architecture's (even splits, divisible width steps).
    public func validate(for architecture: any ReversibleArchitecture) throws(ConfigError) {
        try validate()
        if let problem = architecture.widthProblem(unitChannels) {
            throw .invalid(field: "unit_channels", reason: problem)
        }
    }
}

/// A configuration that cannot be built, naming the field and the reason.
public enum ConfigError: Error, Equatable, CustomStringConvertible {
    case invalid(field: String, reason: String)
    case unknownPreset(String, known: [String])
    case unknownArchitecture(String, known: [String])

    public var description: String {
        switch self {
        case .invalid(let field, let reason): return "invalid \(field): \(reason)"
        case .unknownPreset(let name, let known):
            return "unknown preset '\(name)'; known presets: \(known.joined(separator: ", "))"
        case .unknownArchitecture(let name, let known):
            return "unknown architecture '\(name)'; known architectures: \(known.joined(separator: ", "))"
        }
    }
}

/// The named models of docs/spec/NETWORKS.md §4 (the paper's table).
public enum Presets {
    public struct Preset: Sendable {
        public var architecture: String
        public var unitBlocks: [Int]
        public var unitChannels: [Int]
    }

    public static let all: [(name: String, preset: Preset)] = [
        ("hamiltonian-74", Preset(architecture: "hamiltonian", unitBlocks: [6, 6, 6], unitChannels: [32, 64, 112])),
        ("hamiltonian-218", Preset(architecture: "hamiltonian", unitBlocks: [18, 18, 18], unitChannels: [32, 64, 128])),
        ("hamiltonian-1202", Preset(architecture: "hamiltonian", unitBlocks: [100, 100, 100], unitChannels: [32, 64, 128])),
        ("midpoint-26", Preset(architecture: "midpoint", unitBlocks: [4, 4, 4], unitChannels: [32, 64, 112])),
        ("midpoint-62", Preset(architecture: "midpoint", unitBlocks: [10, 10, 10], unitChannels: [32, 64, 128])),
        ("leapfrog-26", Preset(architecture: "leapfrog", unitBlocks: [4, 4, 4], unitChannels: [32, 64, 112])),
        ("leapfrog-62", Preset(architecture: "leapfrog", unitBlocks: [10, 10, 10], unitChannels: [32, 64, 128])),
        // The project's own small models (not in the paper): the default of `revserve train
        // --arch NAME`, sized to train on Fashion-MNIST in minutes on two cores.
        ("hamiltonian-small", Preset(architecture: "hamiltonian", unitBlocks: [2, 2, 2], unitChannels: [16, 32, 64])),
        ("midpoint-small", Preset(architecture: "midpoint", unitBlocks: [2, 2, 2], unitChannels: [16, 32, 64])),
        ("leapfrog-small", Preset(architecture: "leapfrog", unitBlocks: [2, 2, 2], unitChannels: [16, 32, 64])),
    ]

    public static var names: [String] { all.map(\.name) }

    /// The configuration of preset `name` for the given input and classes.
    public static func config(_ name: String, inputShape: [Int] = [3, 32, 32], numClasses: Int = 10,
                              h: Float = 0.1) throws(ConfigError) -> NetworkConfig {
        guard let p = all.first(where: { $0.name == name })?.preset else {
            throw .unknownPreset(name, known: names)
        }
        return NetworkConfig(architecture: p.architecture, inputShape: inputShape, numClasses: numClasses,
                             unitChannels: p.unitChannels, unitBlocks: p.unitBlocks, h: h)
    }
}
