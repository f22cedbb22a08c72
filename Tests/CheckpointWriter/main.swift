// checkpoint-writer: a test helper that rewrites one checkpoint over and over (generation k has
// every weight equal to k) until it is killed. FormatsTests kill it with SIGKILL at random
// moments and check that the file at the path is always a complete checkpoint.
// Usage: checkpoint-writer PATH

import Formats
import Tensor
#if canImport(Glibc)
import Glibc
#endif

let path = CommandLine.arguments[1]
let layout: [(String, [Int])] = [("stem/conv/weight", [16, 3, 3, 3]), ("units/0/blocks/0/K", [64, 64, 3, 3]),
                                 ("head/fc/weight", [10, 64])]
var generation = 0
while true {
    generation += 1
    let weights = layout.map { NamedTensor($0.0, Tensor(repeating: Float(generation), shape: $0.1)) }
    let config = CheckpointConfig(architecture: "toy", inputShape: [3, 8, 8], numClasses: 10, unitChannels: [64],
                                  unitBlocks: [1], h: 0.1, mean: [0, 0, 0], std: [1, 1, 1])
    let checkpoint = Checkpoint(config: config, labels: (0..<10).map { "c\($0)" }, weights: weights)
    do {
        try CheckpointFile.write(checkpoint, to: path)
    } catch {
        print("checkpoint-writer: \(error)")
        exit(1)
    }
}
