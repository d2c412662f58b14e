import BatchNormReference

/// Every rank seeds the reference package's SplitMix64 alike and so draws the same whole batch, from
/// which it takes its own part (the same generator as the core package's tests).
typealias SeededGenerator = SplitMix64

extension Array where Element: BinaryFloatingPoint, Element.RawSignificand: FixedWidthInteger {
    /// `count` values uniform in `range`.
    static func random(count: Int, in range: ClosedRange<Element>, using generator: inout SeededGenerator) -> Self {
        (0..<count).map { _ in Element.random(in: range, using: &generator) }
    }
}
