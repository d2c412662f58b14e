/// The conversions between ``ChannelMoments`` (every channel in `Scalar`, the two-word mean) and the
/// `Double` ``MomentsAccumulator`` of one channel: the one place either is turned into the other.
extension ChannelMoments {
    /// The moments of `accumulators.count` channels over `count` values each, rounded to `Scalar`
    /// channel by channel (``setChannel(_:_:)``).
    ///
    /// Channels with nothing to rescale (the common case) are rounded in one pass through pointers;
    /// the rest go through ``setChannel(_:_:)`` afterwards, which gives them the same values. (Per-channel
    /// array stores were a sixth of a 64x1000 training forward: docs/BENCHMARK_NOTES.md, "Per-channel
    /// rounding".)
    init(_ accumulators: [MomentsAccumulator], count: Int) {
        self = .empty(channelCount: accumulators.count)
        self.count = count
        var rescaled = [Int]()
        accumulators.withUnsafeBufferPointer { source in
        mean.withUnsafeMutableBufferPointer { mean in
        meanLow.withUnsafeMutableBufferPointer { meanLow in
        sumOfSquaredDeviations.withUnsafeMutableBufferPointer { sumOfSquaredDeviations in
            for channel in source.indices {
                let accumulator = source[channel]
                (mean[channel], meanLow[channel]) = ErrorFreeSums.rounded(
                    accumulator.mean, low: accumulator.meanLow, as: Scalar.self)
                let m2 = accumulator.sumOfSquaredDeviations < 0 ? 0 : accumulator.sumOfSquaredDeviations
                // What `ScaledMoments.scalarDeviation` returns unchanged, with a scale of 1.
                if accumulator.scale == 1, !accumulator.centersAtZero, !Scalar(m2).isInfinite {
                    sumOfSquaredDeviations[channel] = Scalar(m2)
                } else {
                    rescaled.append(channel)
                }
            }
        }}}}
        for channel in rescaled { setChannel(channel, accumulators[channel]) }
    }

    /// Channel `channel` as an accumulator (both words of the mean, `M2` still scaled).
    func accumulator(_ channel: Int) -> MomentsAccumulator {
        var accumulator = MomentsAccumulator(
            count: Double(count), mean: Double(mean[channel]),
            sumOfSquaredDeviations: Double(sumOfSquaredDeviations[channel]), meanLow: Double(meanLow[channel]))
        accumulator.scale = Double(deviationScale?[channel] ?? 1)
        accumulator.centersAtZero = centersAtZero?[channel] ?? false
        return accumulator
    }

    /// Stores an accumulator into channel `channel`: the mean rounded to two words
    /// (``ErrorFreeSums/rounded(_:low:as:)``), a negative `M2` (rounding) as 0, `M2` rescaled to fit
    /// `Scalar` (``ScaledMoments/scalarDeviation(_:scale:count:as:)``). `accumulator.count` is not
    /// stored: every channel shares ``count``.
    mutating func setChannel(_ channel: Int, _ accumulator: MomentsAccumulator) {
        let (high, low) = ErrorFreeSums.rounded(accumulator.mean, low: accumulator.meanLow, as: Scalar.self)
        mean[channel] = high
        meanLow[channel] = low
        let m2 = accumulator.sumOfSquaredDeviations < 0 ? 0 : accumulator.sumOfSquaredDeviations
        let (scaledM2, scale) = ScaledMoments.scalarDeviation(
            m2, scale: accumulator.scale, count: accumulator.count, as: Scalar.self)
        sumOfSquaredDeviations[channel] = scaledM2
        if scale != 1 || deviationScale != nil {
            if deviationScale == nil { deviationScale = .init(repeating: 1, count: channelCount) }
            deviationScale?[channel] = scale
        }
        if accumulator.centersAtZero || centersAtZero != nil {
            if centersAtZero == nil { centersAtZero = .init(repeating: false, count: channelCount) }
            centersAtZero?[channel] = accumulator.centersAtZero
        }
    }

    /// `1 / sqrt(M2 / count + epsilon)` per channel
    /// (``MomentsAccumulator/inverseStandardDeviation(epsilon:)``), in `Double`, rounded once; finite
    /// where the variance overflows.
    package func inverseStandardDeviation(epsilon: Scalar) -> [Scalar] {
        (0..<channelCount).map { channel in
            Scalar(accumulator(channel).inverseStandardDeviation(epsilon: Double(epsilon)))
        }
    }
}
