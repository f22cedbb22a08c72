// FuzzTargets: the decoders that take bytes from outside, as functions of one byte buffer, for
// libFuzzer (Fuzz/Runner) and for the regression tests that replay the committed corpus: the
// PNG decoder with preprocessing, the infer request decoder (JSON and binary extension), the
// multipart parser, checkpoint loading, and the message in which a reading child hands a
// checkpoint to its parent. A target may throw; it must never crash.

import Foundation
import Formats
#if canImport(Glibc)
import Glibc
#endif
import Inference
import Server
import Training

public enum FuzzTarget: String, CaseIterable, Sendable {
    case png, infer, multipart, checkpoint, transfer

    private static let descriptor = ModelDescriptor(
        name: "fuzz", version: 1, architecture: "hamiltonian", inputShape: [1, 8, 8], labels: ["a", "b", "c"],
        preprocessor: ImagePreprocessor(inputShape: [1, 8, 8], mean: [0.5], std: [0.25]))

    /// Runs the target on `data`; errors are the expected outcome of bad input.
    public func run(_ data: [UInt8]) {
        switch self {
        case .png:
            guard let image = try? PNG.decode(data, name: "fuzz", maxPixels: 1 << 20) else { return }
            for shape in [[1, 8, 8], [3, 5, 7]] {
                _ = try? ImagePreprocessor(inputShape: shape, mean: [Float](repeating: 0.5, count: shape[0]),
                                           std: [Float](repeating: 0.25, count: shape[0])).input(from: image, name: "fuzz")
            }
        case .infer:
            // The first byte picks the framing: JSON only, raw image, or JSON + binary.
            guard let mode = data.first else { return }
            let body = Array(data.dropFirst())
            let headerLength: Int? = mode % 3 == 0 ? nil : mode % 3 == 1 ? 0 : min(body.count, Int(mode) * 4)
            guard let images = try? DecoderEntryPoints.inferRequest(body, headerLength: headerLength, model: Self.descriptor)
            else { return }
            for bytes in images { _ = try? PNG.decode(bytes, name: "fuzz", maxPixels: 1 << 16) }
        case .multipart:
            _ = try? DecoderEntryPoints.classifyImages(data, contentType: "multipart/form-data; boundary=B")
        case .checkpoint:
            let path = NSTemporaryDirectory() + "revserve-fuzz-\(getpid()).h5"
            guard FileManager.default.createFile(atPath: path, contents: Data(data)) else { return }
            defer { unlink(path) }
            _ = try? ModelCheckpoint.load(path)
        case .transfer:
            _ = try? CheckpointTransfer.decode(data, file: "fuzz")
        }
    }
}
