// ScratchBuffers: reusable float buffers for the kernels' im2col blocks and partial sums.
//
// Kernels need a few hundred KiB of scratch per worker on every call. Allocating it afresh each
// time costs page faults (large blocks come from mmap) that showed up as a large, noisy share of
// a convolution's time, so finished buffers go back to a small shared free list instead.
// Sizes are rounded up to a power of two and a request takes the smallest buffer that fits:
// with exact sizes and first fit, a daemon cycling through models of different widths kept
// adding buffers that no other model's request fitted (+19–26% resident memory after 20 swaps).
// Since workers also run whole slices of a batch (BatchSlicing), requests of many sizes overlap
// and the list still grew in one run of three (+20% after 20 swaps): it is emptied when a model
// is taken out of service (Conv3x3.releaseCaches).

import Locking

final class ScratchBuffers: Sendable {
    static let shared = ScratchBuffers()

    private struct Buffer: @unchecked Sendable {   // owned by exactly one holder at a time
        let pointer: UnsafeMutablePointer<Float>
        let capacity: Int
    }
    private let free = Locked<[Buffer]>([])
    /// Buffers kept for reuse at most; more than the workers ever hold at once.
    private let keep = 64

    /// Runs `body` with a buffer of at least `capacity` floats (contents unspecified).
    func with<T>(capacity: Int, _ body: (UnsafeMutablePointer<Float>) throws -> T) rethrows -> T {
        let buffer = take(capacity)
        defer { give(buffer) }
        return try body(buffer.pointer)
    }

    private func take(_ capacity: Int) -> Buffer {
        let reused = free.withLock { list -> Buffer? in
            guard let i = list.indices.filter({ list[$0].capacity >= capacity }).min(by: { list[$0].capacity < list[$1].capacity })
            else { return nil }
            return list.remove(at: i)
        }
        if let reused { return reused }
        let size = Swift.max(1024, capacity).nextPowerOfTwo
        return Buffer(pointer: .allocate(capacity: size), capacity: size)
    }

    /// Frees the buffers not in use (a model taken out of service: the next model's sizes differ).
    func removeAll() {
        let dropped = free.withLock { list -> [Buffer] in
            defer { list = [] }
            return list
        }
        for buffer in dropped { buffer.pointer.deallocate() }
    }

    private func give(_ buffer: Buffer) {
        let dropped = free.withLock { list -> Buffer? in
            list.append(buffer)
            // Over the limit, drop the smallest: the large ones are the expensive ones to make.
            guard list.count > keep, let i = list.indices.min(by: { list[$0].capacity < list[$1].capacity }) else { return nil }
            return list.remove(at: i)
        }
        dropped?.pointer.deallocate()
    }
}

extension Int {
    /// The smallest power of two ≥ self (self ≥ 1).
    var nextPowerOfTwo: Int { 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount) }
}
