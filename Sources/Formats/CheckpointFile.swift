// CheckpointFile: reading and writing checkpoint files (docs/spec/CHECKPOINT.md). Reading validates
// everything the format promises and names the file, the HDF5 path and the expectation in every
// error; writing is atomic (AtomicFile).

import Tensor

public enum CheckpointFile {
    /// The weights an architecture needs for a configuration: names relative to /weights, shapes.
    /// It throws a LayoutError for a configuration value it refuses, anything else for an
    /// architecture it does not know.
    public typealias Layout = @Sendable (CheckpointConfig) throws -> [(name: String, shape: [Int])]

    /// A configuration value the layout refuses, with its place in the file.
    public struct LayoutError: Error {
        public var path: String
        public var problem: String
        public init(path: String, problem: String) { self.path = path; self.problem = problem }
    }

    /// Reads and validates the checkpoint at `path`. `layout` says which /weights datasets the
    /// configuration needs (it throws for an unknown architecture); each must exist with exactly
    /// that shape and hold only finite values.
    public static func read(_ path: String, layout: Layout) throws(FormatError) -> Checkpoint {
        guard fileExists(path) else { throw .fileNotFound(file: path) }
        let file = try HDF5File.open(path)
        let config = try readConfig(file)
        let expected: [(name: String, shape: [Int])]
        do {
            expected = try layout(config)
        } catch let error as LayoutError {
            throw file.fail(error.path, error.problem)
        } catch {
            throw file.fail("/", "attribute architecture: \(error)")
        }
        let labels = try file.readStrings("config/labels")
        guard labels.count == config.numClasses else {
            throw file.fail("config/labels", "has \(labels.count) labels, expected num_classes = \(config.numClasses)")
        }
        let weights = try readTensors(file, group: "weights", expected, required: true)
        var optimizer: OptimizerState?
        if file.exists("optimizer") {
            let present = expected.filter { file.exists("optimizer/" + $0.name) }
            optimizer = OptimizerState(
                buffers: try readTensors(file, group: "optimizer", present, required: false),
                step: try intAttribute(file, "optimizer", "step"),
                epoch: try intAttribute(file, "optimizer", "epoch"),
                learningRate: try floatAttribute(file, "optimizer", "lr"))
        }
        var training: TrainingRecord?
        if file.exists("training") {
            var record = TrainingRecord()
            for name in file.attributeNames("training") {
                record.attributes[name] = try file.readAttribute("training", name)
            }
            for name in file.members("training") {
                let (shape, values) = try file.readFloats("training/" + name)
                guard shape.count == 1 else {
                    throw file.fail("training/" + name, "history must be one value per epoch, has shape \(shape)")
                }
                record.history[name] = values
            }
            training = record
        }
        return Checkpoint(config: config, labels: labels, weights: weights, optimizer: optimizer, training: training)
    }

    /// Writes `checkpoint` to `path` atomically: a temporary file in the same directory, flushed
    /// and fsynced, then renamed over `path`. A crash at any moment leaves the old file or the
    /// new one, never a torn one.
    public static func write(_ checkpoint: Checkpoint, to path: String) throws(FormatError) {
        try write(checkpoint, to: path, formatVersion: Checkpoint.formatVersion)
    }

    /// `write` with another format_version in the header: for tests of version checking only.
    static func write(_ checkpoint: Checkpoint, to path: String, formatVersion: Int) throws(FormatError) {
        try AtomicFile.write(to: path) { (temporary: String) throws(FormatError) in
            let file = try HDF5File.create(temporary)
            try writeContents(checkpoint, file, formatVersion: formatVersion)
            guard file.close() else { throw .writeFailed(file: path, reason: "libhdf5 could not flush the file (disk full?)") }
        }
    }

    // MARK: reading

    private static func readConfig(_ file: HDF5File) throws(FormatError) -> CheckpointConfig {
        let format = try stringAttribute(file, "", "format")
        guard format == Checkpoint.format else {
            throw file.fail("/", "attribute format is '\(format)', expected '\(Checkpoint.format)'")
        }
        let version = try intAttribute(file, "", "format_version")
        guard version == Checkpoint.formatVersion else {
            throw file.fail("/", "format_version \(version) is not supported; this revserve reads version \(Checkpoint.formatVersion)")
        }
        let architecture = try stringAttribute(file, "", "architecture")
        guard file.exists("config") else { throw file.fail("config", "missing (the configuration group)") }
        let inputShape = try intsAttribute(file, "config", "input_shape")
        guard inputShape.count == 3, inputShape.allSatisfy({ $0 > 0 }) else {
            throw file.fail("config", "attribute input_shape must be three positive sizes [C_in, H, W], got \(inputShape)")
        }
        let channels = try intsAttribute(file, "config", "unit_channels")
        let blocks = try intsAttribute(file, "config", "unit_blocks")
        guard !channels.isEmpty, channels.count == blocks.count else {
            throw file.fail("config", "attributes unit_channels (\(channels.count)) and unit_blocks (\(blocks.count)) must list the same, non-zero number of units")
        }
        let numClasses = try intAttribute(file, "config", "num_classes")
        guard numClasses >= 1 else { throw file.fail("config", "attribute num_classes must be at least 1, got \(numClasses)") }
        let bnEps = try file.readAttribute("config", "bn_eps").map { v throws(FormatError) -> Float in
            guard case .float(let x) = v else { throw file.fail("config", "attribute bn_eps must be a float") }
            return x
        } ?? 1e-5
        let mean = try floatsAttribute(file, "config", "mean"), std = try floatsAttribute(file, "config", "std")
        for (name, values) in [("mean", mean), ("std", std)] where values.count != inputShape[0] {
            throw file.fail("config", "attribute \(name) has \(values.count) values, expected one per input channel (\(inputShape[0]))")
        }
        guard std.allSatisfy({ $0 > 0 && $0.isFinite }), mean.allSatisfy(\.isFinite) else {
            throw file.fail("config", "attributes mean and std must be finite, std positive: mean \(mean), std \(std)")
        }
        return CheckpointConfig(architecture: architecture, inputShape: inputShape, numClasses: numClasses,
                                unitChannels: channels, unitBlocks: blocks,
                                h: try floatAttribute(file, "config", "h"), bnEps: bnEps, mean: mean, std: std)
    }

    private static func readTensors(_ file: HDF5File, group: String, _ expected: [(name: String, shape: [Int])],
                                    required: Bool) throws(FormatError) -> [NamedTensor] {
        var tensors: [NamedTensor] = []
        for (name, shape) in expected {
            let path = group + "/" + name
            guard file.exists(path) else {
                throw file.fail(path, "missing; expected a float32 dataset of shape \(shape)")
            }
            let (_, values) = try file.readFloats(path, expected: shape)
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw file.fail(path, "holds a non-finite value (\(values[bad])) at flat index \(bad)")
            }
            tensors.append(NamedTensor(name, try! Tensor(shape: shape, data: values)))
        }
        return tensors
    }

    private static func attribute(_ file: HDF5File, _ object: String, _ name: String) throws(FormatError) -> AttributeValue {
        guard let v = try file.readAttribute(object, name) else {
            throw file.fail(object.isEmpty ? "/" : object, "attribute \(name) is missing")
        }
        return v
    }

    private static func stringAttribute(_ file: HDF5File, _ object: String, _ name: String) throws(FormatError) -> String {
        guard case .string(let s) = try attribute(file, object, name) else {
            throw file.fail(object.isEmpty ? "/" : object, "attribute \(name) must be a string")
        }
        return s
    }

    private static func intAttribute(_ file: HDF5File, _ object: String, _ name: String) throws(FormatError) -> Int {
        switch try attribute(file, object, name) {
        case .int(let v): return v
        case .ints(let v) where v.count == 1: return v[0]
        default: throw file.fail(object.isEmpty ? "/" : object, "attribute \(name) must be an integer")
        }
    }

    private static func intsAttribute(_ file: HDF5File, _ object: String, _ name: String) throws(FormatError) -> [Int] {
        switch try attribute(file, object, name) {
        case .ints(let v): return v
        case .int(let v): return [v]
        default: throw file.fail(object, "attribute \(name) must be a list of integers")
        }
    }

    private static func floatAttribute(_ file: HDF5File, _ object: String, _ name: String) throws(FormatError) -> Float {
        switch try attribute(file, object, name) {
        case .float(let v): return v
        case .floats(let v) where v.count == 1: return v[0]
        case .int(let v): return Float(v)
        default: throw file.fail(object, "attribute \(name) must be a float")
        }
    }

    private static func floatsAttribute(_ file: HDF5File, _ object: String, _ name: String) throws(FormatError) -> [Float] {
        switch try attribute(file, object, name) {
        case .floats(let v): return v
        case .float(let v): return [v]
        case .ints(let v): return v.map(Float.init)
        default: throw file.fail(object, "attribute \(name) must be a list of floats")
        }
    }

    // MARK: writing

    private static func writeContents(_ c: Checkpoint, _ file: HDF5File, formatVersion: Int) throws(FormatError) {
        try file.writeAttribute("", "format", .string(Checkpoint.format))
        try file.writeAttribute("", "format_version", .int(formatVersion))
        try file.writeAttribute("", "architecture", .string(c.config.architecture))
        try file.createGroup("config")
        let config = c.config
        try file.writeAttribute("config", "input_shape", .ints(config.inputShape))
        try file.writeAttribute("config", "num_classes", .int(config.numClasses))
        try file.writeAttribute("config", "unit_channels", .ints(config.unitChannels))
        try file.writeAttribute("config", "unit_blocks", .ints(config.unitBlocks))
        try file.writeAttribute("config", "h", .float(config.h))
        try file.writeAttribute("config", "bn_eps", .float(config.bnEps))
        try file.writeAttribute("config", "mean", .floats(config.mean))
        try file.writeAttribute("config", "std", .floats(config.std))
        try file.writeStrings("config/labels", c.labels)
        for w in c.weights { try file.writeFloats("weights/" + w.name, shape: w.tensor.shape, w.tensor.data) }
        if let o = c.optimizer {
            try file.createGroup("optimizer")
            for b in o.buffers { try file.writeFloats("optimizer/" + b.name, shape: b.tensor.shape, b.tensor.data) }
            try file.writeAttribute("optimizer", "step", .int(o.step))
            try file.writeAttribute("optimizer", "epoch", .int(o.epoch))
            try file.writeAttribute("optimizer", "lr", .float(o.learningRate))
        }
        if let t = c.training {
            try file.createGroup("training")
            for (name, value) in t.attributes.sorted(by: { $0.key < $1.key }) {
                try file.writeAttribute("training", name, value)
            }
            for (name, series) in t.history.sorted(by: { $0.key < $1.key }) {
                try file.writeFloats("training/" + name, shape: [series.count], series)
            }
        }
    }
}
