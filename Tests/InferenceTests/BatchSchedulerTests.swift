// BatchSchedulerTests: the scheduler actor with a real network on a compute thread: concurrent
// callers are batched and each gets its own answer; full queues, deadlines and cancellation.

import Foundation
import Locking
import Testing
@testable import Inference
import RevNet
import Tensor

@Suite struct BatchSchedulerTests {
    @Test(.timeLimit(.minutes(slowdownMinutes)))
    func concurrentCallersAreBatchedAndGetTheirOwnAnswers() async throws {
        let net = try Network(config: NetworkConfig(architecture: "midpoint", inputShape: [1, 6, 6], numClasses: 3,
                                                    unitChannels: [4], unitBlocks: [2]), seed: 1)
        let sizes = Locked<[Int]>([])
        let statistics = ModelStatistics()
        let observed = Locked<[Int]>([])
        let scheduler = BatchScheduler(configuration: BatchingConfiguration(maxBatch: 16, maxQueueDelay: 20_000_000, maxQueue: 100),
                                       inputSize: 36, classes: 3, compute: ComputeThread(), statistics: statistics,
                                       observer: BatchObserver(batchExecuted: { n, _ in observed.withLock { $0.append(n) } })) { inputs, n in
            sizes.withLock { $0.append(n) }
            return try net.logits(Tensor(shape: [n, 1, 6, 6], data: inputs)).data
        }
        var rng = SeededGenerator(seed: 2)
        let images = (0..<40).map { _ in Tensor.randomNormal([1, 1, 6, 6], using: &rng) }
        let answers = try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
            for (i, image) in images.enumerated() {
                group.addTask { (i, try await scheduler.infer(image.data, images: 1).logits) }
            }
            var all = [[Float]](repeating: [], count: images.count)
            for try await (i, logits) in group { all[i] = logits }
            return all
        }
        for (i, image) in images.enumerated() {
            let expected = try net.logits(image).data
            for k in 0..<3 { #expect(abs(answers[i][k] - expected[k]) <= 1e-5 * max(1, abs(expected[k])), "image \(i)") }
        }
        let batches = sizes.withLock { $0 }
        #expect(batches.reduce(0, +) == 40 && batches.max()! <= 16)
        #expect(Double(40) / Double(batches.count) >= 4, "batches \(batches)")
        #expect(await scheduler.imagesExecuted == 40)
        // Statistics and the metrics observer saw the same batches the executor ran.
        let snapshot = statistics.snapshot
        #expect(snapshot.executionCount == batches.count)
        #expect(snapshot.batches.mapValues(\.count) == Dictionary(batches.map { ($0, 1) }, uniquingKeysWith: +))
        #expect(observed.withLock { $0 }.sorted() == batches.sorted())
    }

    /// An executor that blocks until released, to hold the model busy; it says when it started.
    final class Gate: @unchecked Sendable {
        let semaphore = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        func release(_ n: Int = 100) { for _ in 0..<n { semaphore.signal() } }
    }

    /// Waits until the scheduler's queue holds `images` images (no sleeping on guesses: the
    /// suite runs many tests at once on two cores).
    func waitForQueue(_ scheduler: BatchScheduler, _ images: Int) async throws {
        for _ in 0..<6000 where await scheduler.queuedImages != images { try await Task.sleep(nanoseconds: 5_000_000) }
        #expect(await scheduler.queuedImages == images)
    }

    @Test(.timeLimit(.minutes(slowdownMinutes)))
    func fullQueuesDeadlinesAndCancellation() async throws {
        let gate = Gate()
        let scheduler = BatchScheduler(configuration: BatchingConfiguration(maxBatch: 1, maxQueueDelay: 0, maxQueue: 2),
                                       inputSize: 1, classes: 1, compute: ComputeThread()) { inputs, n in
            gate.started.signal()
            gate.semaphore.wait()
            return inputs
        }
        defer { gate.release() }   // never leave the compute thread blocked, whatever fails
        let running = Task { try await scheduler.infer([1], images: 1) }          // occupies the model
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { gate.started.wait(); c.resume() }
        }
        let waiting = Task { try await scheduler.infer([2], images: 1) }
        try await waitForQueue(scheduler, 1)
        let cancelled = Task { try await scheduler.infer([3], images: 1) }
        try await waitForQueue(scheduler, 2)
        // Two images wait (the bound): a third request is refused at once.
        await #expect(throws: InferenceError.queueFull(retryAfter: 1)) { try await scheduler.infer([4], images: 1) }
        cancelled.cancel()
        await #expect(throws: InferenceError.cancelled) { try await cancelled.value }
        try await waitForQueue(scheduler, 1)
        // A deadline that passes while the model is still busy is answered without waiting for it.
        await #expect(throws: InferenceError.deadlineExceeded) { try await scheduler.infer([6], images: 1, timeout: 300_000_000) }
        let late = Task { try await scheduler.infer([5], images: 1) }
        try await waitForQueue(scheduler, 2)
        gate.release()
        #expect(try await running.value.logits == [1])
        #expect(try await waiting.value.logits == [2])
        #expect(try await late.value.logits == [5])
        #expect(await scheduler.imagesExecuted == 3)
    }
}
