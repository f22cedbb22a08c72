// SoftmaxCrossEntropy: softmax over class logits, the mean cross-entropy loss against integer
// labels, and its gradient with respect to the logits.

public enum SoftmaxCrossEntropy {
    /// Row-wise softmax, computed stably (max subtracted). logits: (N, K) → (N, K).
    public static func softmax(_ logits: Tensor) throws(TensorError) -> Tensor {
        guard logits.rank == 2 else {
            throw .shapeMismatch(op: "SoftmaxCrossEntropy.softmax", detail: "logits must be (N, K), got \(logits.shape)")
        }
        let (n, k) = (logits.shape[0], logits.shape[1])
        var p = logits
        p.data.withUnsafeMutableBufferPointer { d in
            for i in 0..<n {
                let row = i * k
                var m = -Float.infinity
                for j in 0..<k { m = Swift.max(m, d[row + j]) }
                var s: Double = 0
                for j in 0..<k { let e = _exp(d[row + j] - m); d[row + j] = e; s += Double(e) }
                let inv = Float(1 / s)
                for j in 0..<k { d[row + j] *= inv }
            }
        }
        return p
    }

    /// Mean over the batch of −log softmax(logits)[label]. Returns the loss and the probabilities
    /// (keep them for `backward`). logits: (N, K); labels: N integers in 0..<K.
    public static func forward(_ logits: Tensor, labels: [Int]) throws(TensorError) -> (loss: Float, probabilities: Tensor) {
        let op = "SoftmaxCrossEntropy.forward"
        try checkLabels(logits, labels, op: op)
        let p = try softmax(logits)
        let k = logits.shape[1]
        var loss = 0.0
        for (i, y) in labels.enumerated() {
            // log-sum-exp form: −logit[y] + m + log Σ exp(logit − m), exact even when p underflows.
            let row = Array(logits.data[(i * k)..<((i + 1) * k)])
            let m = row.max()!
            let lse = Double(m) + _log(row.reduce(0.0) { $0 + Double(_exp($1 - m)) })
            loss += lse - Double(row[y])
        }
        return (Float(loss / Double(Swift.max(labels.count, 1))), p)
    }

    /// d loss / d logits = (softmax − onehot(labels)) / N. probabilities: (N, K) from `forward`.
    public static func backward(probabilities p: Tensor, labels: [Int]) throws(TensorError) -> Tensor {
        try checkLabels(p, labels, op: "SoftmaxCrossEntropy.backward")
        let (n, k) = (p.shape[0], p.shape[1])
        var d = p
        for (i, y) in labels.enumerated() { d.data[i * k + y] -= 1 }
        d.scale(by: 1 / Float(Swift.max(n, 1)))
        return d
    }

    private static func checkLabels(_ logits: Tensor, _ labels: [Int], op: String) throws(TensorError) {
        guard logits.rank == 2, logits.shape[0] == labels.count else {
            throw .shapeMismatch(op: op, detail: "logits must be (N, K) with N = \(labels.count) labels, got \(logits.shape)")
        }
        let k = logits.shape[1]
        if let bad = labels.first(where: { $0 < 0 || $0 >= k }) {
            throw .invalidArgument(op: op, detail: "label \(bad) is outside 0..<\(k)")
        }
    }
}

