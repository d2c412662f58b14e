/// The conversions between ``ChannelMoments`` (every channel in `Scalar`, the two-word mean) and the
/// `Double` ``MomentsAccumulator`` of one channel: the one place either is turned into the other.
extension ChannelMoments {
    /// The moments of `accumulators.count` channels over `count` values each, rounded to `Scalar`
    /// channel by channel (``rounded(_:)``).
    ///
    /// Each word is one loop over the channels through pointers (``ChannelLoops``) computing the common
    /// case of ``rounded(_:)`` (an unscaled `M2` that fits `Scalar`); the channels that need more (a
    /// scale, an `M2` beyond the range, or centering at zero) are then set by ``setChannel(_:_:)``.
    /// (Per-channel array stores were a sixth of a 64x1000 training forward: docs/BENCHMARK_NOTES.md,
    /// "Per-channel rounding"; the scalar loop that replaced them, a ninth of a 2x16384 one: "Per-channel
    /// steps of a wide [N, C]".)
    init(_ accumulators: [MomentsAccumulator], count: Int) {
        let channelCount = accumulators.count
        var mean = [Scalar](), meanLow = [Scalar](), sumOfSquaredDeviations = [Scalar]()
        var special = [Int]()
        accumulators.withUnsafeBufferPointer { source in
            mean = ChannelLoops.array(count: channelCount) { mean in
            meanLow = ChannelLoops.array(count: channelCount) { meanLow in
            sumOfSquaredDeviations = ChannelLoops.array(count: channelCount) { sumOfSquaredDeviations in
                for channel in 0..<channelCount {
                    let moments = source[channel]
                    let (high, low) = ErrorFreeSums.rounded(moments.mean, low: moments.meanLow, as: Scalar.self)
                    let m2 = Scalar(moments.sumOfSquaredDeviations < 0 ? 0 : moments.sumOfSquaredDeviations)
                    (mean + channel).initialize(to: high)
                    (meanLow + channel).initialize(to: low)
                    (sumOfSquaredDeviations + channel).initialize(to: m2)
                    if moments.scale != 1 || moments.centersAtZero || m2.isInfinite { special.append(channel) }
                }
            }}}
        }
        self.init(count: count, mean: mean, meanLow: meanLow, sumOfSquaredDeviations: sumOfSquaredDeviations)
        for channel in special { setChannel(channel, accumulators[channel]) }
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
