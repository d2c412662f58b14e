/// The conversions between ``ChannelMoments`` (every channel in `Scalar`, the two-word mean) and the
/// `Double` ``MomentsAccumulator`` of one channel: the one place either is turned into the other.
extension ChannelMoments {
    /// The moments of `accumulators.count` channels over `count` values each, rounded to `Scalar`
    /// channel by channel (``rounded(_:)``).
    ///
    /// The rounded words are stored through pointers in one pass; only channels that need rescaling
    /// touch the optional arrays afterwards. (Per-channel array stores through ``setChannel(_:_:)`` were
    /// a sixth of a 64x1000 training forward: docs/BENCHMARK_NOTES.md, "Per-channel rounding".)
    init(_ accumulators: [MomentsAccumulator], count: Int) {
        self = .empty(channelCount: accumulators.count)
        self.count = count
        var rescaled = [(channel: Int, deviationScale: Scalar, centersAtZero: Bool)]()
        accumulators.withUnsafeBufferPointer { source in
        mean.withUnsafeMutableBufferPointer { mean in
        meanLow.withUnsafeMutableBufferPointer { meanLow in
        sumOfSquaredDeviations.withUnsafeMutableBufferPointer { sumOfSquaredDeviations in
            for channel in source.indices {
                let rounded = Self.rounded(source[channel])
                (mean[channel], meanLow[channel]) = (rounded.mean, rounded.meanLow)
                sumOfSquaredDeviations[channel] = rounded.sumOfSquaredDeviations
                if rounded.deviationScale != 1 || source[channel].centersAtZero {
                    rescaled.append((channel, rounded.deviationScale, source[channel].centersAtZero))
                }
            }
        }}}}
        for channel in rescaled {
            setRescaling(channel.channel, deviationScale: channel.deviationScale, centersAtZero: channel.centersAtZero)
        }
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

    /// One channel of an accumulator in `Scalar`: the mean rounded to two words
    /// (``ErrorFreeSums/rounded(_:low:as:)``), a negative `M2` (rounding) as 0, `M2` rescaled to fit
    /// `Scalar` with its power-of-two scale (``ScaledMoments/scalarDeviation(_:scale:count:as:)``).
    static func rounded(
        _ accumulator: MomentsAccumulator
    ) -> (mean: Scalar, meanLow: Scalar, sumOfSquaredDeviations: Scalar, deviationScale: Scalar) {
        let (high, low) = ErrorFreeSums.rounded(accumulator.mean, low: accumulator.meanLow, as: Scalar.self)
        let m2 = accumulator.sumOfSquaredDeviations < 0 ? 0 : accumulator.sumOfSquaredDeviations
        let (scaledM2, scale) = ScaledMoments.scalarDeviation(
            m2, scale: accumulator.scale, count: accumulator.count, as: Scalar.self)
        return (high, low, scaledM2, scale)
    }

    /// Stores an accumulator into channel `channel` (``rounded(_:)``). `accumulator.count` is not
    /// stored: every channel shares ``count``.
    mutating func setChannel(_ channel: Int, _ accumulator: MomentsAccumulator) {
        let rounded = Self.rounded(accumulator)
        mean[channel] = rounded.mean
        meanLow[channel] = rounded.meanLow
        sumOfSquaredDeviations[channel] = rounded.sumOfSquaredDeviations
        setRescaling(channel, deviationScale: rounded.deviationScale, centersAtZero: accumulator.centersAtZero)
    }

    /// Channel `channel`'s entries of the optional ``deviationScale`` and ``centersAtZero``, each
    /// array created (all 1, all `false`) only when a channel first needs it.
    private mutating func setRescaling(_ channel: Int, deviationScale scale: Scalar, centersAtZero centers: Bool) {
        if scale != 1 || deviationScale != nil {
            if deviationScale == nil { deviationScale = .init(repeating: 1, count: channelCount) }
            deviationScale?[channel] = scale
        }
        if centers || centersAtZero != nil {
            if centersAtZero == nil { centersAtZero = .init(repeating: false, count: channelCount) }
            centersAtZero?[channel] = centers
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
