// NetworkBenchmark: in-process throughput of a network on random weights and random images, for
// inference and for training steps (forward, backward, SGD update) in either memory mode, with
// the memory figures the reversible engine is about. `revserve bench infer|train` prints it.

import RevNet
import Tensor
import Training

public struct NetworkBenchmarkResult: Sendable, Codable {
    public var task: String                 // "infer" or "train"
    public var architecture: String
    public var unitBlocks: [Int]
    public var unitChannels: [Int]
    public var inputShape: [Int]
    public var batch: Int
    public var threads: Int
    public var memoryMode: String?          // train only
    public var repeats: Int
    public var medianSeconds: Double
    public var imagesPerSecond: Double
    /// Forward FLOPs per image (convolutions and FC).
    public var flopsPerImage: Double
    /// Model FLOP rate: forward FLOPs for inference, 3× forward per image for a training step
    /// (forward + backward), whatever the memory mode: the reversible mode's extra
    /// reconstruction work shows up as a lower rate.
    public var gflops: Double
    /// A 2048³ sgemm on the same threads, measured in the same process (median GFLOP/s).
    public var referenceSgemmGflops: Double
    public var parameterCount: Int
    public var peakResidentBytes: Int?
    public var parameterBytes: Int
    public var gradientBytes: Int
    public var optimizerBytes: Int
    /// Peak resident memory minus parameters, gradients and optimiser state.
    public var activationBytes: Int?
    /// Bytes the engine held between forward and backward (train only).
    public var engineKeptBytes: Int?
}

public enum NetworkBenchmark {
    /// Median time of `repeats` batches after `warmup` untimed ones, inference mode.
    public static func infer(config: NetworkConfig, batch: Int, threads: ComputeThreads,
                             warmup: Int = 2, repeats: Int = 10, seed: UInt64 = 1) throws -> NetworkBenchmarkResult {
        let net = try Network(config: config, seed: seed)
        let x = randomBatch(config, batch, seed)
        let ctx = EngineContext(threads: threads)
        let t = try median(warmup: warmup, repeats: repeats, threads: threads) { _ = try net.logits(x, ctx) }
        return result("infer", net, batch: batch, threads: threads, mode: nil, repeats: repeats, seconds: t,
                      flopFactor: 1, gradientBytes: 0, optimizerBytes: 0, kept: nil)
    }

    /// Median time of full training steps (forward, backward, SGD update).
    public static func train(config: NetworkConfig, batch: Int, threads: ComputeThreads, mode: MemoryMode,
                             warmup: Int = 1, repeats: Int = 5, seed: UInt64 = 1) throws -> NetworkBenchmarkResult {
        var net = try Network(config: config, seed: seed)
        let x = randomBatch(config, batch, seed)
        var rng = SeededGenerator(seed: seed &+ 1)
        let labels = (0..<batch).map { _ in Int(rng.next() % UInt64(config.numClasses)) }
        var gradients = net.weights.zeros()
        var sgd = SGD(for: net, learningRate: 0.01)
        let ctx = EngineContext(threads: threads)
        var kept = 0
        let t = try median(warmup: warmup, repeats: repeats, threads: threads) {
            gradients.zero()
            kept = try net.trainingStep(x, labels: labels, mode: mode, gradients: &gradients, ctx).keptBytes
            sgd.step(&net.weights, gradients: gradients)
        }
        return result("train", net, batch: batch, threads: threads, mode: mode, repeats: repeats, seconds: t,
                      flopFactor: 3, gradientBytes: gradients.bytes, optimizerBytes: sgd.stateBytes, kept: kept)
    }

    private static func randomBatch(_ config: NetworkConfig, _ batch: Int, _ seed: UInt64) -> Tensor {
        var rng = SeededGenerator(seed: seed &+ 2)
        return Tensor.randomNormal([batch] + config.inputShape, using: &rng)
    }

    /// Median seconds of `body`, the peak resident memory right after, and the median GFLOP/s
    /// of a reference sgemm on the same threads, run three times before and three times after
    /// the batches (not interleaved: its 48 MiB of matrices would evict the network's data from
    /// cache before every batch and count in the peak resident memory).
    private static func median(warmup: Int, repeats: Int, threads: ComputeThreads, _ body: () throws -> Void)
        throws -> (seconds: Double, sgemmGflops: Double, peak: Int?) {
        var rates: [Double] = []
        func measureReference() {
            let reference = ReferenceSgemm(threads: threads)
            reference.run()   // warm-up
            for _ in 0..<3 { rates.append(reference.flops / 1e9 / time(reference.run)) }
        }
        for _ in 0..<warmup { try body() }
        var times: [Double] = []
        for _ in 0..<max(1, repeats) { times.append(try time(body)) }
        let peak = ProcessMemory.peakResidentBytes
        measureReference()
        return (times.sorted()[times.count / 2], rates.sorted()[rates.count / 2], peak)
    }

    private static func time(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    private static func result(_ task: String, _ net: Network, batch: Int, threads: ComputeThreads, mode: MemoryMode?,
                               repeats: Int, seconds t: (seconds: Double, sgemmGflops: Double, peak: Int?), flopFactor: Double, gradientBytes: Int,
                               optimizerBytes: Int, kept: Int?) -> NetworkBenchmarkResult {
        let c = net.config, peak = t.peak
        let parameterBytes = net.weights.bytes
        return NetworkBenchmarkResult(
            task: task, architecture: c.architecture, unitBlocks: c.unitBlocks, unitChannels: c.unitChannels,
            inputShape: c.inputShape, batch: batch, threads: threads.count, memoryMode: mode?.rawValue,
            repeats: repeats, medianSeconds: t.seconds, imagesPerSecond: Double(batch) / t.seconds,
            flopsPerImage: net.flopsPerImage, gflops: flopFactor * net.flopsPerImage * Double(batch) / t.seconds / 1e9,
            referenceSgemmGflops: t.sgemmGflops,
            parameterCount: net.parameterCount, peakResidentBytes: peak, parameterBytes: parameterBytes,
            gradientBytes: gradientBytes, optimizerBytes: optimizerBytes,
            activationBytes: peak.map { $0 - parameterBytes - gradientBytes - optimizerBytes }, engineKeptBytes: kept)
    }
}
