// BatchingPolicyTests: the batcher's decisions with a fake clock: a lone request runs at once,
// batches form while the model computes, or fill or time out under a positive delay,
// whole requests only, the queue bound, deadlines, cancellation, one batch in flight.

import Testing
@testable import Inference

let ms: UInt64 = 1_000_000

@Suite struct BatchingPolicyTests {
    @Test func byDefaultALoneRequestRunsAtOnceAndBatchesFormWhileTheModelComputes() {
        var p = BatchingPolicy<Int>(BatchingConfiguration(maxBatch: 8))
        #expect(p.configuration.maxQueueDelay == 0)
        #expect(p.enqueue(1, images: 1, now: 10 * ms) == .accepted)
        #expect(p.decide(now: 10 * ms) == .dispatch([1]))          // idle model: no wait for companions
        for id in 2...5 { _ = p.enqueue(id, images: 2, now: 11 * ms) }
        #expect(p.decide(now: 11 * ms) == .idle)                   // busy: arrivals queue
        p.batchFinished()
        #expect(p.decide(now: 15 * ms) == .dispatch([2, 3, 4, 5])) // they go together, at once
        for id in 6...10 { _ = p.enqueue(id, images: 2, now: 16 * ms) }
        p.batchFinished()
        #expect(p.decide(now: 17 * ms) == .dispatch([6, 7, 8, 9])) // at most maxBatch images
        p.batchFinished()
        #expect(p.decide(now: 18 * ms) == .dispatch([10]))
    }

    @Test func waitsForTheDelayFromTheOldestRequestThenDispatches() {
        var p = BatchingPolicy<Int>(BatchingConfiguration(maxBatch: 8, maxQueueDelay: 2 * ms, maxQueue: 100))
        #expect(p.decide(now: 0) == .idle)
        #expect(p.enqueue(1, images: 1, now: 10 * ms) == .accepted)
        #expect(p.enqueue(2, images: 2, now: 11 * ms) == .accepted)
        #expect(p.decide(now: 11 * ms) == .waitUntil(12 * ms))     // counted from the oldest, not the newest
        #expect(p.decide(now: 12 * ms) == .dispatch([1, 2]))
        #expect(p.busy && p.queuedImages == 0)
    }

    @Test func aFullBatchGoesAtOnceAndTakesWholeRequestsOnly() {
        var p = BatchingPolicy<Int>(BatchingConfiguration(maxBatch: 4, maxQueueDelay: 100 * ms, maxQueue: 100))
        for (id, images) in [(1, 1), (2, 2), (3, 2), (4, 1)] { _ = p.enqueue(id, images: images, now: 0) }
        #expect(p.decide(now: 0) == .dispatch([1, 2]))             // 1 + 2 = 3 images; adding 2 more would be 5
        #expect(p.decide(now: 0) == .idle)                          // one batch in flight per model
        p.batchFinished()
        #expect(p.decide(now: 1) == .waitUntil(100 * ms))           // 3 images left, not a full batch
        #expect(p.decide(now: 100 * ms) == .dispatch([3, 4]))
    }

    @Test func flushingDispatchesWithoutWaitingButOneBatchAtATime() {
        var p = BatchingPolicy<Int>(BatchingConfiguration(maxBatch: 4, maxQueueDelay: 100 * ms, maxQueue: 100))
        for id in 1...6 { _ = p.enqueue(id, images: 1, now: 0) }
        #expect(p.decide(now: 0) == .dispatch([1, 2, 3, 4]))
        p.batchFinished()
        #expect(p.decide(now: 1) == .waitUntil(100 * ms))
        p.startFlushing()                                           // draining: nothing new will fill it
        #expect(p.decide(now: 1) == .dispatch([5, 6]))
        #expect(p.decide(now: 1) == .idle)
        p.batchFinished()
        #expect(p.decide(now: 2) == .idle)
    }

    @Test func aRequestLargerThanABatchRunsAlone() {
        var p = BatchingPolicy<Int>(BatchingConfiguration(maxBatch: 4, maxQueueDelay: ms, maxQueue: 100))
        _ = p.enqueue(1, images: 9, now: 0)
        _ = p.enqueue(2, images: 1, now: 0)
        #expect(p.decide(now: 0) == .dispatch([1]))
        p.batchFinished()
        #expect(p.decide(now: ms) == .dispatch([2]))
    }

    @Test func theQueueBoundRefusesAdmission() {
        var p = BatchingPolicy<Int>(BatchingConfiguration(maxBatch: 4, maxQueueDelay: ms, maxQueue: 5))
        #expect(p.enqueue(1, images: 3, now: 0) == .accepted)
        #expect(p.enqueue(2, images: 2, now: 0) == .accepted)
        #expect(p.enqueue(3, images: 1, now: 0) == .queueFull(queued: 5))
        _ = p.decide(now: 0)                                        // 1 and 2 leave the queue
        #expect(p.enqueue(3, images: 1, now: 0) == .accepted)
        var empty = BatchingPolicy<Int>(BatchingConfiguration(maxBatch: 4, maxQueueDelay: ms, maxQueue: 5))
        #expect(empty.enqueue(9, images: 7, now: 0) == .accepted)  // larger than the bound, but alone
    }

    @Test func expiredAndCancelledRequestsAreDropped() {
        var p = BatchingPolicy<Int>(BatchingConfiguration(maxBatch: 8, maxQueueDelay: 5 * ms, maxQueue: 100))
        _ = p.enqueue(1, images: 1, now: 0, deadline: 3 * ms)
        _ = p.enqueue(2, images: 1, now: ms)
        _ = p.enqueue(3, images: 1, now: ms, deadline: 50 * ms)
        #expect(p.earliestDeadline == 3 * ms)
        #expect(p.cancel(2) && !p.cancel(2))
        #expect(p.expire(now: 2 * ms).isEmpty)
        #expect(p.expire(now: 3 * ms) == [1])
        #expect(p.queuedImages == 1)
        #expect(p.decide(now: 3 * ms) == .waitUntil(6 * ms))        // the oldest is now request 3
        #expect(p.decide(now: 6 * ms) == .dispatch([3]))
    }
}
