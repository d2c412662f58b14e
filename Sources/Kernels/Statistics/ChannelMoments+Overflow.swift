/// Moments of channels whose values reach the top of the range (see ``ScaledMoments``): the sum of
/// squared deviations carried as `M2 = sumOfSquaredDeviations · deviationScale²`, the variance
/// reported as its correctly rounded (possibly infinite) value, the inverse standard deviation
/// finite.
extension ChannelMoments {
    /// `Σ (x - mean)²` per channel, unscaled (infinite where it exceeds the range).
    package var unscaledSumOfSquaredDeviations: [Scalar] {
        guard let deviationScale else { return sumOfSquaredDeviations }
        return zip(sumOfSquaredDeviations, deviationScale).map { $0 * $1 * $1 }
    }

    /// `M2 / divisor · scale²` per channel, the scale applied last so that only a variance beyond the
    /// range overflows. Specialized: the public entry points reach it generically, and a generic
    /// division per channel was a visible share of a training step on 2,048-channel tensors.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func variance(dividingBy divisor: Int) -> [Scalar] {
        let divisor = Scalar(divisor)
        guard let deviationScale else { return ChannelLoops.map(sumOfSquaredDeviations) { $0 / divisor } }
        return zip(sumOfSquaredDeviations, deviationScale).map { $0 / divisor * $1 * $1 }
    }

    /// The center and shift of the elementwise step `(x - center)·scale + shift` for these moments:
    /// the two-word mean and `shift`, except in ``centersAtZero`` channels, which get center 0 and
    /// `shift - mean·scale` (computed in `Double`), so that no `x - mean` overflows.
    package func normalizationCenter(scale: [Scalar], shift: [Scalar]) -> (center: ChannelCenter<Scalar>, shift: [Scalar]) {
        guard let centersAtZero else { return (center, shift) }
        var center = self.center, shift = shift
        for channel in 0..<channelCount where centersAtZero[channel] {
            shift[channel] = ChannelCenter.foldedShift(
                shift[channel], center: self.center.value(channel), scale: scale[channel])
            center.high[channel] = 0
            center.low?[channel] = 0
        }
        return (center, shift)
    }

    /// Recomputes, exactly scaled, every channel whose mean or `M2` came out non-finite.
    mutating func rescueOverflowedChannels(_ input: UnsafePointer<Scalar>, geometry: ChannelGeometry) {
        for channel in 0..<channelCount where !(mean[channel].isFinite && sumOfSquaredDeviations[channel].isFinite) {
            setChannel(channel, ScaledMoments.channel(input, geometry: geometry, channel: channel))
        }
    }

    /// Chan's merge when either side has scaled channels (or the plain merge overflowed), in `Double`
    /// about the larger scale:
    /// `M2/s² = M2_a·(s_a/s)² + M2_b·(s_b/s)² + (δ/s)²·na·nb/n`.
    func mergedScaled(with other: Self) -> Self {
        let total = count + other.count
        let weightOther = Double(other.count) / Double(total)
        let crossWeight = Double(count) * weightOther
        var result = self
        result.count = total
        for channel in 0..<channelCount {
            let left = accumulator(channel), right = other.accumulator(channel)
            let scale = max(left.scale, right.scale)
            let delta = (right.mean / scale - left.mean / scale) + (right.meanLow - left.meanLow) / scale
            var merged = MomentsAccumulator(
                count: Double(total), mean: (left.mean / scale + (left.meanLow / scale + delta * weightOther)) * scale,
                sumOfSquaredDeviations: left.sumOfSquaredDeviations * (left.scale / scale) * (left.scale / scale)
                    + right.sumOfSquaredDeviations * (right.scale / scale) * (right.scale / scale)
                    + delta * delta * crossWeight)
            merged.scale = scale
            // Without the extremes, bound them: no deviation exceeds sqrt(M2), so x - mean cannot
            // overflow unless sqrt(M2) passes the top (which either side's flag implies).
            merged.centersAtZero = merged.sumOfSquaredDeviations.squareRoot() * scale > Double(Scalar.greatestFiniteMagnitude)
            result.setChannel(channel, merged)
        }
        return result
    }
}
