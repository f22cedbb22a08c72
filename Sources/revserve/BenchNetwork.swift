// `revserve bench infer` and `revserve bench train`: throughput and memory of whole networks on
// random weights and images.

import ArgumentParser
import Benchmarks
import Foundation
import RevNet
import Tensor
import Training

struct BenchRunOptions: ParsableArguments {
    @Option(help: "Batch size.")
    var batch: Int = 64

    @Option(help: "Worker threads (default: all online cores).")
    var threads: Int = ComputeThreads.onlineCores

    @Option(help: "Untimed warm-up batches.")
    var warmup: Int = 2

    @Option(help: "Timed batches (the median is reported).")
    var repeats: Int = 10

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        try requireBound("--batch", batch, FlagBounds.batch)
        try requireBound("--threads", threads, FlagBounds.threads)
        try requireBound("--warmup", warmup, FlagBounds.warmupRounds)
        try requireBound("--repeats", repeats, FlagBounds.repeats)
    }
}

struct BenchInfer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Inference throughput of a network on random weights.",
        discussion: """
            Example:
              revserve bench infer --preset hamiltonian-74 --input 3,32,32 \\
                  --batch 64 --json
            """)

    @OptionGroup var network: NetworkOptions
    @OptionGroup var options: BenchRunOptions
    @OptionGroup var plugins: PluginOptions

    func run() throws {
        plugins.register()
        let result = try NetworkBenchmark.infer(config: network.config(), batch: options.batch,
                                                threads: ComputeThreads(options.threads),
                                                warmup: options.warmup, repeats: options.repeats)
        try report(result, json: options.json)
    }
}

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training-step throughput and memory of a network on random weights.",
        discussion: """
            A step is forward, backward and an SGD update. --memory reversible keeps only each \
            unit's last state(s); standard keeps every block's activations.

            Example:
              revserve bench train --arch hamiltonian --units 100,100,100 \\
                  --channels 32,64,128 --batch 32 --memory reversible --json
            """)

    @OptionGroup var network: NetworkOptions
    @OptionGroup var options: BenchRunOptions

    @Option(help: "Memory mode: reversible or standard.")
    var memory: MemoryMode = .reversible

    @OptionGroup var plugins: PluginOptions

    func run() throws {
        plugins.register()
        let result = try NetworkBenchmark.train(config: network.config(), batch: options.batch,
                                                threads: ComputeThreads(options.threads), mode: memory,
                                                warmup: min(options.warmup, 1), repeats: options.repeats)
        try report(result, json: options.json)
    }
}

extension MemoryMode: ExpressibleByArgument {}

/// Prints a benchmark result as JSON or as a few readable lines.
func report(_ r: NetworkBenchmarkResult, json: Bool) throws {
    if json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(r), as: UTF8.self))
        return
    }
    func mib(_ b: Int?) -> String { b.map { String(format: "%.1f MiB", Double($0) / 1_048_576) } ?? "n/a" }
    let mode = r.memoryMode.map { " (\($0) memory)" } ?? ""
    print("\(r.task)\(mode): \(r.architecture) units \(r.unitBlocks) widths \(r.unitChannels), input \(r.inputShape), batch \(r.batch), \(r.threads) threads")
    print(String(format: "  %.1f images/s   %.2f ms/batch   %.1f GFLOP/s (%.0f%% of sgemm's %.1f)   %d parameters",
                 r.imagesPerSecond, r.medianSeconds * 1e3, r.gflops, 100 * r.gflops / r.referenceSgemmGflops,
                 r.referenceSgemmGflops, r.parameterCount))
    print("  peak resident \(mib(r.peakResidentBytes)); parameters \(mib(r.parameterBytes)), gradients \(mib(r.gradientBytes)), optimiser \(mib(r.optimizerBytes)); activations \(mib(r.activationBytes))")
    if let kept = r.engineKeptBytes { print("  engine kept between forward and backward: \(mib(kept))") }
}
