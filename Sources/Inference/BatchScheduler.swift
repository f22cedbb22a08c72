// BatchScheduler: the actor that drives a BatchingPolicy for one model: requests wait in its
// queue, batches run on the ComputeThread, answers go back to each waiting caller in request
// order. Full queues, expired deadlines and cancelled callers end as typed errors.

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

/// One request's answer from the batcher.
public struct BatchAnswer: Sendable {
    /// images · classes logits, in the request's order.
    public var logits: [Float]
    /// Nanoseconds spent queued, and computing the batch it rode in.
    public var queueNanos: UInt64
    public var computeNanos: UInt64
    /// Images in that batch.
    public var batchImages: Int
}

/// Callbacks for metrics; called on the scheduler's actor, so they must be quick.
public struct BatchObserver: Sendable {
    public var batchExecuted: @Sendable (_ images: Int, _ nanoseconds: UInt64) -> Void
    public var queueDepth: @Sendable (_ images: Int) -> Void
    public init(batchExecuted: @escaping @Sendable (Int, UInt64) -> Void = { _, _ in },
                queueDepth: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.batchExecuted = batchExecuted
        self.queueDepth = queueDepth
    }
}

public actor BatchScheduler {
    /// Runs a batch of `n` inputs (n · inputSize floats) and returns n · classes logits.
    public typealias Execute = @Sendable (_ inputs: [Float], _ n: Int) throws -> [Float]

    private struct Waiting {
        var inputs: [Float]
        var images: Int
        var arrival: UInt64
        var continuation: CheckedContinuation<BatchAnswer, Error>
    }

    private var policy: BatchingPolicy<Int>
    private let execute: Execute
    private let compute: ComputeThread
    private let inputSize: Int, classes: Int
    private let statistics: ModelStatistics?
    private let observer: BatchObserver
    private var nextID = 0
    private var waiting: [Int: Waiting] = [:]
    private var timerDue: UInt64?
    /// Batches run and the images in them.
    public private(set) var batchesExecuted = 0
    public private(set) var imagesExecuted = 0

    public init(configuration: BatchingConfiguration, inputSize: Int, classes: Int, compute: ComputeThread,
                statistics: ModelStatistics? = nil, observer: BatchObserver = BatchObserver(),
                execute: @escaping Execute) {
        policy = BatchingPolicy(configuration)
        self.execute = execute
        self.compute = compute
        self.inputSize = inputSize
        self.classes = classes
        self.statistics = statistics
        self.observer = observer
    }

    /// Images waiting in the queue (not counting the batch running).
    public var queuedImages: Int { policy.queuedImages }

    /// Queues `images` images (images · inputSize floats) and returns their logits
    /// (images · classes), computed in a batch with whatever else is queued. `timeout` in
    /// nanoseconds bounds the time spent queued. Cancelling the calling task drops the request
    /// if it is still queued.
    public func infer(_ inputs: [Float], images: Int, timeout: UInt64? = nil) async throws -> BatchAnswer {
        precondition(inputs.count == images * inputSize, "inputs hold \(inputs.count) floats, not \(images) images")
        let id = nextID
        nextID += 1
        let now = Self.now()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<BatchAnswer, Error>) in
                guard !Task.isCancelled else { return continuation.resume(throwing: InferenceError.cancelled) }
                // Saturating: a huge timeout means "no deadline", not one that wrapped into the past.
                let deadline = timeout.map { t in now.addingReportingOverflow(t).overflow ? UInt64.max : now + t }
                switch policy.enqueue(id, images: images, now: now, deadline: deadline) {
                case .queueFull:
                    continuation.resume(throwing: InferenceError.queueFull(retryAfter: 1))
                case .accepted:
                    waiting[id] = Waiting(inputs: inputs, images: images, arrival: now, continuation: continuation)
                    observer.queueDepth(policy.queuedImages)
                    pump()
                }
            }
        } onCancel: {
            Task { await self.cancel(id) }
        }
    }

    /// The server is draining: run what is queued without waiting for batches to fill.
    public func flush() {
        policy.startFlushing()
        pump()
    }

    private func cancel(_ id: Int) {
        guard policy.cancel(id), let entry = waiting.removeValue(forKey: id) else { return }
        observer.queueDepth(policy.queuedImages)
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
            observer.queueDepth(policy.queuedImages)
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
                let result: Result<(logits: [Float], nanos: UInt64), Error>
                do {
                    result = .success(try await compute.run {
                        let start = Self.now()
                        let logits = try execute(inputs, n)
                        return (logits, Self.now() - start)
                    })
                } catch {
                    result = .failure(error)
                }
                self.finished(entries, dispatched: now, result)
            }
        }
    }

    private func finished(_ entries: [Waiting], dispatched: UInt64, _ result: Result<(logits: [Float], nanos: UInt64), Error>) {
        policy.batchFinished()
        switch result {
        case .success(let (logits, nanos)):
            let n = entries.reduce(0) { $0 + $1.images }
            batchesExecuted += 1
            imagesExecuted += n
            statistics?.recordBatch(images: n, nanoseconds: nanos)
            observer.batchExecuted(n, nanos)
            var offset = 0
            for e in entries {
                let slice = Array(logits[(offset * classes)..<((offset + e.images) * classes)])
                e.continuation.resume(returning: BatchAnswer(logits: slice, queueNanos: dispatched - e.arrival,
                                                             computeNanos: nanos, batchImages: n))
                offset += e.images
            }
        case .failure(let error):
            for e in entries { e.continuation.resume(throwing: InferenceError.execution("\(error)")) }
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
    public static func now() -> UInt64 {
        let origin = start   // initialised before reading the clock, so the difference is never negative
        let d = ContinuousClock.now - origin
        return UInt64(d.components.seconds) * 1_000_000_000 + UInt64(d.components.attoseconds / 1_000_000_000)
    }
    private static let start = ContinuousClock.now
}
