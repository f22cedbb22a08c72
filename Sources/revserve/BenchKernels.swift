// `revserve bench kernels`: GFLOP/s of conv, transposed conv and the weight gradient on the
// hamiltonian-74 shapes, next to a large sgemm measured in the same run on the same threads.

import ArgumentParser
import Benchmarks
import Foundation
import Tensor

struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Time the convolution kernels against a large sgemm on the same threads.",
        discussion: """
            Shapes are those of hamiltonian-74 (C = 16, 32, 56 per half at 32×32, 16×16, 8×8).

            Example:
              revserve bench kernels --threads 2 --batch 64 --json
            """)

    @Option(help: "Worker threads (default: all online cores).")
    var threads: Int = ComputeThreads.onlineCores

    @Option(help: "Batch size.")
    var batch: Int = 64

    @Option(help: "Timed rounds; each round runs the sgemm and every kernel once (medians are reported).")
    var rounds: Int = 30

    @Option(help: "Size of the square reference sgemm.")
    var sgemmSize: Int = 2048

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        try requireBound("--threads", threads, FlagBounds.threads)
        try requireBound("--batch", batch, FlagBounds.batch)
        try requireBound("--rounds", rounds, FlagBounds.repeats)
        try requireBound("--sgemm-size", sgemmSize, FlagBounds.sgemmSize)
    }

    func run() throws {
        let report = try KernelBenchmark.run(
            shapes: KernelBenchmark.hamiltonian74Shapes.map { (channels: $0.0, size: $0.1) },
            batch: batch, sgemmSize: sgemmSize, threads: ComputeThreads(threads), rounds: rounds)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        let reference = report.sgemm
        print("threads: \(threads)   rounds: \(rounds)   reference \(reference.kernel): \(fmt(reference.gflops)) GFLOP/s")
        print(pad("kernel", 18) + pad("input (N,C,H,W)", 20) + pad("ms", 10) + pad("GFLOP/s", 10) + "of sgemm")
        for r in report.kernels {
            let shape = r.shape.map(String.init).joined(separator: ",")
            print(pad(r.kernel, 18) + pad(shape, 20) + pad(fmt(r.medianSeconds * 1e3), 10)
                  + pad(fmt(r.gflops), 10) + fmt(100 * r.gflops / reference.gflops) + "%")
        }
    }

    private func fmt(_ v: Double) -> String { String(format: "%.1f", v) }
    private func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: Swift.max(n, s.count + 1), withPad: " ", startingAt: 0) }
}
