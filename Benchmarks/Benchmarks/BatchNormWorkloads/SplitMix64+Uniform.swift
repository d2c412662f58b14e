import BatchNormReference

extension SplitMix64 {
    /// `count` values uniform in `[lower, upper)` (53 random bits each), fast enough to fill a
    /// 26-million-element tensor in a fraction of a second; a fixed seed gives every run the same data.
    mutating func uniform<Scalar: BinaryFloatingPoint>(count: Int, in lower: Double, _ upper: Double) -> [Scalar] {
        (0..<count).map { _ in
            let unit = Double(next() >> 11) * 0x1p-53
            return Scalar(lower + (upper - lower) * unit)
        }
    }
}
