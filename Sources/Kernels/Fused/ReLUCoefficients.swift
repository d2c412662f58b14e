/// The training forward's per-channel `scale` and `foldedShift` (`FusedPasses.trainingCoefficients`),
/// with which the ReLU backward recomputes the forward's mask from `x`: `y <= 0` exactly where the
/// pre-activation `fl(fl(centered · scale) + foldedShift) <= 0`, `centered = x - center`.
///
/// Where every channel's `scale` is positive and finite and its `foldedShift` finite, the mask is
/// also kept as one bound per channel on the centered input (`maskBound`), which the backward loops
/// compare against instead of evaluating the pre-activation: `fl(fl(c · s) + b)` never decreases as
/// `c` grows (each rounding is monotone, `s > 0`), so the values it maps to `<= 0` are exactly those
/// up to the largest such value, infinities included, and a NaN `c` fails both tests.
package struct ReLUCoefficients<Scalar: BatchNormScalar> {
    var scale: [Scalar]
    var foldedShift: [Scalar]
    /// Per channel, the largest `c` (possibly `-infinity`) with `fl(fl(c · scale) + foldedShift) <= 0`,
    /// or `nil` when some channel's coefficients do not allow it (scale `<= 0`, NaN or infinite).
    package let maskBound: [Scalar]?

    package init(scale: [Scalar], foldedShift: [Scalar]) {
        self.scale = scale
        self.foldedShift = foldedShift
        var bounds = [Scalar]()
        bounds.reserveCapacity(scale.count)
        for channel in scale.indices {
            guard let bound = Self.maskBound(scale: scale[channel], shift: foldedShift[channel]) else {
                maskBound = nil
                return
            }
            bounds.append(bound)
        }
        maskBound = bounds
    }

    /// The largest `c` in `[-infinity, greatestFiniteMagnitude]` with `c * scale + shift <= 0` (the
    /// backward loops' arithmetic, rounded after each operation); `nil` unless `scale > 0` and both are
    /// finite.
    ///
    /// The test is monotone in `c`, so the answer is unique. It is looked for next to `-shift / scale`,
    /// where it almost always lies within an ulp or two (a step at a time, at most `nearbySteps`), and
    /// otherwise by bisection over the floating-point values in order, between the nearest values known
    /// to be masked and unmasked. One channel's bisection is 64 steps: on 2,048 channels that was an eighth
    /// of a ReLU backward's time (docs/BENCHMARK_NOTES.md, "AVX2 run loops for channels-first tensors").
    package static func maskBound(scale: Scalar, shift: Scalar) -> Scalar? {
        guard scale > 0, scale.isFinite, shift.isFinite else { return nil }
        func masked(_ centered: Scalar) -> Bool { centered * scale + shift <= 0 }
        // -infinity · scale + shift is -infinity: masked. Keys between these two ends are never NaN.
        var low = orderedKey(-Scalar.infinity), high = orderedKey(Scalar.greatestFiniteMagnitude)
        if masked(value(ofOrderedKey: high)) { return Scalar.greatestFiniteMagnitude }
        let estimate = -shift / scale
        if estimate.isFinite {
            let start = orderedKey(estimate)
            if masked(value(ofOrderedKey: start)) {
                low = start
                for _ in 0..<nearbySteps where low + 1 < high {
                    if !masked(value(ofOrderedKey: low + 1)) { return value(ofOrderedKey: low) }
                    low += 1
                }
            } else {
                high = start
                for _ in 0..<nearbySteps where high - 1 > low {
                    if masked(value(ofOrderedKey: high - 1)) { return value(ofOrderedKey: high - 1) }
                    high -= 1
                }
            }
        }
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if masked(value(ofOrderedKey: middle)) { low = middle } else { high = middle }
        }
        return value(ofOrderedKey: low)
    }

    /// Values tried one by one on each side of `-shift / scale` before ``maskBound(scale:shift:)`` bisects.
    static var nearbySteps: UInt64 { 4 }

    /// An unsigned integer that orders non-NaN values as `<` does (both zeros map to `2^63`); the
    /// keys of `-infinity` and `+infinity` are about `2^63 ∓ 2^63`, so differences never overflow.
    static func orderedKey(_ value: Scalar) -> UInt64 {
        let magnitude = UInt64(value.exponentBitPattern) << UInt64(Scalar.significandBitCount)
            | UInt64(value.significandBitPattern)
        return value.sign == .minus ? (1 << 63) - magnitude : (1 << 63) + magnitude
    }

    /// The value whose ``orderedKey(_:)`` is `key` (`+0` for `2^63`).
    static func value(ofOrderedKey key: UInt64) -> Scalar {
        let negative = key < 1 << 63
        let magnitude = negative ? (1 << 63) - key : key - (1 << 63)
        let significandMask = (UInt64(1) << UInt64(Scalar.significandBitCount)) - 1
        return Scalar(sign: negative ? .minus : .plus,
                      exponentBitPattern: Scalar.RawExponent(magnitude >> UInt64(Scalar.significandBitCount)),
                      significandBitPattern: Scalar.RawSignificand(magnitude & significandMask))
    }
}
