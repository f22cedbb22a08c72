// `revserve bench`: in-process measurements of networks (infer, train) and kernels.

import ArgumentParser

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure revserve: whole networks (infer, train) or kernels in-process, or a running daemon under load.",
        subcommands: [BenchInfer.self, BenchTrain.self, BenchKernels.self, BenchLoad.self])
}
