// LearningRateSchedule: the learning rate at each step: optional linear warm-up, then either the
// paper's steps (÷10 at 50% and 75% of the run) or a half cosine down to 0.

import Foundation

public struct LearningRateSchedule: Sendable, Equatable {
    public var base: Float
    public var kind: ScheduleKind
    public var totalSteps: Int
    public var warmupSteps: Int

    public init(base: Float, kind: ScheduleKind, totalSteps: Int, warmupSteps: Int = 0) {
        self.base = base
        self.kind = kind
        self.totalSteps = max(1, totalSteps)
        self.warmupSteps = warmupSteps
    }

    /// The rate for step `step` (zero-based).
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return base * Float(step + 1) / Float(warmupSteps) }
        let progress = Double(step) / Double(totalSteps)
        switch kind {
        case .step:
            return base * (progress >= 0.75 ? 0.01 : progress >= 0.5 ? 0.1 : 1)
        case .cosine:
            let t = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
            return base * Float(0.5 * (1 + cos(Double.pi * min(1, t))))
        }
    }
}
