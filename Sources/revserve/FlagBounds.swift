// FlagBounds: the range every numeric flag accepts, and the check each command's validate()
// makes, so that no flag reaches arithmetic or an allocation unbounded (docs/SECURITY.md).
// Flags that set a daemon limit or a batching setting use the bound their module owns.

import ArgumentParser
import Bounds

enum FlagBounds {
    /// Compute threads: more than the machine's cores only adds switching; 256 covers any CPU.
    static let threads = Bound(1...256, "threads")
    static let repositoryPollMilliseconds = Bound(50...3_600_000, "ms")
    /// 0 reads checkpoints in-process; at most an hour for the reading child.
    static let checkpointCheckTimeoutMilliseconds = Bound(0...3_600_000, "ms")
    /// Classes shown per image.
    static let top = Bound(1...100_000, "classes")
    /// Batch sizes of the tools (train, eval, bench).
    static let batch = Bound(1...65_536, "images")
    /// Loop counts of the tools (bench rounds, repeats and warm-ups, power iterations).
    static let repeats = Bound(1...10_000, "rounds")
    static let warmupRounds = Bound(0...10_000, "rounds")
    static let sgemmSize = Bound(64...16_384)
    static let clients = Bound(1...4096, "clients")
    /// One of C, H, W: each within a model's input size, so their product stays in range.
    static let inputDimension = Bound(1...(1 << 24))
    /// Durations given in seconds (bench load): a day at most.
    static let maxSeconds = 86_400.0
}

/// Refuses `value` for `flag` unless it is within `bound`, with a message naming both.
func requireBound(_ flag: String, _ value: Int, _ bound: Bound) throws {
    if let why = bound.violation(flag, value) { throw ValidationError(why) }
}
