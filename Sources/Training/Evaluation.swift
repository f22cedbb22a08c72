// Evaluation: accuracy, per-class accuracy, mean loss and the confusion matrix of a network on a
// dataset, in inference mode. Used after every training epoch and by `revserve eval`.

import Formats
import RevNet
import Tensor

public struct EvaluationResult: Sendable, Codable, Equatable {
    public var images: Int
    public var accuracy: Double
    public var loss: Double
    public var classes: [String]
    /// Accuracy per true class (NaN-free: a class with no images reports 0).
    public var perClassAccuracy: [Double]
    /// confusion[true][predicted] counts.
    public var confusion: [[Int]]
}

public enum Evaluation {
    public static func run(_ network: Network, on data: ImageDataset, mean: [Float], std: [Float],
                           batchSize: Int = 200, _ ctx: EngineContext) throws(TrainingError) -> EvaluationResult {
        guard data.shape == network.config.inputShape else {
            throw .data("\(data.source): images are \(data.shape.map(String.init).joined(separator: "×")), the model takes \(network.config.inputShape.map(String.init).joined(separator: "×"))")
        }
        let k = network.config.numClasses
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        var lossSum = 0.0
        for start in stride(from: 0, to: data.count, by: batchSize) {
            let indices = Array(start..<min(data.count, start + batchSize))
            let (x, labels) = data.batch(indices, mean: mean, std: std)
            do {
                let logits = try network.logits(x, ctx)
                let (loss, p) = try SoftmaxCrossEntropy.forward(logits, labels: labels.map { min($0, k - 1) })
                lossSum += Double(loss) * Double(indices.count)
                for (i, label) in labels.enumerated() where label < k {
                    let row = p.data[(i * k)..<((i + 1) * k)]
                    confusion[label][row.indices.max { row[$0] < row[$1] }! - i * k] += 1
                }
            } catch {
                throw .numerics("evaluation failed: \(error)")
            }
        }
        let correct = (0..<k).reduce(0) { $0 + confusion[$1][$1] }
        let perClass = (0..<k).map { c -> Double in
            let n = confusion[c].reduce(0, +)
            return n == 0 ? 0 : Double(confusion[c][c]) / Double(n)
        }
        return EvaluationResult(images: data.count, accuracy: Double(correct) / Double(max(1, data.count)),
                                loss: lossSum / Double(max(1, data.count)), classes: data.classes,
                                perClassAccuracy: perClass, confusion: confusion)
    }
}
