// `revserve predict`: classify PNG files in-process with a checkpoint, no daemon.

import ArgumentParser
import Server
import Foundation
import Formats
import RevNet
import Tensor
import Training

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify PNG images with a checkpoint, in-process.",
        discussion: """
            Prints 'file: label (probability)' per image, or with --json an array of objects with \
            file, logits, probabilities and top. Images are decoded, converted to the model's \
            channels and size, and normalised as the checkpoint says (see docs/FORMATS.md).

            Example:
              revserve predict --checkpoint models/hamiltonian/1/model.h5 --top 3 \\
                  samples/*.png
            """)

    @Option(help: "The checkpoint (.h5) to classify with.")
    var checkpoint: String

    @Option(help: "How many classes to show per image.")
    var top: Int = 1

    @Flag(help: "Print JSON.")
    var json = false

    @Option(help: "Worker threads (default: all online cores).")
    var threads: Int = ComputeThreads.onlineCores

    @Option(help: "Largest image accepted, in pixels (width × height).")
    var maxImagePixels: Int = PNG.defaultMaxPixels

    @OptionGroup var checkpointCheck: CheckpointCheckOptions

    @Argument(help: "PNG files.")
    var files: [String]

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one PNG file") }
        try requireBound("--top", top, FlagBounds.top)
        try requireBound("--threads", threads, FlagBounds.threads)
        try requireBound("--max-image-pixels", maxImagePixels, RequestLimits.maxImagePixelsBound)
    }

    func run() throws {
        let model = try checkpointCheck.load(checkpoint)
        var inputs: [(file: String, values: [Float])] = []
        var failed = false
        for file in files {
            do {
                let image = try PNG.decodeFile(file, maxPixels: maxImagePixels)
                inputs.append((file, try model.preprocessor.input(from: image, name: file)))
            } catch {
                printError("\(error)")
                failed = true
            }
        }
        if !inputs.isEmpty {
            let x = try Tensor(shape: [inputs.count] + model.network.config.inputShape, data: inputs.flatMap(\.values))
            let logits = try model.network.logits(x, EngineContext(threads: ComputeThreads(threads)))
            let probabilities = try SoftmaxCrossEntropy.softmax(logits)
            try output(inputs.map(\.file), logits, probabilities, labels: model.labels)
        }
        if failed { throw ExitCode.failure }
    }

    private func output(_ files: [String], _ logits: Tensor, _ probabilities: Tensor, labels: [String]) throws {
        let k = labels.count
        var results: [PredictionJSON] = []
        for (i, file) in files.enumerated() {
            let p = Array(probabilities.data[(i * k)..<((i + 1) * k)])
            let ranked = p.indices.sorted { p[$0] > p[$1] }.prefix(top)
            results.append(PredictionJSON(file: file, logits: Array(logits.data[(i * k)..<((i + 1) * k)]), probabilities: p,
                                          top: ranked.map { .init(label: labels[$0], index: $0, probability: p[$0]) }))
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
        } else {
            for r in results {
                print("\(r.file): " + r.top.map { String(format: "%@ (%.3f)", $0.label, $0.probability) }.joined(separator: ", "))
            }
        }
    }
}

struct PredictionJSON: Codable {
    struct Class: Codable {
        var label: String
        var index: Int
        var probability: Float
    }
    var file: String
    var logits: [Float]
    var probabilities: [Float]
    var top: [Class]
}

/// One line on standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data(("error: " + message + "\n").utf8))
}
