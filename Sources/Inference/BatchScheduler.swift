// BatchScheduler: the actor that drives a BatchingPolicy for one model: requests wait in its
// queue, batches run on the model's ComputeThread, answers go back to each waiting caller in
// request order. Full queues, expired deadlines and cancelled callers end as typed errors.

import Tensor

public enum InferenceError: Error, Equatable, CustomStringConvertible {
    /// The queue is full; try again after about this many seconds.
    case queueFull(retryAfter: Int)
    /// The request's deadline passed while it was queued.
    case deadlineExceeded
    /// The caller went away (task cancelled) while the request was queued.
    case cancelled
    /// Running the batch failed.
    case execution(String)

    public var description: String {
        switch self {
        case .queueFull(let s): return "the model's queue is full; retry after \(s) s (or raise --max-queue)"
        case .deadlineExceeded: return "the request's timeout passed while it waited in the queue"
        case .cancelled: return "the request was cancelled"
        case .execution(let s): return "inference failed: \(s)"
        }
    }
}

public actor BatchScheduler {
    /// Runs a batch of `n` inputs (n · inputSize floats) and returns n · classes logits.
    public typealias Execute = @Sendable (_ inputs: [Float], _ n: Int) throws -> [Float]

    private var policy: BatchingPolicy<Int>
    private let execute: Execute
    private let compute: ComputeThread
    private let inputSize: Int, classes: Int
    private var nextID = 0
    private var waiting: [Int: (inputs: [Float], images: Int, continuation: CheckedContinuation<[Float], Error>)] = [:]
    private var timerDue: UInt64?
    /// Batches run and the images in them, for statistics.
    public private(set) var batchesExecuted = 0
    public private(set) var imagesExecuted = 0

    public init(configuration: BatchingConfiguration, inputSize: Int, classes: Int,
                compute: ComputeThread, execute: @escaping Execute) {
        policy = BatchingPolicy(configuration)
        self.execute = execute
        self.compute = compute
        self.inputSize = inputSize
        self.classes = classes
    }

    /// Queues `images` images (images · inputSize floats) and returns their logits
    /// (images · classes), computed in a batch with whatever else is queued. `timeout` in
    /// nanoseconds bounds the time spent queued.
    public func infer(_ inputs: [Float], images: Int, timeout: UInt64? = nil) async throws -> [Float] {
        precondition(inputs.count == images * inputSize, "inputs hold \(inputs.count) floats, not \(images) images")
        let id = nextID
        nextID += 1
        let now = Self.now()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[Float], Error>) in
                switch policy.enqueue(id, images: images, now: now, deadline: timeout.map { now &+ $0 }) {
                case .queueFull:
                    let seconds = max(1, Int((policy.configuration.maxQueueDelay * 4) / 1_000_000_000))
                    continuation.resume(throwing: InferenceError.queueFull(retryAfter: seconds))
                case .accepted:
                    waiting[id] = (inputs, images, continuation)
                    pump()
                }
            }
        } onCancel: {
            Task { await self.cancel(id) }
        }
    }

    private func cancel(_ id: Int) {
        guard policy.cancel(id), let entry = waiting.removeValue(forKey: id) else { return }
        entry.continuation.resume(throwing: InferenceError.cancelled)
    }

    /// Applies the policy's decisions until it has nothing to do right now.
    private func pump() {
        let now = Self.now()
        for id in policy.expire(now: now) {
            waiting.removeValue(forKey: id)?.continuation.resume(throwing: InferenceError.deadlineExceeded)
        }
        defer {
            // Deadlines are enforced while the model is busy too, not only at the next decision.
            if let deadline = policy.earliestDeadline { scheduleTimer(deadline) }
        }
        defer {
            // Deadlines are enforced while the model is busy too, not only at the next decision.
            if let deadline = policy.earliestDeadline { scheduleTimer(deadline) }
        }
        switch policy.decide(now: now) {
        case .idle:
            break
        case .waitUntil(let due):
            scheduleTimer(due)
        case .dispatch(let ids):
            let entries = ids.compactMap { id in waiting.removeValue(forKey: id) }
            let n = entries.reduce(0) { $0 + $1.images }
            var batch = [Float]()
            batch.reserveCapacity(n * inputSize)
            for e in entries { batch.append(contentsOf: e.inputs) }
            let execute = self.execute, compute = self.compute, inputs = batch
            Task {   // isolated to this actor; only the batch itself runs on the compute thread
                let result: Result<[Float], Error>
                do {
                    result = .success(try await compute.run { try execute(inputs, n) })
                } catch {
                    result = .failure(error)
                }
                self.finished(entries.map { ($0.images, $0.continuation) }, result)
            }
        }
    }

    private func finished(_ entries: [(Int, CheckedContinuation<[Float], Error>)], _ result: Result<[Float], Error>) {
        policy.batchFinished()
        switch result {
        case .success(let logits):
            batchesExecuted += 1
            var offset = 0
            for (images, continuation) in entries {
                continuation.resume(returning: Array(logits[(offset * classes)..<((offset + images) * classes)]))
                offset += images
            }
            imagesExecuted += offset
        case .failure(let error):
            for (_, continuation) in entries { continuation.resume(throwing: InferenceError.execution("\(error)")) }
        }
        pump()
    }

    /// One timer at a time, for the earliest moment the policy asked to be woken.
    private func scheduleTimer(_ due: UInt64) {
        if let current = timerDue, current <= due { return }
        timerDue = due
        Task {
            let now = Self.now()
            if due > now { try? await Task.sleep(nanoseconds: due - now) }
            self.timerFired(due)
        }
    }

    private func timerFired(_ due: UInt64) {
        if timerDue == due { timerDue = nil }
        pump()
    }

    /// Monotonic nanoseconds.
    static func now() -> UInt64 {
        let origin = start   // initialised before reading the clock, so the difference is never negative
        let d = ContinuousClock.now - origin
        return UInt64(d.components.seconds) * 1_000_000_000 + UInt64(d.components.attoseconds / 1_000_000_000)
    }
    private static let start = ContinuousClock.now
}
