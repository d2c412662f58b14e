/// One channel's count, mean and sum of squared deviations (`M2`) in `Double` while the kernels
/// compute and merge them: the accumulator of the moments passes' inner loops (a value type of a few
/// words, kept in registers), of the exact rescue of overflowed channels (``ScaledMoments``) and of
/// Chan's merge about a common scale.
///
/// ``ChannelMoments`` is the result: every channel's moments in `Scalar`, with the two-word mean, as
/// they leave the kernels and are merged across processes. The two convert in one place each way
/// (`ChannelMoments+Accumulator.swift`): `ChannelMoments(_:count:)` and `setChannel(_:_:)` round an
/// accumulator to `Scalar` words, `accumulator(_:)` reads a channel back.
struct MomentsAccumulator {
    var count = 0.0
    var mean = 0.0
    var sumOfSquaredDeviations = 0.0
    /// What `mean` could not hold: the true mean is `mean + meanLow` (kept by the one-pass path,
    /// where the mean is a `Scalar` shift plus a small correction; 0 after a Chan merge).
    var meanLow = 0.0
    /// The true `M2` is `sumOfSquaredDeviations · scale²`: 1 except for the exactly scaled
    /// moments of a channel whose ordinary moments overflowed (``ScaledMoments``, never merged).
    var scale = 1.0
    /// Whether the elementwise step must scale before subtracting the mean (`x - mean` would
    /// overflow for some `x`; set by ``ScaledMoments`` only).
    var centersAtZero = false

    /// Adds the moments of a disjoint set of values (Chan, Golub & LeVeque 1979):
    /// ```
    /// n = na + nb,  δ = mean_b - mean_a,  mean = mean_a + δ · nb / n,  M2 = M2_a + M2_b + δ² · na · nb / n
    /// ```
    /// An empty side leaves the other unchanged; the low word of the mean is dropped.
    @inline(__always)
    mutating func merge(count otherCount: Double, mean otherMean: Double, sumOfSquaredDeviations otherM2: Double) {
        guard otherCount > 0 else { return }
        guard count > 0 else {
            (count, mean, sumOfSquaredDeviations, meanLow) = (otherCount, otherMean, otherM2, 0)
            return
        }
        meanLow = 0
        let total = count + otherCount
        let delta = otherMean - mean
        mean += delta * (otherCount / total)
        sumOfSquaredDeviations += otherM2 + delta * delta * (count * otherCount / total)
        count = total
    }

    /// ``merge(count:mean:sumOfSquaredDeviations:)`` with another accumulator.
    @inline(__always)
    mutating func merge(_ other: MomentsAccumulator) {
        merge(count: other.count, mean: other.mean, sumOfSquaredDeviations: other.sumOfSquaredDeviations)
    }

    /// `1 / sqrt(M2 / count + epsilon)` with `M2 = sumOfSquaredDeviations · scale²`
    /// (``StandardDeviation/inverse(variance:epsilon:)``); where the variance exceeds the range
    /// (epsilon is then negligible) `1 / (scale · sqrt(M2_s / count))`, which is finite. A negative
    /// `M2` (rounding) counts as 0.
    @inline(__always)
    func inverseStandardDeviation(epsilon: Double) -> Double {
        let scaledVariance = sumOfSquaredDeviations < 0 ? 0 : sumOfSquaredDeviations / count
        let variance = scaledVariance * scale * scale
        guard variance.isInfinite else { return StandardDeviation.inverse(variance: variance, epsilon: epsilon) }
        return 1 / (scale * scaledVariance.squareRoot())
    }
}
