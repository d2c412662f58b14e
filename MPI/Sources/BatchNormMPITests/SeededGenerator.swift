/// SplitMix64: every rank seeds it alike and so draws the same whole batch, from which it takes its
/// own part (the same generator as the core package's tests).
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

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
