// `revserve inspect`: what a checkpoint holds, and how stable and reversible its units are.

import ArgumentParser
import Foundation
import Formats
import RevNet
import Tensor
import Training

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a checkpoint: architecture, shapes, labels, history, stability.",
        discussion: """
            Example:
              revserve inspect models/hamiltonian/1/model.h5
            """)

    @Argument(help: "The checkpoint (.h5).")
    var checkpoint: String

    @OptionGroup var checkpointCheck: CheckpointCheckOptions

    @Option(help: "Power-iteration steps per weight for the ‖K‖ estimates.")
    var iterations: Int = 20

    func validate() throws {
        try requireBound("--iterations", iterations, FlagBounds.repeats)
    }

    func run() throws {
        let model = try checkpointCheck.load(checkpoint)
        let net = model.network, c = net.config, cp = model.checkpoint
        print("\(checkpoint)")
        print("  architecture   \(c.architecture), \(c.units) units, h = \(c.h), batch-norm eps = \(c.bnEps)")
        print("  parameters     \(net.parameterCount) trainable (\(net.weights.scalarCount) values with running statistics)")
        print("  input          \(c.inputShape.map(String.init).joined(separator: "×")) (C×H×W), \(c.numClasses) classes")
        print("  normalisation  mean \(fmt(cp.config.mean)), std \(fmt(cp.config.std)) after scaling pixels to [0, 1]")
        print("  labels         \(model.labels.joined(separator: ", "))")
        print("  units")
        for u in 0..<c.units {
            let (h, w) = c.resolution(unit: u)
            let params = net.architecture.blockParameters(width: c.unitChannels[u])
                .map { "\($0.name) \($0.shape.map(String.init).joined(separator: "×"))" }.joined(separator: ", ")
            print("    \(u): \(c.unitBlocks[u]) blocks, width \(c.unitChannels[u]), \(h)×\(w); per block \(params)")
        }
        if let o = cp.optimizer {
            print("  optimiser      step \(o.step), epoch \(o.epoch), lr \(o.learningRate), \(o.buffers.count) momentum buffers")
        }
        if let t = cp.training {
            let attributes = t.attributes.sorted { $0.key < $1.key }.map { "\($0.key) \(describe($0.value))" }
            print("  training       \(attributes.joined(separator: ", "))")
            let series = t.history.keys.sorted()
            let epochs = t.history.values.map(\.count).max() ?? 0
            if epochs > 0 {
                print("    epoch  " + series.map { $0.padding(toLength: 16, withPad: " ", startingAt: 0) }.joined())
                for e in 0..<epochs {
                    let cells = series.map { name -> String in
                        let v = t.history[name]!
                        return (e < v.count ? String(format: "%.4f", v[e]) : "").padding(toLength: 16, withPad: " ", startingAt: 0)
                    }
                    print("    " + String(e + 1).padding(toLength: 7, withPad: " ", startingAt: 0) + cells.joined())
                }
            }
        }
        print("  stability (largest h·‖K‖ by power iteration; round trip inverse(forward(x)) on x ~ N(0,1))")
        for s in try net.stabilityReport(iterations: iterations) {
            print(String(format: "    unit %d: max h·‖K‖ = %.4f, round-trip error %.2e", s.unit, s.maxStepNorm, s.roundTripError))
        }
    }

    private func fmt(_ v: [Float]) -> String { "[" + v.map { String(format: "%.4f", $0) }.joined(separator: ", ") + "]" }

    private func describe(_ v: AttributeValue) -> String {
        switch v {
        case .int(let x): return String(x)
        case .ints(let x): return x.map(String.init).joined(separator: ",")
        case .float(let x): return String(x)
        case .floats(let x): return x.map { String($0) }.joined(separator: ",")
        case .string(let s): return s
        }
    }
}
