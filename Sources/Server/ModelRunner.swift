// ModelRunner: runs one request's images or tensor through a model: PNGs are decoded and
// preprocessed on NIO's blocking thread pool (never an event loop), the batcher computes,
// probabilities are the engine's softmax of the logits (Inference.Probabilities). Records the
// request in the model's statistics.

import Formats
import Inference
import NIOPosix
import Locking

struct ModelRunner: Sendable {
    var maxImagePixels: Int
    var metrics: ServerMetrics

    /// Phase durations of one request, nanoseconds.
    struct Timings {
        var input: UInt64 = 0, queue: UInt64 = 0, infer: UInt64 = 0
    }

    /// Runs `input` through `serving`; `names` label images in error messages.
    func run(_ input: InferRequest.Input, names: [String]? = nil, timeout: UInt64?, on serving: ServingModel)
        async throws -> (ModelResult, Timings) {
        let model = serving.descriptor
        var timings = Timings()
        let start = BatchScheduler.now()
        let values: [Float], n: Int
        switch input {
        case .tensor(let v, let count):
            (values, n) = (v, count)
        case .images(let images):
            try RequestLimits.checkPixelBudget(images, maxImagePixels: maxImagePixels)
            let maxPixels = maxImagePixels, preprocessor = model.preprocessor
            // Decoding is the costly part of a request: a client that goes away stops it
            // between images instead of holding one of the pool's threads for its whole batch.
            let cancelled = Locked(false)
            values = try await withTaskCancellationHandler {
                try await NIOThreadPool.singleton.runIfActive {
                    var out = [Float]()
                    out.reserveCapacity(images.count * model.inputSize)   // ≤ 2^26: RequestLimits.checkImages
                    for (i, bytes) in images.enumerated() {
                        guard !cancelled.withLock({ $0 }) else { throw CancellationError() }
                        let name = names?[i] ?? "image \(i)"
                        let image = try PNG.decode(bytes, name: name, maxPixels: maxPixels)
                        out += try preprocessor.input(from: image, name: name)
                    }
                    return out
                }
            } onCancel: {
                cancelled.withLock { $0 = true }
            }
            n = images.count
        }
        timings.input = BatchScheduler.now() - start
        let answer = try await serving.scheduler.infer(values, images: n, timeout: timeout)
        timings.queue = answer.queueNanos
        timings.infer = answer.computeNanos
        metrics.queued(model: model.name, nanoseconds: answer.queueNanos)
        return (ModelResult(count: n, logits: answer.logits, probabilities: Probabilities.softmax(answer.logits, classes: model.classes)), timings)
    }
}

