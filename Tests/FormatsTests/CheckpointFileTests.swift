// CheckpointFileTests: checkpoints round-trip bit for bit, and every way a file can break the
// format is an error naming the file, the path inside it and the expectation.

import CHDF5
import CShims
import Foundation
import Testing
@testable import Formats
@testable import Tensor

/// A fresh temporary directory, removed by the caller's defer.
func temporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("revserve-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A small checkpoint with every optional part; the layout below says which weights it needs.
func sampleCheckpoint(seed: UInt64 = 1) -> Checkpoint {
    var rng = SeededGenerator(seed: seed)
    let weights = sampleLayout.map { NamedTensor($0.name, Tensor.randomNormal($0.shape, using: &rng)) }
    let config = CheckpointConfig(architecture: "toy", inputShape: [1, 4, 4], numClasses: 3, unitChannels: [2],
                                  unitBlocks: [1], h: 0.25, bnEps: 1e-3, mean: [0.5], std: [0.25])
    return Checkpoint(config: config, labels: ["zero", "one", "twö"], weights: weights,
                      optimizer: OptimizerState(buffers: Array(weights.prefix(2)), step: 120, epoch: 3, learningRate: 0.05),
                      training: TrainingRecord(attributes: ["dataset": .string("synthetic"), "seed": .int(7), "batch_size": .int(10)],
                                               history: ["loss": [2.5, 1.25, 0.75], "test_accuracy": [0.3, 0.5, 0.625]]))
}

let sampleLayout: [(name: String, shape: [Int])] = [
    ("stem/conv/weight", [2, 1, 3, 3]), ("units/0/blocks/0/K", [2, 2, 3, 3]), ("units/0/blocks/0/b", [2]),
    ("head/fc/weight", [3, 2]), ("head/fc/bias", [3]),
]
let sampleLayoutClosure: CheckpointFile.Layout = { config in
    guard config.architecture == "toy" else { throw ToyError.unknown(config.architecture) }
    return sampleLayout
}
enum ToyError: Error, CustomStringConvertible {
    case unknown(String)
    var description: String { if case .unknown(let a) = self { return "unknown architecture '\(a)'" }; return "" }
}

/// Opens a checkpoint read-write with libhdf5 to break it on purpose.
func mutate(_ path: String, _ body: (hid_t) -> Void) {
    HDF5File.lock.withLock { _ in
        let id = H5Fopen(path, rs_h5f_acc_rdwr(), rs_h5p_default())
        precondition(id >= 0)
        body(id)
        H5Fclose(id)
    }
}

func readError(_ path: String) -> String {
    do {
        _ = try CheckpointFile.read(path, layout: sampleLayoutClosure)
        return "no error"
    } catch {
        return error.description
    }
}

@Suite struct CheckpointFileTests {
    @Test func roundTripIsBitIdentical() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/model.h5"
        let original = sampleCheckpoint()
        try CheckpointFile.write(original, to: path)
        let back = try CheckpointFile.read(path, layout: sampleLayoutClosure)
        #expect(back == original)
        for (a, b) in zip(back.weights, original.weights) {
            #expect(a.tensor.data.map(\.bitPattern) == b.tensor.data.map(\.bitPattern))
        }
        // Nothing but the checkpoint is left in the directory (no temporary files).
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["model.h5"])
    }

    @Test func rewritingReplacesTheFileAtomically() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/model.h5"
        try CheckpointFile.write(sampleCheckpoint(seed: 1), to: path)
        try CheckpointFile.write(sampleCheckpoint(seed: 2), to: path)
        #expect(try CheckpointFile.read(path, layout: sampleLayoutClosure) == sampleCheckpoint(seed: 2))
        // A write that fails leaves the previous file as it was and no temporary behind.
        #expect(throws: FormatError.self) {
            try AtomicFile.write(to: path) { (tmp: String) throws(FormatError) in
                try writeFile(tmp + ".unused", [1, 2, 3])
                throw .writeFailed(file: path, reason: "simulated failure")
            }
        }
        #expect(try CheckpointFile.read(path, layout: sampleLayoutClosure) == sampleCheckpoint(seed: 2))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }.count <= 1)
    }

    @Test func missingFileAndNonHDF5FileAreClear() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(readError(dir + "/nope.h5") == "\(dir)/nope.h5: no such file")
        try writeFile(dir + "/text.h5", Array("hello".utf8))
        #expect(readError(dir + "/text.h5") == "\(dir)/text.h5: cannot read: not an HDF5 file")
    }

    @Test func everyValidationFailureNamesFilePathAndExpectation() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func broken(_ name: String, _ edit: (hid_t) -> Void) throws -> String {
            let path = "\(dir)/\(name).h5"
            try CheckpointFile.write(sampleCheckpoint(), to: path)
            mutate(path, edit)
            return readError(path)
        }
        let missing = try broken("missing") { H5Ldelete($0, "weights/units/0/blocks/0/K", rs_h5p_default()) }
        #expect(missing == "\(dir)/missing.h5: /weights/units/0/blocks/0/K: missing; expected a float32 dataset of shape [2, 2, 3, 3]")

        let wrongShape = try broken("shape") { id in
            H5Ldelete(id, "weights/head/fc/bias", rs_h5p_default())
            var dims: [hsize_t] = [4]
            let space = H5Screate_simple(1, &dims, nil)
            let set = H5Dcreate2(id, "weights/head/fc/bias", rs_h5t_ieee_f32le(), space, rs_h5p_default(), rs_h5p_default(), rs_h5p_default())
            let v: [Float] = [1, 2, 3, 4]
            H5Dwrite(set, rs_h5t_native_float(), rs_h5s_all(), rs_h5s_all(), rs_h5p_default(), v)
            H5Dclose(set); H5Sclose(space)
        }
        #expect(wrongShape == "\(dir)/shape.h5: /weights/head/fc/bias: has shape [4], expected [3]")

        let nan = try broken("nan") { id in
            let set = H5Dopen2(id, "weights/units/0/blocks/0/b", rs_h5p_default())
            let v: [Float] = [1, .nan]
            H5Dwrite(set, rs_h5t_native_float(), rs_h5s_all(), rs_h5s_all(), rs_h5p_default(), v)
            H5Dclose(set)
        }
        #expect(nan == "\(dir)/nan.h5: /weights/units/0/blocks/0/b: holds a non-finite value (nan) at flat index 1")

        let version = try broken("version") { id in
            H5Adelete(id, "format_version")
            let space = H5Screate(H5S_SCALAR)
            let attr = H5Acreate2(id, "format_version", rs_h5t_std_i64le(), space, rs_h5p_default(), rs_h5p_default())
            var two: Int64 = 2
            H5Awrite(attr, rs_h5t_native_int64(), &two)
            H5Aclose(attr); H5Sclose(space)
        }
        #expect(version == "\(dir)/version.h5: /: format_version 2 is not supported; this revserve reads version 1")

        let arch = try broken("arch") { id in
            H5Adelete(id, "architecture")
            let type = H5Tcopy(rs_h5t_c_s1())
            H5Tset_size(type, 6)
            let space = H5Screate(H5S_SCALAR)
            let attr = H5Acreate2(id, "architecture", type, space, rs_h5p_default(), rs_h5p_default())
            H5Awrite(attr, type, "resnet")   // a fixed-length string: readers accept both kinds
            H5Aclose(attr); H5Sclose(space); H5Tclose(type)
        }
        #expect(arch == "\(dir)/arch.h5: /: attribute architecture: unknown architecture 'resnet'")

        let labels = try broken("labels") { H5Ldelete($0, "config/labels", rs_h5p_default()) }
        #expect(labels == "\(dir)/labels.h5: /config/labels: missing")

        let config = try broken("config") { H5Adelete_by_name($0, "config", "mean", rs_h5p_default()) }
        #expect(config == "\(dir)/config.h5: /config: attribute mean is missing")
    }
}
