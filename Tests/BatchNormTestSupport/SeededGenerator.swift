import BatchNormReference

/// The reference package's SplitMix64 with its seed kept, so that a failing case can be replayed.
public struct SeededGenerator: RandomNumberGenerator {
    private var generator: SplitMix64
    /// The seed, printed by failing tests so that the case can be replayed.
    public let seed: UInt64

    /// A generator replaying `seed`.
    public init(seed: UInt64) {
        self.seed = seed
        self.generator = SplitMix64(seed: seed)
    }

    /// A fresh seed for each run (fresh random data); tests print it in their failure messages.
    public static func fresh() -> SeededGenerator { SeededGenerator(seed: UInt64.random(in: 0...UInt64.max)) }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 { generator.next() }
}

extension Array where Element: BinaryFloatingPoint, Element.RawSignificand: FixedWidthInteger {
    /// `count` values uniform in `range`.
    public static func random(count: Int, in range: ClosedRange<Element>, using generator: inout SeededGenerator) -> Self {
        (0..<count).map { _ in Element.random(in: range, using: &generator) }
    }
}
