// BodyBudget: the bytes of request bodies the daemon holds at once, across all connections
// (--max-inflight-body-bytes). Each request's limit (--max-body-bytes) alone would let a
// thousand connections hold a thousand bodies; past this budget a request gets 503 and
// Retry-After instead of the daemon running out of memory.

import Synchronization

final class BodyBudget: Sendable {
    let limit: Int
    private let held = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    var inUse: Int { held.load(ordering: .relaxed) }

    /// Takes `bytes` from the budget, or returns false (taking nothing) if it would pass the limit.
    func take(_ bytes: Int) -> Bool {
        var current = held.load(ordering: .relaxed)
        while true {
            // current ≤ limit ≤ 2^36 and bytes ≤ one chunk, so the sum cannot overflow.
            guard current + bytes <= limit else { return false }
            let (exchanged, original) = held.compareExchange(expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    func give(_ bytes: Int) {
        held.subtract(bytes, ordering: .relaxed)
    }

    /// What one request has taken, given back once when the request is done.
    final class Reservation: @unchecked Sendable {
        // Touched by the collecting task and then by the handler that awaited it, never at once.
        private let budget: BodyBudget
        private var bytes = 0

        init(_ budget: BodyBudget) { self.budget = budget }

        func take(_ n: Int) throws(APIError) {
            guard budget.take(n) else {
                throw .unavailable("the server holds \(budget.limit) bytes of request bodies already (its --max-inflight-body-bytes); retry shortly", retryAfter: 1)
            }
            bytes += n
        }

        func release() {
            budget.give(bytes)
            bytes = 0
        }
    }
}
