/// SplitMix64: a fast fixed-seed generator, so setting up a 26-million-element tensor takes a fraction
/// of a second and every run sees the same data.
struct SplitMix64 {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `count` values uniform in `[lower, upper)`.
    mutating func uniform<Scalar: BinaryFloatingPoint>(count: Int, in lower: Double, _ upper: Double) -> [Scalar] {
        (0..<count).map { _ in
            let unit = Double(next() >> 11) * 0x1p-53
            return Scalar(lower + (upper - lower) * unit)
        }
    }
}
