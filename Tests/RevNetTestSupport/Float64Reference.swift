// Float64Reference: an independent double-precision implementation of the networks, written
// straight from docs/spec/NETWORKS.md with a tiny reverse-mode autodiff, so that the engine's hand-derived
// backward passes (both memory modes) are compared with gradients nobody derived by hand.
// Naive loops everywhere: it is for tiny test networks only.

import RevNet
import Tensor

/// A node of the autodiff graph: a double tensor, its gradient and how to push it to its inputs.
public final class DVar {
    var value: [Double]
    let shape: [Int]
    var grad: [Double]
    var backward: (() -> Void)?

    init(_ value: [Double], _ shape: [Int]) {
        self.value = value
        self.shape = shape
        self.grad = [Double](repeating: 0, count: value.count)
    }
}

/// Records nodes in creation order; `backpropagate` walks them in reverse.
public final class DGraph {
    private var nodes: [DVar] = []

    public init() {}

    /// Each node's backward closure holds the node itself: break those cycles with the graph
    /// (LeakSanitizer found every graph of the suite leaked before).
    deinit { for n in nodes { n.backward = nil } }

    public func leaf(_ t: Tensor) -> DVar { record(DVar(t.data.map(Double.init), t.shape)) }

    @discardableResult
    func record(_ v: DVar) -> DVar { nodes.append(v); return v }

    func backpropagate(from loss: DVar) {
        loss.grad[0] = 1
        for n in nodes.reversed() { n.backward?() }
    }

    // MARK: elementwise

    /// Σ cᵢ·xᵢ for same-shaped inputs.
    func linear(_ terms: [(Double, DVar)]) -> DVar {
        let shape = terms[0].1.shape
        var out = [Double](repeating: 0, count: terms[0].1.value.count)
        for (c, x) in terms { for i in out.indices { out[i] += c * x.value[i] } }
        let y = record(DVar(out, shape))
        y.backward = { for (c, x) in terms { for i in y.grad.indices { x.grad[i] += c * y.grad[i] } } }
        return y
    }

    func relu(_ x: DVar) -> DVar {
        let y = record(DVar(x.value.map { max($0, 0) }, x.shape))
        y.backward = { for i in y.grad.indices where x.value[i] > 0 { x.grad[i] += y.grad[i] } }
        return y
    }

    // MARK: convolutions, by definition

    /// conv(x, W) + b: x (N, Ci, H, W), W (Co, Ci, 3, 3), b (Co) or nil.
    func conv(_ x: DVar, _ w: DVar, _ b: DVar? = nil) -> DVar {
        let (n, ci, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]), co = w.shape[0]
        var out = [Double](repeating: 0, count: n * co * h * wd)
        forEachTap(n, ci, co, h, wd) { o, i, k in out[o] += w.value[k] * x.value[i] }
        if let b { for idx in out.indices { out[idx] += b.value[(idx / (h * wd)) % co] } }
        let y = record(DVar(out, [n, co, h, wd]))
        y.backward = { [unowned self] in   // the graph owns its nodes; no cycle back to it
            forEachTap(n, ci, co, h, wd) { o, i, k in
                x.grad[i] += w.value[k] * y.grad[o]
                w.grad[k] += x.value[i] * y.grad[o]
            }
            if let b { for idx in y.grad.indices { b.grad[(idx / (h * wd)) % co] += y.grad[idx] } }
        }
        return y
    }

    /// convT(u, W): u (N, Co, H, W) → (N, Ci, H, W), the scatter of every u pixel through W.
    func convTranspose(_ u: DVar, _ w: DVar) -> DVar {
        let (n, co, h, wd) = (u.shape[0], u.shape[1], u.shape[2], u.shape[3]), ci = w.shape[1]
        var out = [Double](repeating: 0, count: n * ci * h * wd)
        // conv reads x at i into output o through tap k; the transpose sends u at o to i.
        forEachTap(n, ci, co, h, wd) { o, i, k in out[i] += w.value[k] * u.value[o] }
        let y = record(DVar(out, [n, ci, h, wd]))
        y.backward = { [unowned self] in   // the graph owns its nodes; no cycle back to it
            forEachTap(n, ci, co, h, wd) { o, i, k in
                u.grad[o] += w.value[k] * y.grad[i]
                w.grad[k] += u.value[o] * y.grad[i]
            }
        }
        return y
    }

    /// Calls body(outputIndex, inputIndex, weightIndex) for every term of a 3×3, pad-1 convolution.
    private func forEachTap(_ n: Int, _ ci: Int, _ co: Int, _ h: Int, _ w: Int, _ body: (Int, Int, Int) -> Void) {
        for b in 0..<n { for o in 0..<co { for y in 0..<h { for x in 0..<w {
            for c in 0..<ci { for kh in 0..<3 { for kw in 0..<3 {
                let iy = y + kh - 1, ix = x + kw - 1
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                body(((b * co + o) * h + y) * w + x, ((b * ci + c) * h + iy) * w + ix, ((o * ci + c) * 3 + kh) * 3 + kw)
            } } }
        } } } }
    }

    // MARK: normalisation, pooling, reshaping

    /// Training-mode batch norm with batch statistics (biased variance).
    func batchNorm(_ x: DVar, _ gamma: DVar, _ beta: DVar, eps: Double) -> DVar {
        let (n, c, hw) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3]), m = Double(n * hw)
        func at(_ i: Int, _ ch: Int, _ j: Int) -> Int { (i * c + ch) * hw + j }
        var mean = [Double](repeating: 0, count: c), inv = mean, out = x.value
        for ch in 0..<c {
            var s = 0.0
            for i in 0..<n { for j in 0..<hw { s += x.value[at(i, ch, j)] } }
            mean[ch] = s / m
            var v = 0.0
            for i in 0..<n { for j in 0..<hw { let d = x.value[at(i, ch, j)] - mean[ch]; v += d * d } }
            inv[ch] = 1 / (v / m + eps).squareRoot()
            for i in 0..<n { for j in 0..<hw {
                out[at(i, ch, j)] = gamma.value[ch] * (x.value[at(i, ch, j)] - mean[ch]) * inv[ch] + beta.value[ch]
            } }
        }
        let y = record(DVar(out, x.shape))
        y.backward = {
            for ch in 0..<c {
                // Differentiate y = γ·(x − μ)·(σ² + eps)^(−1/2) + β through μ and σ² explicitly.
                var dInv = 0.0, dMean = 0.0
                for i in 0..<n { for j in 0..<hw {
                    let k = at(i, ch, j), xc = x.value[k] - mean[ch]
                    gamma.grad[ch] += y.grad[k] * xc * inv[ch]
                    beta.grad[ch] += y.grad[k]
                    dInv += y.grad[k] * gamma.value[ch] * xc
                    dMean -= y.grad[k] * gamma.value[ch] * inv[ch]
                } }
                let dVar = dInv * (-0.5) * inv[ch] * inv[ch] * inv[ch]
                var sumCentered = 0.0
                for i in 0..<n { for j in 0..<hw { sumCentered += x.value[at(i, ch, j)] - mean[ch] } }
                dMean += dVar * (-2 / m) * sumCentered
                for i in 0..<n { for j in 0..<hw {
                    let k = at(i, ch, j)
                    x.grad[k] += y.grad[k] * gamma.value[ch] * inv[ch] + dVar * 2 * (x.value[k] - mean[ch]) / m + dMean / m
                } }
            }
        }
        return y
    }

    /// Eval-mode batch norm: running statistics, no gradient needed.
    func batchNormEval(_ x: DVar, _ gamma: DVar, _ beta: DVar, _ mean: DVar, _ variance: DVar, eps: Double) -> DVar {
        let (c, hw) = (x.shape[1], x.shape[2] * x.shape[3])
        var out = x.value
        for idx in out.indices {
            let ch = (idx / hw) % c
            out[idx] = gamma.value[ch] * (x.value[idx] - mean.value[ch]) / (variance.value[ch] + eps).squareRoot() + beta.value[ch]
        }
        return record(DVar(out, x.shape))
    }

    func avgPool(_ x: DVar) -> DVar {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]), (oh, ow) = (h / 2, w / 2)
        var out = [Double](repeating: 0, count: n * c * oh * ow)
        var sources: [[Int]] = []
        for p in 0..<(n * c) { for i in 0..<oh { for j in 0..<ow {
            let s = [0, 1].flatMap { a in [0, 1].map { b in (p * h + 2 * i + a) * w + 2 * j + b } }
            out[(p * oh + i) * ow + j] = s.reduce(0) { $0 + x.value[$1] } / 4
            sources.append(s)
        } } }
        let y = record(DVar(out, [n, c, oh, ow]))
        y.backward = { for (o, s) in sources.enumerated() { for i in s { x.grad[i] += y.grad[o] / 4 } } }
        return y
    }

    /// Channels [from, to) of x.
    func slice(_ x: DVar, _ from: Int, _ to: Int) -> DVar {
        let (n, c, hw) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3]), k = to - from
        var map: [Int] = []
        for i in 0..<n { for ch in from..<to { for j in 0..<hw { map.append((i * c + ch) * hw + j) } } }
        let y = record(DVar(map.map { x.value[$0] }, [n, k, x.shape[2], x.shape[3]]))
        y.backward = { for (o, i) in map.enumerated() { x.grad[i] += y.grad[o] } }
        return y
    }

    /// Channel concatenation, with `zeros` channels inserted before/after a part where asked.
    func concat(_ parts: [(before: Int, x: DVar, after: Int)]) -> DVar {
        let (n, h, w) = (parts[0].x.shape[0], parts[0].x.shape[2], parts[0].x.shape[3]), hw = h * w
        let total = parts.reduce(0) { $0 + $1.before + $1.x.shape[1] + $1.after }
        var out = [Double](repeating: 0, count: n * total * hw)
        var links: [(DVar, Int, Int)] = []          // (source, source index, output index)
        for i in 0..<n {
            var ch = 0
            for p in parts {
                ch += p.before
                for c in 0..<p.x.shape[1] { for j in 0..<hw {
                    links.append((p.x, (i * p.x.shape[1] + c) * hw + j, (i * total + ch + c) * hw + j))
                } }
                ch += p.x.shape[1] + p.after
            }
        }
        for (x, s, o) in links { out[o] = x.value[s] }
        let y = record(DVar(out, [n, total, h, w]))
        y.backward = { for (x, s, o) in links { x.grad[s] += y.grad[o] } }
        return y
    }

    /// Global average pool and the FC layer, then the mean softmax cross-entropy.
    func headLoss(_ x: DVar, _ fcW: DVar, _ fcB: DVar, labels: [Int]) -> DVar {
        let (n, c, hw) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3]), k = fcW.shape[0]
        var pooled = [Double](repeating: 0, count: n * c)
        for i in 0..<(n * c) { for j in 0..<hw { pooled[i] += x.value[i * hw + j] / Double(hw) } }
        var logits = [Double](repeating: 0, count: n * k)
        for i in 0..<n { for o in 0..<k {
            logits[i * k + o] = fcB.value[o] + (0..<c).reduce(0) { $0 + fcW.value[o * c + $1] * pooled[i * c + $1] }
        } }
        var loss = 0.0, dLogits = logits
        for i in 0..<n {
            let row = logits[(i * k)..<((i + 1) * k)], m = row.max()!
            let z = row.reduce(0) { $0 + _exp64($1 - m) }
            loss += m + _log64(z) - logits[i * k + labels[i]]
            for o in 0..<k { dLogits[i * k + o] = (_exp64(logits[i * k + o] - m) / z - (o == labels[i] ? 1 : 0)) / Double(n) }
        }
        let y = record(DVar([loss / Double(n)], [1]))
        y.backward = {
            let g = y.grad[0]
            for i in 0..<n { for o in 0..<k {
                let d = g * dLogits[i * k + o]
                fcB.grad[o] += d
                for ch in 0..<c {
                    fcW.grad[o * c + ch] += d * pooled[i * c + ch]
                    for j in 0..<hw { x.grad[(i * c + ch) * hw + j] += d * fcW.value[o * c + ch] / Double(hw) }
                }
            } }
        }
        return y
    }
}

#if canImport(Glibc)
import Glibc
func _exp64(_ x: Double) -> Double { exp(x) }
func _log64(_ x: Double) -> Double { log(x) }
#endif

/// The loss, its gradient for every weight (by name) and for the input, in float64.
public struct Float64Gradients {
    public var loss: Double
    public var weights: [String: [Double]]
    public var input: [Double]
}

/// Evaluates a network's training-mode loss in float64 from docs/spec/NETWORKS.md and differentiates it.
public func float64Gradients(_ net: Network, _ x: Tensor, _ labels: [Int]) -> Float64Gradients {
    let g = DGraph()
    var leaves: [String: DVar] = [:]
    for (name, t) in zip(net.weights.names, net.weights.tensors) { leaves[name] = g.leaf(t) }
    let input = g.leaf(x)
    let features = float64Features(net, g, leaves, input, eval: false)
    let loss = g.headLoss(features, leaves["head/fc/weight"]!, leaves["head/fc/bias"]!, labels: labels)
    g.backpropagate(from: loss)
    return Float64Gradients(loss: loss.value[0], weights: leaves.mapValues(\.grad), input: input.grad)
}

/// Eval-mode logits (N × classes, row-major) in float64: batch norm with running statistics.
public func float64Logits(_ net: Network, _ x: Tensor) -> [Double] {
    let g = DGraph()
    var leaves: [String: DVar] = [:]
    for (name, t) in zip(net.weights.names, net.weights.tensors) { leaves[name] = g.leaf(t) }
    let f = float64Features(net, g, leaves, g.leaf(x), eval: true)
    let (n, c, hw) = (f.shape[0], f.shape[1], f.shape[2] * f.shape[3])
    let w = leaves["head/fc/weight"]!, b = leaves["head/fc/bias"]!, k = w.shape[0]
    var logits = [Double](repeating: 0, count: n * k)
    for i in 0..<n {
        for o in 0..<k {
            var s = b.value[o]
            for ch in 0..<c {
                var mean = 0.0
                for j in 0..<hw { mean += f.value[(i * c + ch) * hw + j] }
                s += w.value[o * c + ch] * mean / Double(hw)
            }
            logits[i * k + o] = s
        }
    }
    return logits
}

/// Everything up to the head's ReLU output, following docs/spec/NETWORKS.md step by step.
func float64Features(_ net: Network, _ g: DGraph, _ leaves: [String: DVar], _ input: DVar, eval: Bool) -> DVar {
    let c = net.config, hStep = Double(c.h), eps = Double(c.bnEps)
    func w(_ name: String) -> DVar { leaves[name]! }
    func bn(_ x: DVar, _ prefix: String) -> DVar {
        eval ? g.batchNormEval(x, w(prefix + "/weight"), w(prefix + "/bias"), w(prefix + "/running_mean"), w(prefix + "/running_var"), eps: eps)
             : g.batchNorm(x, w(prefix + "/weight"), w(prefix + "/bias"), eps: eps)
    }
    var a = g.relu(bn(g.conv(input, w("stem/conv/weight")), "stem/bn"))
    for u in 0..<c.units {
        let width = c.unitChannels[u]
        func p(_ j: Int, _ name: String) -> DVar { w("units/\(u)/blocks/\(j)/\(name)") }
        switch c.architecture {
        case "hamiltonian":
            var y = g.slice(a, 0, width / 2), z = g.slice(a, width / 2, width)
            for j in 0..<c.unitBlocks[u] {
                let f1 = g.convTranspose(g.relu(g.conv(z, p(j, "K1"), p(j, "b1"))), p(j, "K1"))
                y = g.linear([(1, y), (hStep, f1)])
                let f2 = g.convTranspose(g.relu(g.conv(y, p(j, "K2"), p(j, "b2"))), p(j, "K2"))
                z = g.linear([(1, z), (-hStep, f2)])
            }
            a = g.concat([(0, y, 0), (0, z, 0)])
        case "midpoint":
            func f(_ j: Int, _ v: DVar) -> DVar {
                g.relu(g.linear([(1, g.conv(v, p(j, "K"), p(j, "b"))), (-1, g.convTranspose(v, p(j, "K")))]))
            }
            var previous = a, current = g.linear([(1, a), (hStep, f(0, a))])
            for j in 1..<max(1, c.unitBlocks[u]) {
                (previous, current) = (current, g.linear([(1, previous), (2 * hStep, f(j, current))]))
            }
            a = current
        default:  // leapfrog
            func gfun(_ j: Int, _ v: DVar) -> DVar {
                g.convTranspose(g.relu(g.conv(v, p(j, "K"), p(j, "b"))), p(j, "K"))
            }
            var previous = a, current = g.linear([(1, a), (-hStep * hStep, gfun(0, a))])
            for j in 1..<max(1, c.unitBlocks[u]) {
                (previous, current) = (current, g.linear([(2, current), (-1, previous), (-hStep * hStep, gfun(j, current))]))
            }
            a = current
        }
        if u + 1 < c.units {
            let pooled = g.avgPool(a)
            let extra = c.unitChannels[u + 1] - width
            if c.architecture == "hamiltonian" {
                a = g.concat([(extra / 4, g.slice(pooled, 0, width / 2), extra / 4),
                              (extra / 4, g.slice(pooled, width / 2, width), extra / 4)])
            } else {
                a = g.concat([(extra / 2, pooled, extra / 2)])
            }
        }
    }
    return g.relu(bn(a, "head/bn"))
}
