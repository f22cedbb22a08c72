// Trainer: the training loop. Deterministic given the seed and the thread count: the epoch's
// shuffle and each step's augmentation draw from generators seeded by (seed, epoch) and
// (seed, step), so a run resumed from any checkpoint continues exactly as if it had never
// stopped. After every epoch it evaluates on the held-out set and writes an atomic checkpoint
// with the optimiser state and the history; on a stop request it writes one and returns.

import Formats
import RevNet
import Tensor
import NetworkCheckpoint

public struct TrainingSummary: Sendable {
    public var history: [EpochRecord]
    public var steps: Int
    public var stopped: Bool
    public var checkpointPath: String
    public var publishedVersion: String?
}

public struct Trainer {
    public private(set) var options: TrainingOptions
    public let output: TrainingOutput
    public private(set) var network: Network
    private var sgd: SGD
    private var step = 0
    private var history: [EpochRecord] = []
    /// Running sums of the epoch in progress (kept in checkpoints so a resumed epoch reports the same).
    private var partial = (loss: Float(0), correct: 0, seen: 0, seconds: Float(0))
    public let data: TrainingData

    /// A fresh run. Every check (options, network shape, data files, output location) happens
    /// here, before any training.
    public init(options: TrainingOptions, output: TrainingOutput) throws(TrainingError) {
        try options.validate()
        let data = try TrainingData.load(options)
        var options = options
        options.network.inputShape = data.train.shape
        options.network.numClasses = data.train.classes.count
        let network: Network
        do {
            network = try Network(config: options.network, seed: options.seed)
        } catch {
            throw .config(error.description)
        }
        try output.prepare()
        self.options = options
        self.output = output
        self.network = network
        self.data = data
        sgd = SGD(for: network, learningRate: options.learningRate, momentum: options.momentum, weightDecay: options.weightDecay)
    }

    /// Continues the run saved in `checkpointPath` (its options, weights, momentum, step and
    /// history), optionally with a new number of epochs or steps.
    public init(resume checkpointPath: String, output: TrainingOutput, threads: Int,
                epochs: Int? = nil, maxSteps: Int? = nil, reader: CheckpointReader? = nil) throws(TrainingError) {
        let model: LoadedModel
        do { model = try ModelCheckpoint.load(checkpointPath, reader: reader) } catch { throw .resume(error.description) }
        guard let optimizer = model.checkpoint.optimizer, let record = model.checkpoint.training else {
            throw .resume("\(checkpointPath): has no /optimizer and /training groups to resume from (was it written by revserve train?)")
        }
        var options = try TrainingOptions.restored(network: model.network.config, from: record.attributes, threads: threads)
        if let epochs { options.epochs = epochs }
        if let maxSteps { options.maxSteps = maxSteps }
        try options.validate()
        let data = try TrainingData.load(options)
        guard data.train.shape == model.network.config.inputShape else {
            throw .resume("\(checkpointPath): the model takes \(model.network.config.inputShape) images, \(data.train.source) has \(data.train.shape)")
        }
        try output.prepare()
        self.options = options
        self.output = output
        self.network = model.network
        self.data = data
        sgd = SGD(for: model.network, learningRate: options.learningRate, momentum: options.momentum,
                  weightDecay: options.weightDecay)
        for buffer in optimizer.buffers {
            guard let k = sgd.velocity.position(of: buffer.name) else { continue }
            sgd.setVelocity(at: k, buffer.tensor)
        }
        // The step and the partial epoch come from the file: bounded before they index anything.
        let total = min(options.epochs * max(1, data.train.count / options.batchSize), options.maxSteps ?? Int.max)
        guard optimizer.step >= 0, optimizer.step <= total else {
            throw .resume("\(checkpointPath): /optimizer step is \(optimizer.step); a run of \(total) steps resumes from 0 to \(total)")
        }
        step = optimizer.step
        history = Self.history(from: record)
        // (loss, correct, seen, seconds), as saveCheckpoint writes it.
        if case .floats(let p)? = record.attributes["partial_epoch"], p.count == 4, p.allSatisfy(\.isFinite),
           let correct = Int(exactly: p[1].rounded()), let seen = Int(exactly: p[2].rounded()),
           correct >= 0, correct <= seen, seen <= data.train.count {
            partial = (p[0], correct, seen, p[3])
        }
    }

    public var stepsPerEpoch: Int { max(1, data.train.count / options.batchSize) }
    public var totalSteps: Int { min(options.epochs * stepsPerEpoch, options.maxSteps ?? Int.max) }

    /// Trains until the last step or a stop request; reports through `events`.
    public mutating func run(stop: StopFlag = StopFlag(), events: (TrainingEvent) -> Void = { _ in }) throws(TrainingError) -> TrainingSummary {
        let ctx = EngineContext(threads: ComputeThreads(options.threads))
        let schedule = LearningRateSchedule(base: options.learningRate, kind: options.schedule, totalSteps: totalSteps,
                                            warmupSteps: options.warmupSteps)
        let b = options.batchSize, k = network.config.numClasses
        events(.started(TrainingStart(parameters: network.parameterCount, trainImages: data.train.count,
                                      testImages: data.test.count, stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps,
                                      firstStep: step, checkpointPath: output.checkpointPath)))
        var gradients = network.weights.zeros()
        var order: [Int] = [], orderEpoch = -1
        var throughputClock = ContinuousClock.now, throughputImages = 0, imagesPerSecond = 0.0
        while step < totalSteps {
            if stop.isSet {
                try saveCheckpoint()
                events(.stopped(step: step))
                return TrainingSummary(history: history, steps: step, stopped: true, checkpointPath: output.checkpointPath)
            }
            let epoch = step / stepsPerEpoch, inEpoch = step % stepsPerEpoch
            if epoch != orderEpoch {
                order = shuffled(epoch)
                orderEpoch = epoch
            }
            let started = ContinuousClock.now
            var (x, labels) = data.train.batch(Array(order[(inEpoch * b)..<((inEpoch + 1) * b)]), mean: data.mean, std: data.std)
            if options.augment {
                var rng = SeededGenerator(seed: options.seed ^ (0xA5A5_5A5A_0F0F_F0F0 &+ UInt64(step) &* 0x9E37_79B9_7F4A_7C15))
                Augmentation.apply(&x, using: &rng)
            }
            gradients.zero()
            let result: TrainingStepResult
            do {
                result = try network.trainingStep(x, labels: labels, mode: options.memory, gradients: &gradients, ctx)
            } catch {
                throw .numerics("step \(step + 1): \(error)")
            }
            guard result.loss.isFinite else {
                throw .numerics("the loss became \(result.loss) at step \(step + 1); try a smaller --lr or --h")
            }
            _ = SmoothnessRegularizer.apply(network, alpha: options.smoothness, gradients: &gradients)
            sgd.learningRate = schedule.rate(at: step)
            sgd.step(&network.weights, gradients: gradients)

            for (i, label) in labels.enumerated() {
                let row = result.logits.data[(i * k)..<((i + 1) * k)]
                if row.indices.max(by: { row[$0] < row[$1] })! - i * k == label { partial.correct += 1 }
            }
            partial.loss += result.loss * Float(b)
            partial.seen += b
            partial.seconds += Float(seconds(since: started))
            step += 1

            throughputImages += b
            let window = seconds(since: throughputClock)
            if window >= 1 || imagesPerSecond == 0 {
                imagesPerSecond = Double(throughputImages) / max(window, 1e-9)
                throughputClock = ContinuousClock.now
                throughputImages = 0
            }
            events(.progress(StepProgress(
                epoch: epoch + 1, epochs: (totalSteps + stepsPerEpoch - 1) / stepsPerEpoch, stepInEpoch: inEpoch + 1,
                stepsPerEpoch: stepsPerEpoch, step: step, totalSteps: totalSteps, loss: partial.loss / Float(partial.seen),
                accuracy: Float(partial.correct) / Float(partial.seen), imagesPerSecond: imagesPerSecond,
                etaSeconds: Double((totalSteps - step) * b) / max(imagesPerSecond, 1e-9))))

            if step % stepsPerEpoch == 0 || step == totalSteps {
                let evaluation = try Evaluation.run(network, on: data.test, mean: data.mean, std: data.std, ctx)
                let record = EpochRecord(epoch: epoch + 1, loss: partial.loss / Float(partial.seen),
                                         trainAccuracy: Float(partial.correct) / Float(partial.seen),
                                         testLoss: Float(evaluation.loss), testAccuracy: Float(evaluation.accuracy),
                                         learningRate: sgd.learningRate, seconds: partial.seconds)
                history.append(record)
                partial = (0, 0, 0, 0)
                try saveCheckpoint()
                try MetricsFiles.write(history, output: output)
                events(.epochFinished(record))
                events(.checkpointWritten(output.checkpointPath))
            }
        }
        let version = try output.publish()
        if let version { events(.published(version)) }
        return TrainingSummary(history: history, steps: step, stopped: false, checkpointPath: output.checkpointPath,
                               publishedVersion: version)
    }

    /// The epoch's order of training images: a Fisher–Yates shuffle seeded by (seed, epoch).
    private func shuffled(_ epoch: Int) -> [Int] {
        var rng = SeededGenerator(seed: options.seed &+ UInt64(epoch) &* 0xD134_2543_DE82_EF95)
        var order = Array(0..<data.train.count)
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            order.swapAt(i, Int(rng.next() % UInt64(i + 1)))
        }
        return order
    }

    private func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// The checkpoint with optimiser state, options and history.
    private func saveCheckpoint() throws(TrainingError) {
        var record = TrainingRecord(attributes: options.attributes)
        record.attributes["partial_epoch"] = .floats([partial.loss, Float(partial.correct), Float(partial.seen), partial.seconds])
        record.history = [
            "loss": history.map(\.loss), "train_accuracy": history.map(\.trainAccuracy),
            "test_loss": history.map(\.testLoss), "test_accuracy": history.map(\.testAccuracy),
            "lr": history.map(\.learningRate), "seconds": history.map(\.seconds),
        ]
        let checkpoint = ModelCheckpoint.checkpoint(network, labels: data.train.classes, mean: data.mean, std: data.std,
                                                    optimizer: (sgd, step, step / stepsPerEpoch), training: record)
        do {
            try CheckpointFile.write(checkpoint, to: output.checkpointPath)
        } catch {
            throw .output(error.description)
        }
    }

    private static func history(from record: TrainingRecord) -> [EpochRecord] {
        let n = record.history["loss"]?.count ?? 0
        func v(_ name: String, _ i: Int) -> Float { record.history[name].flatMap { i < $0.count ? $0[i] : nil } ?? 0 }
        return (0..<n).map { i in
            EpochRecord(epoch: i + 1, loss: v("loss", i), trainAccuracy: v("train_accuracy", i), testLoss: v("test_loss", i),
                        testAccuracy: v("test_accuracy", i), learningRate: v("lr", i), seconds: v("seconds", i))
        }
    }
}
