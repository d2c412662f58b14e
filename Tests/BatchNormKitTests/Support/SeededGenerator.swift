/// SplitMix64: a small, seedable generator so that a failing case can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    let seed: UInt64

    init(seed: UInt64) {
        self.seed = seed
        self.state = seed
    }

    /// A fresh seed for each run (fresh random data); tests print it in their failure messages.
    static func fresh() -> SeededGenerator { SeededGenerator(seed: UInt64.random(in: 0...UInt64.max)) }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Array where Element: BinaryFloatingPoint, Element.RawSignificand: FixedWidthInteger {
    /// `count` values uniform in `range`.
    static func random(count: Int, in range: ClosedRange<Element>, using generator: inout SeededGenerator) -> Self {
        (0..<count).map { _ in Element.random(in: range, using: &generator) }
    }
}
