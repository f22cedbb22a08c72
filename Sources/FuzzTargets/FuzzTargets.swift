// FuzzTargets: the decoders that take bytes from outside, as functions of one byte buffer, for
// libFuzzer (Fuzz/Runner) and for the regression tests that replay the committed corpus: the
// PNG decoder with preprocessing, the infer request decoder (JSON and binary extension), the
// multipart parser, config.json, checkpoint loading, and the message in which a reading child
// hands a checkpoint to its parent. The png, infer and config targets read half their inputs as
// choices of a generator (StructuredInput) that writes well-formed documents with extreme
// numbers, so that the arithmetic behind the parsers is reached. A target may throw; it must
// never crash.

import Bounds
import Foundation
import Formats
#if canImport(Glibc)
import Glibc
#endif
import Inference
import Server
import NetworkCheckpoint

public enum FuzzTarget: String, CaseIterable, Sendable {
    case png, infer, multipart, checkpoint, transfer, config

    private static let descriptor = ModelDescriptor(
        name: "fuzz", version: 1, architecture: "hamiltonian", inputShape: [1, 8, 8], labels: ["a", "b", "c"],
        preprocessor: ImagePreprocessor(inputShape: [1, 8, 8], mean: [0.5], std: [0.25]))

    private static func decodeAndPreprocess(_ bytes: [UInt8], maxPixels: Int) {
        guard let image = try? PNG.decode(bytes, name: "fuzz", maxPixels: maxPixels) else { return }
        for shape in [[1, 8, 8], [3, 5, 7]] {
            _ = try? ImagePreprocessor(inputShape: shape, mean: [Float](repeating: 0.5, count: shape[0]),
                                       std: [Float](repeating: 0.25, count: shape[0])).input(from: image, name: "fuzz")
        }
    }

    /// Runs the target on `data`; errors are the expected outcome of bad input.
    public func run(_ data: [UInt8]) {
        switch self {
        case .png:
            // Bytes that start like a PNG are decoded as they are; others choose a generated PNG
            // with extreme header values.
            var choices = Choices(data[...])
            let bytes = data.starts(with: [0x89, 0x50]) ? data : Structured.png(&choices)
            // The classify route's checks first (the request's pixel budget, from the header alone).
            guard (try? DecoderEntryPoints.classifyImages(bytes, contentType: "image/png")) != nil else { return }
            Self.decodeAndPreprocess(bytes, maxPixels: 1 << 20)
        case .infer:
            // The first byte picks the framing: JSON only, raw image, JSON + binary, or (3, 4, 5)
            // a generated request with extreme numbers in every numeric field.
            guard let mode = data.first else { return }
            var body = Array(data.dropFirst())
            var headerLength: Int? = mode % 6 == 0 ? nil : mode % 6 == 1 ? 0 : min(body.count, Int(mode) * 4)
            if mode % 6 >= 3 {
                var choices = Choices(data.dropFirst())
                (body, headerLength) = Structured.inferRequest(&choices)
            }
            var limits = RequestLimits()
            limits.maxImagesPerRequest = 16
            guard let images = try? DecoderEntryPoints.inferRequest(body, headerLength: headerLength, model: Self.descriptor, limits: limits)
            else { return }
            for bytes in images { Self.decodeAndPreprocess(bytes, maxPixels: 1 << 16) }
        case .multipart:
            // The first byte is the boundary's length (its bytes follow), the rest the body: the
            // boundary is the client's to choose, self-overlapping ones included.
            let length = Int(data.first ?? 0) % 80
            let boundary = String(decoding: data.dropFirst().prefix(length), as: UTF8.self)
            _ = try? DecoderEntryPoints.classifyImages(Array(data.dropFirst(1 + length)), contentType: "multipart/form-data; boundary=\(boundary)")
        case .config:
            // Bytes that start like a JSON object are parsed as they are; others choose a generated
            // config.json with extreme values.
            var choices = Choices(data[...])
            let bytes = data.first == UInt8(ascii: "{") ? data : Structured.config(&choices)
            guard let config = try? ModelConfig.parse(Data(bytes), path: "fuzz") else { return }
            // What the loader derives from an accepted config must not trap either.
            let batching = LoadSettings(batching: BatchingConfiguration(), threads: .one).batching(for: config)
            _ = config.versionPolicy.select([1, 2, 3, Int.max])
            _ = Checked.product(batching.maxBatch, Self.descriptor.inputSize)
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
