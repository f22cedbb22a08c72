// `revserve bench`: in-process measurements of networks (infer, train) and kernels.

import ArgumentParser

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure revserve in-process: whole networks (infer, train) or kernels.",
        subcommands: [BenchInfer.self, BenchTrain.self, BenchKernels.self])
}
