// WinogradWeightCache: transformed convolution weights (U = G g Gᵀ) kept by content, so that
// inference on fixed weights transforms each weight once instead of on every call.
//
// Entries are found by a sampled fingerprint and then compared in full, so a hit is always
// exactly the weight asked for, whoever calls: the engine, a plugin's copy of its parameters,
// or a Midpoint operator K − Kᵀ rebuilt on each call. Each owner has its own cache inside its
// KernelWorkspace (a loaded model; one block's slices in a training step, whose weights change
// every step); least recently used entries go first once its budget is exceeded.
//
// Each entry lives in pages of its own (mmap): entries scattered through the malloc heap would
// pin its pages after the cache let them go.

import Locking
#if canImport(Glibc)
import Glibc
#endif

public final class WinogradWeightCache: Sendable {
    private struct Key: Hashable {
        let shape: [Int]
        let transposed: Bool
        let tile: Int
        let fingerprint: UInt64
    }

    /// A weight and its transform, in pages mapped for it alone. Immutable once built.
    private final class Entry: @unchecked Sendable {
        let pages: UnsafeMutableRawPointer
        let bytes: Int
        let weightCount: Int
        /// The weight's own storage, shared, not copied: while the entry holds it, a write to
        /// the caller's tensor copies the storage first, so a lookup with this very storage is
        /// this very weight, with no comparison (a full memcmp per call weighs on a small batch).
        let source: [Float]

        /// nil if the pages cannot be mapped (the caller then transforms without caching).
        init?(_ weight: Tensor, transposed: Bool, tile: Int, threads: ComputeThreads) {
            weightCount = weight.count
            source = weight.data
            bytes = 4 * (weight.count + (tile + 2) * (tile + 2) * weight.count / 9)
            guard let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                  p != UnsafeMutableRawPointer(bitPattern: -1) else { return nil }
            pages = p
            weight.data.withUnsafeBytes { pages.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            Winograd.transformWeights(weight, transposed: transposed, tile: tile, into: transformed, threads: threads)
        }

        deinit { munmap(pages, bytes) }

        var transformed: UnsafeMutablePointer<Float> {
            (pages + 4 * weightCount).assumingMemoryBound(to: Float.self)
        }

        func holds(_ weight: Tensor) -> Bool {
            guard weight.count == weightCount else { return false }
            let same = source.withUnsafeBufferPointer { a in weight.data.withUnsafeBufferPointer { a.baseAddress == $0.baseAddress } }
            return same || weight.data.withUnsafeBytes { memcmp(pages, $0.baseAddress!, $0.count) == 0 }
        }
    }

    private struct State {
        var entries: [Key: (entry: Entry, lastUse: UInt64)] = [:]
        var bytes = 0
        var clock: UInt64 = 0
        var hits = 0, misses = 0
    }

    private let state = Locked(State())
    let budgetBytes: Int

    /// A cache of its own, e.g. for the calls of one block of a training step, whose weights
    /// change from step to step: its entries go when it does.
    public init(budgetBytes: Int) {
        self.budgetBytes = budgetBytes
    }

    /// Runs `body` with Winograd.transformedWeights(weight, transposed:), from the cache when
    /// this exact weight (shape and every element) was transformed before.
    func withTransformed<R>(_ weight: Tensor, transposed: Bool, tile: Int = 2, threads: ComputeThreads = .one,
                            _ body: (UnsafePointer<Float>) -> R) -> R {
        let key = Key(shape: weight.shape, transposed: transposed, tile: tile, fingerprint: Self.fingerprint(weight.data))
        let found = state.withLock { s -> Entry? in
            s.clock += 1
            guard let e = s.entries[key] else { return nil }
            s.entries[key]?.lastUse = s.clock
            return e.entry
        }
        // The full comparison runs outside the lock (entries are immutable); `found` keeps the
        // entry's pages alive through `body` even if it is evicted meanwhile.
        if let found, found.holds(weight) {
            state.withLock { $0.hits += 1 }
            return body(found.transformed)
        }
        guard let entry = Entry(weight, transposed: transposed, tile: tile, threads: threads) else {
            return Winograd.transformedWeights(weight, transposed: transposed, tile: tile, threads: threads)
                .withUnsafeBufferPointer { body($0.baseAddress!) }
        }
        if entry.bytes <= budgetBytes { insert(entry, key) }
        return body(entry.transformed)
    }

    private func insert(_ entry: Entry, _ key: Key) {
        state.withLock { s in
            s.misses += 1
            s.clock += 1
            if let old = s.entries.updateValue((entry, s.clock), forKey: key) { s.bytes -= old.entry.bytes }
            s.bytes += entry.bytes
            while s.bytes > budgetBytes, let oldest = s.entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                s.entries[oldest.key] = nil
                s.bytes -= oldest.value.entry.bytes
            }
        }
    }

    /// The transform as an array (tests).
    func transformed(_ weight: Tensor, transposed: Bool, tile: Int = 2) -> [Float] {
        withTransformed(weight, transposed: transposed, tile: tile) {
            Array(UnsafeBufferPointer(start: $0, count: (tile + 2) * (tile + 2) * weight.count / 9))
        }
    }

    /// Hits, misses, entries and bytes held (tests and diagnostics).
    var statistics: (hits: Int, misses: Int, entries: Int, bytes: Int) {
        state.withLock { ($0.hits, $0.misses, $0.entries.count, $0.bytes) }
    }

    /// Drops every entry (their pages go back to the system once no call is using them).
    public func removeAll() {
        let dropped = state.withLock { s -> [Key: (entry: Entry, lastUse: UInt64)] in
            defer { s.entries = [:]; s.bytes = 0 }
            return s.entries
        }
        _ = dropped   // released here, outside the lock
    }

    /// A hash of the count and of 64 elements spread over the weight: cheap, and any training
    /// step or different layer changes it; equal fingerprints are still compared in full.
    private static func fingerprint(_ data: [Float]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(data.count)
        let step = Swift.max(1, data.count / 64)
        var i = 0
        while i < data.count {
            h = (h ^ UInt64(data[i].bitPattern)) &* 0x100_0000_01b3
            i += step
        }
        return h
    }
}
