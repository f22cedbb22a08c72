// CheckpointTransfer: a checkpoint read by a child process, handed to its parent as one byte
// string (a JSON header, then the tensors as raw float32), or the child's FormatError. With it,
// libhdf5 never parses a checkpoint inside the daemon or the in-process tools (CheckpointReader).

import Foundation
import Tensor

public enum CheckpointTransfer {
    static let magic = Array("revserve-checkpoint-transfer-1\n".utf8)

    /// What a child says: the checkpoint it read, or why it refused the file.
    public enum Message: Equatable, Sendable {
        case checkpoint(Checkpoint)
        case refused(FormatError)
    }

    public static func encode(_ message: Message) -> [UInt8] {
        var header = Header()
        var tensors: [NamedTensor] = []
        switch message {
        case .refused(let error):
            header.error = error
        case .checkpoint(let c):
            header.checkpoint = .init(c)
            tensors = c.weights + (c.optimizer?.buffers ?? [])
        }
        let json = try! encoder.encode(header)   // plain values only: cannot fail
        var bytes = magic
        bytes.reserveCapacity(magic.count + 8 + json.count + 4 * tensors.reduce(0) { $0 + $1.tensor.data.count })
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes += $0 }
        bytes += json
        for t in tensors { t.tensor.data.withUnsafeBytes { bytes += $0 } }
        return bytes
    }

    /// Decodes a child's message about `file`. Everything is checked: the bytes come from a
    /// process whose job was to parse a possibly damaged file.
    public static func decode(_ bytes: [UInt8], file: String) throws(FormatError) -> Message {
        func bad(_ why: String) -> FormatError { .unreadable(file: file, reason: "the reading process's answer is malformed: \(why)") }
        guard bytes.count >= magic.count + 8, bytes.starts(with: magic) else { throw bad("no transfer header") }
        var length: UInt64 = 0
        withUnsafeMutableBytes(of: &length) { $0.copyBytes(from: bytes[magic.count..<(magic.count + 8)]) }
        let start = magic.count + 8
        guard let n = Int(exactly: UInt64(littleEndian: length)), n <= bytes.count - start else {
            throw bad("header length \(length) exceeds the \(bytes.count) bytes received")
        }
        let header: Header
        do { header = try decoder.decode(Header.self, from: Data(bytes[start..<(start + n)])) } catch {
            throw bad("header: \(error)")
        }
        if let error = header.error { return .refused(error) }
        guard let c = header.checkpoint else { throw bad("neither a checkpoint nor an error") }
        var offset = start + n
        func tensors(_ list: [TensorHeader]) throws(FormatError) -> [NamedTensor] {
            var result: [NamedTensor] = []
            for t in list {
                var count = 1
                for d in t.shape {
                    guard d >= 0 else { throw bad("\(t.name) has shape \(t.shape)") }
                    let (product, overflow) = count.multipliedReportingOverflow(by: d)
                    guard !overflow, product <= (bytes.count - offset) / 4 else { throw bad("\(t.name): shape \(t.shape) exceeds the data received") }
                    count = product
                }
                let values = bytes[offset..<(offset + 4 * count)].withUnsafeBytes { raw in
                    (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
                }
                offset += 4 * count
                guard let tensor = try? Tensor(shape: t.shape, data: values) else { throw bad("\(t.name) has shape \(t.shape)") }
                result.append(NamedTensor(t.name, tensor))
            }
            return result
        }
        let weights = try tensors(c.weights)
        for w in weights where !w.tensor.data.allSatisfy(\.isFinite) {
            throw .checkpoint(file: file, path: "/weights/" + w.name, problem: "holds a non-finite value")
        }
        let buffers = try tensors(c.optimizer?.buffers ?? [])
        guard offset == bytes.count else { throw bad("\(bytes.count - offset) bytes after the last tensor") }
        let optimizer = c.optimizer.map { OptimizerState(buffers: buffers, step: $0.step, epoch: $0.epoch, learningRate: $0.learningRate) }
        return .checkpoint(Checkpoint(config: c.config, labels: c.labels, weights: weights, optimizer: optimizer, training: c.training))
    }

    private static var encoder: JSONEncoder {
        let e = JSONEncoder()
        // History and training attributes may hold a diverged run's NaN or infinity.
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    private static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    private struct TensorHeader: Codable {
        var name: String
        var shape: [Int]
    }

    /// A checkpoint without its tensor values (they follow the header in order).
    private struct CheckpointHeader: Codable {
        struct Optimizer: Codable {
            var buffers: [TensorHeader]
            var step: Int
            var epoch: Int
            var learningRate: Float
        }
        var config: CheckpointConfig
        var labels: [String]
        var weights: [TensorHeader]
        var optimizer: Optimizer?
        var training: TrainingRecord?

        init(_ c: Checkpoint) {
            config = c.config
            labels = c.labels
            weights = c.weights.map { TensorHeader(name: $0.name, shape: $0.tensor.shape) }
            optimizer = c.optimizer.map {
                Optimizer(buffers: $0.buffers.map { TensorHeader(name: $0.name, shape: $0.tensor.shape) },
                          step: $0.step, epoch: $0.epoch, learningRate: $0.learningRate)
            }
            training = c.training
        }
    }

    private struct Header: Codable {
        var checkpoint: CheckpointHeader?
        var error: FormatError?
    }
}
