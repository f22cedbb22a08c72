// BatchingPolicy: the dynamic batcher's decisions as a state machine without I/O or clocks:
// callers pass the time in, and it says what to run next, what to wait for and what expired.
// The daemon drives one per model from an actor (BatchScheduler); tests drive it with a fake clock.
//
// Rules:
// - requests queue in arrival order, each carrying one or more images;
// - a request that finds its model idle runs at once (with the default `maxQueueDelay` of 0):
//   nobody waits for companions that may not come, so a lone client sees compute latency only;
// - while the model computes, arrivals queue, and the next batch takes them as soon as it is
//   idle again: batches form from the load itself, large under load and single when quiet;
// - a positive `maxQueueDelay` lets an idle model hold a batch open for companions, at most
//   that long from the oldest request's arrival (or until the queued images fill `maxBatch`):
//   the upper bound of any wait for companions, as in Triton's dynamic batcher;
// - a batch takes whole requests from the front while they fit in `maxBatch` images (a single
//   request larger than that runs alone);
// - admission stops at `maxQueue` queued images: the request is refused (the daemon answers
//   503 with Retry-After); an empty queue admits any request;
// - a request whose deadline passes while queued is dropped and reported as expired (504);
// - a cancelled request (its client went away) is dropped if it is still queued;
// - once flushing (the daemon is draining: nothing new will come to fill a batch), queued
//   requests are dispatched as soon as the model is idle, without waiting.

import Bounds

public struct BatchingConfiguration: Sendable, Equatable {
    /// Largest batch in images.
    public var maxBatch: Int
    /// Longest an idle model holds the oldest queued request for companions, in nanoseconds
    /// (0: a request that finds the model idle runs at once).
    public var maxQueueDelay: UInt64
    /// Most images that may wait in the queue.
    public var maxQueue: Int

    public init(maxBatch: Int = 64, maxQueueDelay: UInt64 = 0, maxQueue: Int = 1024) {
        self.maxBatch = max(1, maxBatch)
        self.maxQueueDelay = maxQueueDelay
        self.maxQueue = max(1, maxQueue)
    }

    // What the flags and config.json accept: a batch larger than a few thousand images only
    // holds memory, a queue delay of over a minute is a stalled model, and a queue over a
    // million images would be minutes of work on a CPU.
    public static let maxBatchBound = Bound(1...4096, "images")
    public static let maxQueueDelayMicrosecondsBound = Bound(0...60_000_000, "microseconds")
    public static let maxQueueBound = Bound(1...(1 << 20), "images")
    /// Most input values one batch may hold (max batch × a model's input size): the warm-up
    /// runs a full batch, so a model whose largest batch would not fit is refused at load
    /// rather than exhausting memory on the compute thread. 2^26 floats are 256 MiB of input.
    public static let maxBatchInputValues = 1 << 26
}

public struct BatchingPolicy<ID: Hashable & Sendable>: Sendable {
    public struct Queued: Sendable, Equatable {
        public var id: ID
        public var images: Int
        /// Arrival time, nanoseconds on the caller's clock.
        public var arrival: UInt64
        /// Drop the request if it is still queued at this time.
        public var deadline: UInt64?
    }

    public enum Admission: Sendable, Equatable {
        case accepted
        /// The queue holds `queued` images; `maxQueue` would be exceeded.
        case queueFull(queued: Int)
    }

    public enum Decision: Sendable, Equatable {
        /// Run these requests as one batch now (the model is then busy until `batchFinished`).
        case dispatch([ID])
        /// Nothing to run before this time unless something arrives.
        case waitUntil(UInt64)
        /// Nothing queued, or the model is busy.
        case idle
    }

    public let configuration: BatchingConfiguration
    public private(set) var queue: [Queued] = []
    public private(set) var queuedImages = 0
    public private(set) var busy = false
    public private(set) var flushing = false

    public init(_ configuration: BatchingConfiguration) {
        self.configuration = configuration
    }

    /// Admits a request of `images` images arriving at `now`.
    public mutating func enqueue(_ id: ID, images: Int, now: UInt64, deadline: UInt64? = nil) -> Admission {
        // An empty queue takes any request, so that one larger than maxQueue is not refused forever.
        guard queuedImages + images <= configuration.maxQueue || queue.isEmpty else {
            return .queueFull(queued: queuedImages)
        }
        queue.append(Queued(id: id, images: images, arrival: now, deadline: deadline))
        queuedImages += images
        return .accepted
    }

    /// Drops a queued request (its client disconnected). False if it was not queued.
    @discardableResult
    public mutating func cancel(_ id: ID) -> Bool {
        guard let i = queue.firstIndex(where: { $0.id == id }) else { return false }
        queuedImages -= queue[i].images
        queue.remove(at: i)
        return true
    }

    /// Removes and returns the requests whose deadline is at or before `now`.
    public mutating func expire(now: UInt64) -> [ID] {
        let expired = queue.filter { $0.deadline.map { $0 <= now } ?? false }
        guard !expired.isEmpty else { return [] }
        queue.removeAll { $0.deadline.map { $0 <= now } ?? false }
        queuedImages = queue.reduce(0) { $0 + $1.images }
        return expired.map(\.id)
    }

    /// The earliest deadline among queued requests: when `expire` will next have work.
    public var earliestDeadline: UInt64? { queue.compactMap(\.deadline).min() }

    /// What to do at `now`. Call `expire(now:)` first so that expired requests are not batched.
    public mutating func decide(now: UInt64) -> Decision {
        guard !busy, let oldest = queue.first else { return .idle }
        // Saturating: arrival is a monotonic clock reading and the delay at most a minute, but a
        // wrapped sum would dispatch at once instead of never.
        let (sum, wrapped) = oldest.arrival.addingReportingOverflow(configuration.maxQueueDelay)
        let due = wrapped ? UInt64.max : sum
        guard queuedImages >= configuration.maxBatch || now >= due || flushing else { return .waitUntil(due) }
        var batch: [ID] = [], images = 0
        while let next = queue.first, batch.isEmpty || images + next.images <= configuration.maxBatch {
            batch.append(next.id)
            images += next.images
            queue.removeFirst()
        }
        queuedImages -= images
        busy = true
        return .dispatch(batch)
    }

    /// From now on, dispatch whatever is queued without waiting for a batch to fill.
    public mutating func startFlushing() {
        flushing = true
    }

    /// The model finished the dispatched batch and can take another.
    public mutating func batchFinished() {
        busy = false
    }
}
