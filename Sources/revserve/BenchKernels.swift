// `revserve bench kernels`: GFLOP/s of conv, transposed conv and the weight gradient on the
// hamiltonian-74 shapes, next to a large sgemm measured in the same run on the same threads.

import ArgumentParser
import Foundation
import Tensor

struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Time the convolution kernels against a large sgemm on the same threads.",
        discussion: """
            Shapes are those of hamiltonian-74 (C = 16, 32, 56 per half at 32×32, 16×16, 8×8).
            Example: revserve bench kernels --threads 2 --batch 64 --json
            """)

    @Option(help: "Worker threads (default: all online cores).")
    var threads: Int = ComputeThreads.onlineCores

    @Option(help: "Batch size.")
    var batch: Int = 64

    @Option(help: "Timed repetitions per kernel (the median is reported).")
    var repeats: Int = 10

    @Option(help: "Size of the square reference sgemm.")
    var sgemmSize: Int = 2048

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
        guard sgemmSize >= 64 else { throw ValidationError("--sgemm-size must be at least 64, got \(sgemmSize)") }
    }

    func run() throws {
        let pool = ComputeThreads(threads)
        let reference = KernelBenchmark.largeSgemm(size: sgemmSize, threads: pool, repeats: repeats)
        var rows: [KernelMeasurement] = []
        for (c, hw) in [(16, 32), (32, 16), (56, 8)] {
            rows += try KernelBenchmark.convolutions(batch: batch, channels: c, size: hw, threads: pool, repeats: repeats)
        }
        if json {
            struct Report: Codable { var threads: Int; var sgemm: KernelMeasurement; var kernels: [KernelMeasurement] }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try encoder.encode(Report(threads: threads, sgemm: reference, kernels: rows))
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("threads: \(threads)   reference \(reference.kernel): \(fmt(reference.gflops)) GFLOP/s")
        print(pad("kernel", 18) + pad("input (N,C,H,W)", 20) + pad("ms", 10) + pad("GFLOP/s", 10) + "of sgemm")
        for r in rows {
            let shape = r.shape.map(String.init).joined(separator: ",")
            print(pad(r.kernel, 18) + pad(shape, 20) + pad(fmt(r.medianSeconds * 1e3), 10)
                  + pad(fmt(r.gflops), 10) + fmt(100 * r.gflops / reference.gflops) + "%")
        }
    }

    private func fmt(_ v: Double) -> String { String(format: "%.1f", v) }
    private func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: Swift.max(n, s.count + 1), withPad: " ", startingAt: 0) }
}
