// TrainingEvents: what a training run reports as it goes; the executable turns these into the
// progress line, the epoch table and the final summary.

import Synchronization

public struct TrainingStart: Sendable {
    public var parameters: Int
    public var trainImages: Int
    public var testImages: Int
    public var stepsPerEpoch: Int
    public var totalSteps: Int
    /// The step a resumed run starts from (0 for a fresh run).
    public var firstStep: Int
    public var checkpointPath: String
}

public struct StepProgress: Sendable {
    public var epoch: Int            // 1-based
    public var epochs: Int
    public var stepInEpoch: Int      // 1-based
    public var stepsPerEpoch: Int
    public var step: Int             // steps done in all
    public var totalSteps: Int
    public var loss: Float           // running mean over the epoch so far
    public var accuracy: Float
    public var imagesPerSecond: Double
    public var etaSeconds: Double
}

/// One row of the per-epoch history (also a line of the metrics file).
public struct EpochRecord: Sendable, Codable, Equatable {
    public var epoch: Int
    public var loss: Float
    public var trainAccuracy: Float
    public var testLoss: Float
    public var testAccuracy: Float
    public var learningRate: Float
    public var seconds: Float
}

public enum TrainingEvent: Sendable {
    case started(TrainingStart)
    case progress(StepProgress)
    case epochFinished(EpochRecord)
    case checkpointWritten(String)
    /// The finished model was published as a new repository version at this path.
    case published(String)
    /// Stopped on request after writing a checkpoint at this step.
    case stopped(step: Int)
}

/// Set from anywhere (a signal handler's queue) to stop a run at the next step boundary.
public final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func stop() { flag.store(true, ordering: .relaxed) }
    public var isSet: Bool { flag.load(ordering: .relaxed) }
}
