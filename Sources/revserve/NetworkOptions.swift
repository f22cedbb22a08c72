// NetworkOptions: the options that describe a network on the command line (a preset, or an
// architecture with units and widths), shared by bench and later by train.

import ArgumentParser
import Bounds
import Foundation
import RevNet

struct NetworkOptions: ParsableArguments {
    @Option(help: "A named model: \(Presets.names.joined(separator: ", ")).")
    var preset: String?

    @Option(help: "Architecture: hamiltonian, midpoint or leapfrog (alone: its small preset; or with --units and --channels).")
    var arch: String?

    @Option(help: "Blocks per unit, comma-separated (e.g. 6,6,6).", transform: parseList)
    var units: [Int]?

    @Option(help: "Width of each unit, comma-separated (e.g. 32,64,112).", transform: parseList)
    var channels: [Int]?

    @Option(help: "Input shape C,H,W.", transform: parseList)
    var input: [Int] = [3, 32, 32]

    @Option(help: "Number of classes.")
    var classes: Int = 10

    @Option(name: .customLong("h"), help: "Step size h.")
    var stepSize: Float = 0.1

    func validate() throws {
        if preset == nil && (units == nil) != (channels == nil) {
            throw ValidationError("--units and --channels go together (e.g. --units 6,6,6 --channels 32,64,112)")
        }
        if preset != nil && (units != nil || channels != nil) {
            throw ValidationError("--preset fixes the units and widths; drop --units/--channels or the preset")
        }
        guard input.count == 3 else { throw ValidationError("--input must be C,H,W (three numbers), got \(input.count)") }
        for d in input { try requireBound("--input (each of C, H, W)", d, FlagBounds.inputDimension) }
        try requireBound("--classes", classes, Bound(1...NetworkConfig.maxClasses, "classes"))
    }

    /// The validated configuration these options describe.
    func config() throws -> NetworkConfig {
        guard preset != nil || arch != nil else {
            throw ValidationError("give --preset NAME, or --arch NAME (its small preset, or with --units and --channels)")
        }
        var config: NetworkConfig
        if let preset = preset ?? (units == nil ? "\(arch!)-small" : nil) {
            if preset.hasSuffix("-small"), self.preset == nil, (try? Architectures.named(arch!)) == nil {
                _ = try Architectures.named(arch!)   // the unknown-architecture error, not an unknown preset
            }
            config = try Presets.config(preset, inputShape: input, numClasses: classes, h: stepSize)
            if let arch, arch != config.architecture {
                throw ValidationError("--arch \(arch) contradicts --preset \(preset), which is \(config.architecture)")
            }
        } else {
            config = NetworkConfig(architecture: arch!, inputShape: input, numClasses: classes,
                                   unitChannels: channels!, unitBlocks: units!, h: stepSize)
        }
        try config.validate(for: try Architectures.named(config.architecture))
        return config
    }
}

/// "6,6,6" → [6, 6, 6].
func parseList(_ text: String) throws -> [Int] {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false)
    let values = parts.map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
        throw ValidationError("'\(text)' is not a comma-separated list of whole numbers")
    }
    return values.map { $0! }
}
