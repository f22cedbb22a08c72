// `revserve bench`: in-process measurements. `bench kernels` times the convolution kernels.

import ArgumentParser

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure revserve's kernels in-process.",
        subcommands: [BenchKernels.self])
}
