// Random: a small seeded generator (xoshiro256**) so that initialisation, augmentation and tests
// are reproducible from one seed on every platform, plus normal and uniform tensor fills.

public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    /// Seeds the four state words from `seed` with SplitMix64, as the xoshiro authors recommend.
    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public mutating func next() -> UInt64 {
        let result = rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// A uniform double in [0, 1) from the top 53 bits.
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// A standard normal sample (Box–Muller; the second value is discarded for simplicity).
    public mutating func nextNormal() -> Double {
        var u1 = nextUnit()
        while u1 <= .leastNormalMagnitude { u1 = nextUnit() }
        let u2 = nextUnit()
        return (-2 * _log(u1)).squareRoot() * _cosine(2 * .pi * u2)
    }
}


extension Tensor {
    /// Normal samples with mean 0 and standard deviation `std`.
    public static func randomNormal(_ shape: [Int], std: Float = 1,
                                    using rng: inout SeededGenerator) -> Tensor {
        var t = Tensor(zeros: shape)
        for i in 0..<t.count { t.data[i] = Float(rng.nextNormal()) * std }
        return t
    }

    /// Uniform samples in [low, high).
    public static func randomUniform(_ shape: [Int], in range: ClosedRange<Float> = -1...1,
                                     using rng: inout SeededGenerator) -> Tensor {
        var t = Tensor(zeros: shape)
        let width = Double(range.upperBound - range.lowerBound)
        for i in 0..<t.count { t.data[i] = range.lowerBound + Float(rng.nextUnit() * width) }
        return t
    }
}
