// ScratchBuffers: reusable float buffers for the kernels' padded grids, tiles and partial sums.
//
// Kernels need a few hundred KiB of scratch per worker on every call; allocating it afresh each
// time costs page faults (large blocks come from mmap), so finished buffers go back to a small
// free list. Sizes are rounded up to a power of two and a request takes the smallest buffer
// that fits, so that calls of many sizes share buffers. Each KernelWorkspace (a model) has its
// own list, freed with it; `shared` serves callers without one.

import Locking

final class ScratchBuffers: Sendable {
    static let shared = ScratchBuffers()

    init() {}

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

    deinit {
        for buffer in free.withLock({ $0 }) { buffer.pointer.deallocate() }
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
