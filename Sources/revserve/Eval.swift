// `revserve eval`: accuracy, per-class accuracy and the confusion matrix of a checkpoint on a dataset.

import ArgumentParser
import Foundation
import Formats
import RevNet
import Tensor
import Training

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint on a dataset's test split.",
        discussion: """
            Example:
              revserve eval --checkpoint models/hamiltonian/1/model.h5 \\
                  --dataset fashion-mnist
            """)

    @Option(help: "The checkpoint (.h5).")
    var checkpoint: String

    @Option(help: "fashion-mnist, cifar10 or folder.")
    var dataset: DatasetKind = .fashionMNIST

    @Option(help: "Dataset directory (default for fashion-mnist: \(Datasets.fashionMNISTDirectory)).")
    var data: String?

    @Option(help: "Which split: test or train.")
    var split: String = "test"

    @Option(help: "Worker threads (default: all online cores).")
    var threads: Int = ComputeThreads.onlineCores

    @OptionGroup var checkpointCheck: CheckpointCheckOptions

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        try requireBound("--threads", threads, FlagBounds.threads)
        guard split == "test" || split == "train" else { throw ValidationError("--split is test or train, got \(split)") }
        if dataset == .synthetic { throw ValidationError("--dataset synthetic has nothing to evaluate against") }
        if dataset != .fashionMNIST && data == nil { throw ValidationError("--dataset \(dataset.rawValue) needs --data PATH") }
    }

    func run() throws {
        let model = try checkpointCheck.load(checkpoint)
        let part: DatasetSplit = split == "train" ? .train : .test
        let set: ImageDataset
        switch dataset {
        case .fashionMNIST: set = try Datasets.fashionMNIST(directory: data ?? Datasets.fashionMNISTDirectory, split: part)
        case .cifar10: set = try Datasets.cifar10(directory: data!, split: part)
        case .folder, .synthetic: set = try Datasets.folder(data!, shape: model.network.config.inputShape)
        }
        let result = try Evaluation.run(model.network, on: set, mean: model.preprocessor.mean, std: model.preprocessor.std,
                                        EngineContext(threads: ComputeThreads(threads)))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
            return
        }
        print(String(format: "%@ on %@ (%d images): accuracy %.2f%%, loss %.4f", checkpoint, set.source, result.images,
                     100 * result.accuracy, result.loss))
        let names = model.labels
        let width = max(12, (names.map(\.count).max() ?? 0) + 2)
        print("per class:")
        for (c, name) in names.enumerated() {
            print("  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: "%6.2f%%", 100 * result.perClassAccuracy[c]))
        }
        print("confusion matrix (rows: true class, columns: predicted):")
        print("  " + "".padding(toLength: width, withPad: " ", startingAt: 0) + (0..<names.count).map { String(format: "%6d", $0) }.joined())
        for (c, row) in result.confusion.enumerated() {
            print("  " + "\(c) \(names[c])".padding(toLength: width, withPad: " ", startingAt: 0) + row.map { String(format: "%6d", $0) }.joined())
        }
    }
}
