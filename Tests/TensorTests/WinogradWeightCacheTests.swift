// WinogradWeightCacheTests: the content-keyed cache of transformed weights returns exactly what a
// fresh transform gives, finds a weight again in other storage, never serves a stale transform
// for a changed weight (even one element the fingerprint does not sample), stays within its
// budget by dropping the least recently used, and empties on request; convolutions through it
// keep matching the reference.

import Testing
@testable import Tensor

@Suite struct WinogradWeightCacheTests {
    @Test func aHitIsTheSameTransformFoundByContent() {
        let cache = WinogradWeightCache(budgetBytes: 16 << 20)
        let w = random([32, 24, 3, 3], seed: 1)
        for transposed in [false, true] {
            let fresh = Winograd.transformedWeights(w, transposed: transposed)
            #expect(Winograd.transformedWeights(w, transposed: transposed, threads: ComputeThreads(3)) == fresh)
            #expect(cache.transformed(w, transposed: transposed) == fresh)
            // The same values in other storage (a plugin's per-call copy) are found again.
            let copy = Tensor(uninitializedShape: w.shape) { _ = $0.initialize(from: w.data) }
            #expect(cache.transformed(copy, transposed: transposed) == fresh)
        }
        let s = cache.statistics
        #expect(s.hits == 2 && s.misses == 2 && s.entries == 2)
        #expect(s.bytes == 2 * 4 * (w.count + 16 * 32 * 24))
    }

    @Test func aChangedWeightIsNeverServedAStaleTransform() {
        let cache = WinogradWeightCache(budgetBytes: 16 << 20)
        var w = random([16, 16, 3, 3], seed: 2)
        _ = cache.transformed(w, transposed: false)
        // 2304 elements: the fingerprint samples every 36th, so element 1 is not among them.
        w.data[1] += 0.5
        #expect(cache.transformed(w, transposed: false) == Winograd.transformedWeights(w, transposed: false))
        #expect(cache.statistics.hits == 0)
        // A training step changes every element: a miss again, then a hit for the new weight.
        w.data = w.data.map { $0 * 0.99 }
        _ = cache.transformed(w, transposed: false)
        #expect(cache.transformed(w, transposed: false) == Winograd.transformedWeights(w, transposed: false))
        #expect(cache.statistics.hits == 1 && cache.statistics.misses == 3)
    }

    @Test func theBudgetHoldsAndTheLeastRecentlyUsedGoesFirst() {
        let weights = (0..<4).map { random([16, 16, 3, 3], seed: UInt64(10 + $0)) }
        let entryBytes = 4 * (weights[0].count + 16 * 16 * 16)
        let cache = WinogradWeightCache(budgetBytes: 3 * entryBytes)
        for w in weights.prefix(3) { _ = cache.transformed(w, transposed: false) }
        _ = cache.transformed(weights[0], transposed: false)   // 0 is now the most recent
        _ = cache.transformed(weights[3], transposed: false)   // evicts 1, the least recent
        #expect(cache.statistics.entries == 3 && cache.statistics.bytes <= cache.budgetBytes)
        let hits = cache.statistics.hits
        _ = cache.transformed(weights[0], transposed: false)
        _ = cache.transformed(weights[2], transposed: false)
        #expect(cache.statistics.hits == hits + 2)
        _ = cache.transformed(weights[1], transposed: false)
        #expect(cache.statistics.hits == hits + 2, "weight 1 should have been evicted")
        // A weight larger than the whole budget is transformed but not kept.
        let big = random([64, 64, 3, 3], seed: 20)
        #expect(cache.transformed(big, transposed: false) == Winograd.transformedWeights(big, transposed: false))
        #expect(cache.statistics.bytes <= cache.budgetBytes)
        cache.removeAll()
        #expect(cache.statistics.entries == 0 && cache.statistics.bytes == 0)
    }

    @Test func convolutionsThroughACacheMatchTheReference() throws {
        let workspace = KernelWorkspace(weightBudgetBytes: 16 << 20)
        let cache = try #require(workspace.weights)
        let x = random([2, 16, 9, 11], seed: 30), u = random([2, 24, 9, 11], seed: 32)
        var w = random([24, 16, 3, 3], seed: 31)
        for step in 0..<3 {
            for _ in 0..<2 {   // the second call of each step comes from the cache
                let y = Winograd.convolve(x: x, weight: w, transposed: false, bias: nil, relu: false,
                                          threads: ComputeThreads(2), workspace: workspace)
                #expect(relativeError(y, ConvReference.conv(x, weight: w, bias: nil)) <= 1e-5, "step \(step)")
                let t = Winograd.convolve(x: u, weight: w, transposed: true, bias: nil, relu: false,
                                          threads: ComputeThreads(2), workspace: workspace)
                #expect(relativeError(t, ConvReference.convTranspose(u, weight: w, bias: nil)) <= 1e-5, "step \(step)")
            }
            w.data[5] -= 0.25   // as an optimiser step would
        }
        #expect(cache.statistics.hits == 6 && cache.statistics.misses == 6)
        // The public entry points, with and without a workspace that keeps weights, give the same answer.
        let kept = try Conv3x3.forward(x, weight: w, threads: ComputeThreads(2), workspace: workspace)
        #expect(try Conv3x3.forward(x, weight: w, threads: ComputeThreads(2)).data == kept.data)
        #expect(try ConvTranspose3x3.forward(u, weight: w, threads: ComputeThreads(2), workspace: workspace).data
                == ConvTranspose3x3.forward(u, weight: w, threads: ComputeThreads(2)).data)
    }

    /// A workspace's own cache (a model, or a block of a sliced training step): conv, convT
    /// and the input gradient keep and find their transforms there, and the answers are the
    /// uncached ones; another workspace's cache stays untouched.
    @Test func aCacheOfItsOwnServesTheConvolutionsGivenIt() throws {
        let workspace = KernelWorkspace(weightBudgetBytes: 8 << 20), other = KernelWorkspace(weightBudgetBytes: 8 << 20)
        let scoped = try #require(workspace.weights)
        let x = random([2, 16, 8, 8], seed: 40), u = random([2, 16, 8, 8], seed: 41), w = random([16, 16, 3, 3], seed: 42)
        for _ in 0..<2 {
            #expect(try Conv3x3.forward(x, weight: w, workspace: workspace).data == Conv3x3.forward(x, weight: w).data)
            #expect(try ConvTranspose3x3.forward(u, weight: w, workspace: workspace).data
                    == ConvTranspose3x3.forward(u, weight: w).data)
            #expect(try Conv3x3.inputGradient(u, weight: w, workspace: workspace).data == Conv3x3.inputGradient(u, weight: w).data)
        }
        // conv's transform, and convT's (which the input gradient shares): two misses, then hits.
        #expect(scoped.statistics.misses == 2 && scoped.statistics.hits == 4 && scoped.statistics.entries == 2)
        #expect(other.weights?.statistics.entries == 0)
        // Without a workspace that keeps weights, nothing is kept.
        #expect(KernelWorkspace.unowned.weights == nil)
    }
}
