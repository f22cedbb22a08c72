// `revserve train`: trains a network with the reversible engine and writes checkpoints.

import ArgumentParser
import Dispatch
import Foundation
import Formats
import RevNet
import Tensor
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a reversible network and write checkpoints.",
        discussion: """
            Writes an atomic checkpoint (with optimiser state and history) after every epoch, plus a \
            metrics file (JSON lines) and an SVG chart next to it. Ctrl-C stops after writing a \
            checkpoint; --resume continues exactly where it stopped.

            Examples:
              revserve train --arch hamiltonian --dataset fashion-mnist \\
                  --epochs 1 --out h.h5
              revserve train --preset hamiltonian-74 --dataset cifar10 \\
                  --data cifar-10-batches-bin --repository models --model h74
              revserve train --resume h.h5 --epochs 20 --out h.h5
            """)

    @OptionGroup var network: NetworkOptions
    @OptionGroup var plugins: PluginOptions
    @OptionGroup var checkpointCheck: CheckpointCheckOptions

    @Option(help: "fashion-mnist, cifar10, folder or synthetic.")
    var dataset: DatasetKind = .fashionMNIST

    @Option(help: "Dataset directory (default for fashion-mnist: \(Datasets.fashionMNISTDirectory)).")
    var data: String?

    @Option(help: "Epochs.")
    var epochs: Int = 10

    @Option(help: "Stop after this many steps in all.")
    var maxSteps: Int?

    @Option(help: "Images per step.")
    var batchSize: Int = 100

    @Option(help: "Initial learning rate.")
    var lr: Float = 0.1

    @Option(help: "SGD momentum.")
    var momentum: Float = 0.9

    @Option(help: "Weight decay on conv and FC weights.")
    var weightDecay: Float = 2e-4

    @Option(help: "α of the smoothness regulariser across blocks (0 turns it off).")
    var smoothness: Float = 2e-4

    @Option(help: "Learning-rate schedule: cosine, or step (÷10 at 50% and 75%, the paper's).")
    var schedule: ScheduleKind = .cosine

    @Option(help: "Linear warm-up steps.")
    var warmupSteps: Int = 0

    @Option(name: .customLong("augment"), help: "Pad-4 random crops and horizontal flips: on or off (default: on for cifar10 and folder, as in the paper; off for fashion-mnist, like its benchmark's baselines, and synthetic).")
    var augmentSetting: OnOff?

    @Option(help: "Random seed.")
    var seed: UInt64 = 1

    @Option(help: "Worker threads (default: all online cores).")
    var threads: Int = ComputeThreads.onlineCores

    @Option(help: "reversible (memory flat in depth) or standard.")
    var memory: MemoryMode = .reversible

    @Option(help: "Images in the synthetic training set.")
    var syntheticCount: Int = 512

    @Option(help: "Checkpoint file to write.")
    var out: String?

    @Option(help: "Model repository to publish into (with --model).")
    var repository: String?

    @Option(help: "Model name in the repository.")
    var model: String?

    @Option(help: "Continue training from this checkpoint.")
    var resume: String?

    func validate() throws {
        if repository != nil && out != nil { throw ValidationError("give either --out or --repository/--model, not both") }
        if (repository == nil) != (model == nil) { throw ValidationError("--repository and --model go together") }
        if repository == nil && out == nil { throw ValidationError("say where to write: --out FILE.h5, or --repository DIR --model NAME") }
        if resume == nil && network.preset == nil && network.arch == nil {
            throw ValidationError("give --arch NAME (its small preset), --preset NAME, or --resume FILE.h5")
        }
        if dataset == .folder && data == nil && resume == nil { throw ValidationError("--dataset folder needs --data ROOT") }
        if dataset == .cifar10 && data == nil && resume == nil { throw ValidationError("--dataset cifar10 needs --data DIR (the cifar-10-batches-bin directory)") }
    }

    func run() throws {
        plugins.register()
        let output: TrainingOutput = out.map { .file($0) } ?? .repository(directory: repository!, model: model!)
        var trainer: Trainer
        if let resume {
            trainer = try Trainer(resume: resume, output: output, threads: threads,
                                  epochs: commandLineHas("--epochs") ? epochs : nil, maxSteps: maxSteps,
                                  reader: checkpointCheck.reader(plugins: plugins))
        } else {
            // The dataset decides the input shape and classes (synthetic data takes --input and --classes).
            let config = try network.config()
            var options = TrainingOptions(network: config, dataset: dataset,
                                          dataPath: data ?? (dataset == .fashionMNIST ? Datasets.fashionMNISTDirectory : ""),
                                          epochs: epochs, maxSteps: maxSteps, batchSize: batchSize, learningRate: lr,
                                          augment: augmentSetting.map { $0 == .on } ?? (dataset == .cifar10 || dataset == .folder),
                                          seed: seed, threads: threads)
            options.momentum = momentum
            options.weightDecay = weightDecay
            options.smoothness = smoothness
            options.schedule = schedule
            options.warmupSteps = warmupSteps
            options.memory = memory
            options.syntheticCount = syntheticCount
            trainer = try Trainer(options: options, output: output)
        }
        let stop = StopFlag()
        let signals = installStopOnInterrupt(stop)
        defer { signals.forEach { $0.cancel() } }
        var display = ProgressDisplay()
        let summary = try trainer.run(stop: stop) { display.show($0) }
        display.finish(summary)
    }

    /// True when the user typed the option (so a resume keeps its recorded value otherwise).
    private func commandLineHas(_ option: String) -> Bool {
        CommandLine.arguments.contains { $0 == option || $0.hasPrefix(option + "=") }
    }
}

enum OnOff: String, ExpressibleByArgument, CaseIterable {
    case on, off
}

extension DatasetKind: ExpressibleByArgument {}
extension ScheduleKind: ExpressibleByArgument {}

/// SIGINT and SIGTERM set the stop flag (the run ends at the next step after a checkpoint);
/// a second signal exits at once.
func installStopOnInterrupt(_ stop: StopFlag) -> [DispatchSourceSignal] {
    [SIGINT, SIGTERM].map { signalNumber in
        signal(signalNumber, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
        source.setEventHandler {
            if stop.isSet { exit(130) }
            stop.stop()
            FileHandle.standardError.write(Data("\nstopping after the current step (again to quit at once)…\n".utf8))
        }
        source.resume()
        return source
    }
}
