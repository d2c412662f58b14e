/// SplitMix64 (Steele, Lea & Flood 2014): a small, fast, seedable generator. The parity tests, the
/// MPI tests, `batchnorm bench` and the Benchmarks package draw their data from it, so a seed printed
/// by a failing case replays it, and every rank or run that uses the same seed sees the same data.
/// Not for cryptography.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose output is fixed by `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
