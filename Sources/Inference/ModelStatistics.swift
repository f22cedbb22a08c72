// ModelStatistics: per-model counters and durations in the shape of Triton's statistics
// extension: requests that succeeded or failed, time queued, time preparing inputs, computing
// and preparing outputs, and per-batch-size execution counts. Shared by the batcher (batches)
// and the server (requests), so it is a lock around a value.

import Locking

public struct StatisticsSnapshot: Sendable, Equatable {
    /// A number of events and their total duration in nanoseconds.
    public struct Tally: Sendable, Equatable {
        public var count = 0
        public var ns: UInt64 = 0
        public init() {}
        mutating func add(_ nanoseconds: UInt64, count n: Int = 1) {
            count += n
            ns &+= nanoseconds
        }
    }
    /// Milliseconds since the Unix epoch of the last successful request (0 if none).
    public var lastInference: UInt64 = 0
    /// Images inferred successfully.
    public var inferenceCount = 0
    /// Batches executed.
    public var executionCount = 0
    /// Per request: end-to-end success and failure, time queued, decoding/preprocessing the
    /// inputs, computing (the whole batch the request rode in), and encoding the outputs.
    public var success = Tally(), fail = Tally(), queue = Tally()
    public var computeInput = Tally(), computeInfer = Tally(), computeOutput = Tally()
    /// Per executed batch size (in images): how many batches and their compute time.
    public var batches: [Int: Tally] = [:]
}

public final class ModelStatistics: Sendable {
    private let state = Locked(StatisticsSnapshot())

    public init() {}

    public var snapshot: StatisticsSnapshot { state.withLock { $0 } }

    /// A batch of `images` images computed in `nanoseconds`.
    public func recordBatch(images: Int, nanoseconds: UInt64) {
        state.withLock { s in
            s.executionCount += 1
            s.batches[images, default: .init()].add(nanoseconds)
        }
    }

    /// A request of `images` images answered successfully, with its phases' durations.
    public func recordSuccess(images: Int, total: UInt64, queue: UInt64, input: UInt64, infer: UInt64, output: UInt64,
                              epochMilliseconds: UInt64) {
        state.withLock { s in
            s.inferenceCount += images
            s.success.add(total)
            s.queue.add(queue)
            s.computeInput.add(input)
            s.computeInfer.add(infer)
            s.computeOutput.add(output)
            s.lastInference = max(s.lastInference, epochMilliseconds)
        }
    }

    /// A request that reached the model and failed (bad image, deadline, queue full...).
    public func recordFailure(total: UInt64) {
        state.withLock { $0.fail.add(total) }
    }
}
