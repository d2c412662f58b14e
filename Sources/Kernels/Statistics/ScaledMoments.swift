/// Moments of a channel whose ordinary moments came out non-finite: a sum or a square overflowed
/// (values near the top of the range: `Float` beyond about 1e19 in spread, `Double` beyond 1e154, sums
/// of values near `greatestFiniteMagnitude`), or the data hold NaN or an infinity.
///
/// Computed exactly scaled, as LAPACK's `dnrm2` does: every value is divided by `s`, the power of two
/// of the channel's largest magnitude (exact, so `x / s` lies in `(-2, 2)`), and the corrected
/// two-pass runs on the scaled values in `Double`, every sum compensated:
/// ```
/// m₀ = Σ(x/s) / M,   d = x/s - m₀,   mean = s · (m₀ + Σd / M),   M2 = s² · (Σd² - (Σd)² / M)
/// ```
/// `M2` is carried as `(Σd² - (Σd)²/M, s)` (``MomentsAccumulator/scale``), so that `invstd = 1 / (s ·
/// sqrt(M2_s / M))` is finite and correct even when the variance itself exceeds the range (it is
/// then reported as infinity, its correctly rounded value, and eps is negligible beside it).
///
/// Non-finite data follow IEEE sums, like PyTorch and the float64 reference: a channel with a NaN,
/// or with both `+inf` and `-inf`, has mean NaN; one with `+inf` (or `-inf`) only has mean `+inf`
/// (`-inf`). Its variance is NaN either way (`inf - inf`).
///
/// Only the affected channels run this (three strided passes over one channel); the check that
/// selects them is one `isFinite` per channel.
enum ScaledMoments {
    /// The scaled moments of `channel` of `input`.
    static func channel<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, geometry: ChannelGeometry, channel: Int
    ) -> MomentsAccumulator {
        let count = Double(geometry.valuesPerChannel)
        func forEachValue(_ body: (Double) -> Void) {
            for outer in 0..<geometry.outerCount {
                let run = input + (outer * geometry.channelCount + channel) * geometry.innerCount
                for inner in 0..<geometry.innerCount { body(Double(run[inner])) }
            }
        }
        var minimum = 0.0, maximum = 0.0, hasNaN = false, hasPositiveInfinity = false, hasNegativeInfinity = false
        var isFirst = true
        forEachValue { value in
            if value.isFinite {
                (minimum, maximum) = isFirst ? (value, value) : (min(minimum, value), max(maximum, value))
                isFirst = false
            } else if value.isNaN {
                hasNaN = true
            } else if value > 0 {
                hasPositiveInfinity = true
            } else {
                hasNegativeInfinity = true
            }
        }
        if hasNaN || hasPositiveInfinity || hasNegativeInfinity {
            let mean: Double = hasNaN || (hasPositiveInfinity && hasNegativeInfinity)
                ? .nan : (hasPositiveInfinity ? .infinity : -.infinity)
            return MomentsAccumulator(count: count, mean: mean, sumOfSquaredDeviations: .nan)
        }
        let largest = max(minimum.magnitude, maximum.magnitude)
        guard largest > 0 else { return MomentsAccumulator(count: count, mean: 0, sumOfSquaredDeviations: 0) }
        let scale = Double(sign: .plus, exponent: largest.exponent, significand: 1)
        var sum = CompensatedDouble()
        forEachValue { value in sum.add(value / scale) }
        let firstMean = sum.value / count
        var centered = CompensatedDouble(), squares = CompensatedDouble()
        forEachValue { value in
            let deviation = value / scale - firstMean
            centered.add(deviation)
            squares.add(deviation * deviation)
        }
        // The mean of finite values lies within their range; clamping keeps a rounding of the last
        // multiplication from passing the top of it.
        let mean = min(max((firstMean + centered.value / count) * scale, -largest), largest)
        var moments = MomentsAccumulator(
            count: count, mean: mean,
            sumOfSquaredDeviations: max(0, squares.value - centered.value * centered.value / count))
        moments.scale = scale
        // x - mean overflows for some x when the extremes lie farther than the top of the range from
        // the mean; the elementwise step then scales x before subtracting. (Otherwise it must not:
        // x·invstd would overflow for a constant channel near the top, whose invstd is 1/sqrt(eps).)
        let top = Double(Scalar.greatestFiniteMagnitude)
        moments.centersAtZero = maximum - mean > top || mean - minimum > top
        return moments
    }

    /// A `Double` sum with its rounding errors carried beside it (TwoSum per addition): these channels
    /// hold values across the whole range, where a plain sum's error grows with the count (a `Double`
    /// channel of 432 values with one at the top had its invstd 100u off; `OverflowTests`). Only the
    /// scaled channels pay the five extra operations per value.
    private struct CompensatedDouble {
        private var sum = 0.0, error = 0.0

        mutating func add(_ value: Double) {
            let (rounded, roundingError) = ErrorFreeSums.twoSum(sum, value)
            sum = rounded
            error += roundingError
        }

        /// The sum with its accumulated error added back.
        var value: Double { sum + error }
    }

    /// `M2 = m2 · scale²` as a `Scalar` pair `(m2', scale')` with `m2' · scale'² == M2` and `m2'`
    /// finite: `(m2, 1)` when `m2` fits (NaN included), otherwise rescaled by the power of two of
    /// the standard deviation `sqrt(m2 / count)`, which the range of the data bounds (a population
    /// standard deviation is at most half the range), so `scale'` fits `Scalar` as well.
    static func scalarDeviation<Scalar: BatchNormScalar>(
        _ m2: Double, scale: Double, count: Double, as _: Scalar.Type
    ) -> (sumOfSquaredDeviations: Scalar, scale: Scalar) {
        if scale == 1, !Scalar(m2).isInfinite { return (Scalar(m2), 1) }
        let deviation = (m2 / count).squareRoot()
        guard deviation.isFinite, deviation > 0 else { return (Scalar(m2), Scalar(scale)) }
        let factor = Double(sign: .plus, exponent: deviation.exponent, significand: 1)
        return (Scalar(m2 / factor / factor), Scalar(scale * factor))
    }
}
