// Probabilities: class probabilities from a model's logits, for answers that carry them: the
// engine's row-wise softmax (max-subtracted), so the server never calls a kernel itself.

import Tensor

public enum Probabilities {
    /// softmax of each row of n × classes logits; the logits themselves if they are not n × classes.
    public static func softmax(_ logits: [Float], classes: Int) -> [Float] {
        guard classes > 0, logits.count % classes == 0 else { return logits }
        return (try? SoftmaxCrossEntropy.softmax(Tensor(shape: [logits.count / classes, classes], data: logits)).data) ?? logits
    }
}
