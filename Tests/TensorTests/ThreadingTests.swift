// ThreadingTests: the worker pool runs every chunk exactly once, tolerates nested and concurrent
// callers, and threaded kernels are deterministic for a given thread count.

import Locking
import Testing
@testable import Tensor

@Suite struct ThreadingTests {
    @Test(arguments: [1, 2, 3, 8])
    func everyChunkRunsExactlyOnce(threads: Int) {
        let pool = ComputeThreads(threads)
        for total in [0, 1, 2, 7, 64, 1000] {
            let hits = Locked([Int](repeating: 0, count: total))
            pool.forEachChunk(of: total) { _, range in
                hits.withLock { for i in range { $0[i] += 1 } }
            }
            #expect(hits.withLock { $0 } == [Int](repeating: 1, count: total), "total \(total)")
        }
    }

    @Test func chunksCoverTheRangeContiguously() {
        for threads in [1, 2, 5] {
            let parts = ComputeThreads(threads).chunks(of: 37)
            #expect(parts.first?.lowerBound == 0 && parts.last?.upperBound == 37)
            #expect(zip(parts, parts.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            #expect(parts.allSatisfy { !$0.isEmpty })
        }
    }

    @Test func nestedUseRunsInlineWithoutDeadlock() {
        let pool = ComputeThreads(2)
        let count = Locked(0)
        pool.forEachChunk(of: 4) { _, outer in
            pool.forEachChunk(of: 10) { _, inner in count.withLock { $0 += inner.count * outer.count } }
        }
        #expect(count.withLock { $0 } == 40)
    }

    @Test func concurrentCallersGetCorrectResults() async throws {
        let x = random([6, 5, 9, 9], seed: 1), w = random([7, 5, 3, 3], seed: 2)
        let expected = try Conv3x3.forward(x, weight: w, threads: .one)
        try await withThrowingTaskGroup(of: Tensor.self) { group in
            for _ in 0..<8 { group.addTask { try Conv3x3.forward(x, weight: w, threads: ComputeThreads(2)) } }
            for try await y in group { #expect(y == expected) }
        }
    }

    @Test func threadedWeightGradientIsDeterministicAndMatchesOneThread() throws {
        let x = random([9, 4, 6, 6], seed: 3), dy = random([9, 3, 6, 6], seed: 4)
        func grad(_ threads: Int) throws -> Tensor {
            var dW = Tensor(zeros: [3, 4, 3, 3])
            try Conv3x3.accumulateWeightGradient(&dW, input: x, outputGradient: dy, threads: ComputeThreads(threads))
            return dW
        }
        let two = try grad(2)
        #expect(try grad(2) == two)   // bit-identical run to run
        #expect(relativeError(two, try grad(1)) <= 1e-6)
    }
}
