/// Per-channel partial statistics of a batch: how many values, their mean, and the sum of squared
/// deviations from that mean (`M2`). The unit in which statistics are computed, merged (across
/// chunks, threads or processes) and finally turned into a variance.
///
/// The mean is carried in two words, `mean + meanLow` (see ``ChannelCenter``); `mean` alone is the
/// correctly rounded value users see.
///
/// Invariants: `mean`, `meanLow` and `sumOfSquaredDeviations` have `channelCount` elements;
/// `count >= 0`; with `count == 0` the mean and `M2` are zero and carry no information.
package struct ChannelMoments<Scalar: BatchNormScalar>: Sendable, Equatable {
    package var count: Int
    package var mean: [Scalar]
    package var meanLow: [Scalar]
    /// `M2`, divided by `deviationScale²` where that is set (see `ChannelMoments+Overflow.swift`).
    package var sumOfSquaredDeviations: [Scalar]
    /// Per-channel powers of two with `M2 = sumOfSquaredDeviations · deviationScale²`; `nil` (all 1)
    /// unless a channel's values reach the top of the range.
    package var deviationScale: [Scalar]?
    /// Channels whose elementwise step scales before subtracting the mean (`x - mean` would
    /// overflow); `nil` when none.
    package var centersAtZero: [Bool]?

    package init(count: Int, mean: [Scalar], meanLow: [Scalar]? = nil, sumOfSquaredDeviations: [Scalar]) {
        precondition(count >= 0 && mean.count == sumOfSquaredDeviations.count)
        precondition(meanLow == nil || meanLow?.count == mean.count)
        self.count = count
        self.mean = mean
        self.meanLow = meanLow ?? .init(repeating: 0, count: mean.count)
        self.sumOfSquaredDeviations = sumOfSquaredDeviations
    }

    /// The two-word mean as the center the elementwise kernels subtract.
    package var center: ChannelCenter<Scalar> { ChannelCenter(high: mean, low: meanLow) }

    /// The statistics of no values at all, the identity of ``merged(with:)``.
    package static func empty(channelCount: Int) -> Self {
        Self(count: 0, mean: .init(repeating: 0, count: channelCount),
             sumOfSquaredDeviations: .init(repeating: 0, count: channelCount))
    }

    package var channelCount: Int { mean.count }

    /// Biased (population) variance `M2 / count`, as batch norm normalizes with (infinite where it
    /// exceeds the range).
    package var biasedVariance: [Scalar] { variance(dividingBy: count) }

    /// Unbiased (sample) variance `M2 / (count - 1)`, as the running variance tracks.
    package var unbiasedVariance: [Scalar] { variance(dividingBy: count - 1) }

    /// Combines the statistics of two disjoint sets of values exactly (Chan, Golub & LeVeque 1979):
    /// ```
    /// n = na + nb,  δ = mean_b - mean_a
    /// mean = mean_a + δ · nb / n
    /// M2   = M2_a + M2_b + δ² · na · nb / n
    /// ```
    /// Either side may be empty. Channel counts must agree.
    package func merged(with other: Self) -> Self {
        precondition(channelCount == other.channelCount, "merging statistics of different channel counts")
        if other.count == 0 { return self }
        if count == 0 { return other }
        if deviationScale != nil || other.deviationScale != nil || centersAtZero != nil || other.centersAtZero != nil {
            return mergedScaled(with: other)
        }
        let total = count + other.count
        let weightOther = Scalar(other.count) / Scalar(total)
        let crossWeight = Scalar(count) * weightOther
        var mean = self.mean
        var meanLow = self.meanLow
        var sumOfSquaredDeviations = self.sumOfSquaredDeviations
        for channel in 0..<channelCount {
            let delta = (other.mean[channel] - mean[channel]) + (other.meanLow[channel] - meanLow[channel])
            (mean[channel], meanLow[channel]) = ErrorFreeSums.fastTwoSum(mean[channel], meanLow[channel] + delta * weightOther)
            sumOfSquaredDeviations[channel] += other.sumOfSquaredDeviations[channel] + delta * delta * crossWeight
        }
        // A sum of squares that overflows only in the merge: redo it scaled.
        for channel in 0..<channelCount where !sumOfSquaredDeviations[channel].isFinite
            && self.sumOfSquaredDeviations[channel].isFinite && other.sumOfSquaredDeviations[channel].isFinite
            && self.mean[channel].isFinite && other.mean[channel].isFinite {
            return mergedScaled(with: other)
        }
        return Self(count: total, mean: mean, meanLow: meanLow, sumOfSquaredDeviations: sumOfSquaredDeviations)
    }
}
