package import Kernels

/// Per-channel statistics of one part of a batch — how many values per channel, their mean and the
/// sum of squared deviations from that mean (`M2`) — in the form that merges exactly. The unit a
/// distributed training forward exchanges: each process computes the statistics of its own samples
/// (``BatchNorm/partialStatistics(_:shape:)-(Span<Scalar>,_)``), the parts are merged with
/// ``merged(with:)``, and every process normalizes with the result
/// (``BatchNorm/forwardTraining(_:shape:globalStatistics:into:)-(Span<Scalar>,_,_,_)``).
///
/// ```
/// variance (biased)   = M2 / count          (what the batch is normalized with)
/// variance (unbiased) = M2 / (count - 1)    (what the running variance tracks)
/// ```
///
/// The mean is carried in two words: `mean` is the correctly rounded mean, `meanLow` its rounding
/// residual (the mean of the values is `mean + meanLow` to about twice the working precision). A
/// transport should carry both; a `meanLow` of zeros is valid and costs only that extra precision.
///
/// Invariants: `mean`, `meanLow` and `sumOfSquaredDeviations` have `channelCount >= 1` elements;
/// `count >= 0`; with `count == 0` (a part without values, see ``empty(channelCount:)``) every vector
/// is zero.
public struct PartialStatistics<Scalar: BatchNormScalar>: Sendable, Equatable {
    package private(set) var moments: ChannelMoments<Scalar>

    package init(_ moments: ChannelMoments<Scalar>) {
        self.moments = moments
    }

    /// Statistics from their parts, e.g. when received from another process.
    /// - Parameters:
    ///   - count: values per channel, `>= 0`.
    ///   - mean: per-channel mean, at least one channel.
    ///   - meanLow: rounding residual of `mean`, same length; `nil` for none (zeros).
    ///   - sumOfSquaredDeviations: per-channel `Σ (x - mean)²`, same length.
    ///   With `count == 0` the vectors are ignored and stored as zeros.
    /// - Throws: `BatchNormError.invalidValueCount` for a negative count,
    ///   `.invalidChannelCount(0)` for empty vectors, `.parameterLengthMismatch` for vectors of
    ///   different lengths.
    public init(
        count: Int, mean: [Scalar], meanLow: [Scalar]? = nil, sumOfSquaredDeviations: [Scalar]
    ) throws(BatchNormError) {
        guard count >= 0 else { throw .invalidValueCount(count) }
        guard !mean.isEmpty else { throw .invalidChannelCount(0) }
        if let meanLow, meanLow.count != mean.count {
            throw .parameterLengthMismatch(argument: "meanLow", expected: mean.count, actual: meanLow.count)
        }
        guard sumOfSquaredDeviations.count == mean.count else {
            throw .parameterLengthMismatch(
                argument: "sumOfSquaredDeviations", expected: mean.count, actual: sumOfSquaredDeviations.count)
        }
        guard count > 0 else {
            self.init(.empty(channelCount: mean.count))
            return
        }
        self.init(ChannelMoments(
            count: count, mean: mean, meanLow: meanLow, sumOfSquaredDeviations: sumOfSquaredDeviations))
    }

    /// The statistics of no values at all: the identity of ``merged(with:)``, and what a process
    /// without local samples contributes.
    /// - Parameter channelCount: at least 1.
    /// - Throws: `BatchNormError.invalidChannelCount` for a count below 1, `.channelCountTooLarge`
    ///   for one whose vectors would not fit in memory.
    public static func empty(channelCount: Int) throws(BatchNormError) -> Self {
        try ChannelCountLimit.validate(channelCount, Scalar.self)
        return Self(.empty(channelCount: channelCount))
    }

    // MARK: - Contents

    /// Number of values per channel the statistics run over (the `M` of the batch-norm formulas).
    public var count: Int { moments.count }
    /// Number of channels.
    public var channelCount: Int { moments.channelCount }
    /// Mean per channel, correctly rounded.
    public var mean: [Scalar] { moments.mean }
    /// Rounding residual of ``mean`` per channel (zeros when unknown).
    public var meanLow: [Scalar] { moments.meanLow }
    /// `Σ (x - mean)²` per channel (`M2`).
    /// Infinite where it exceeds the range (values near the top of the range); the statistics keep
    /// it scaled internally, so normalizing with them stays finite.
    public var sumOfSquaredDeviations: [Scalar] { moments.unscaledSumOfSquaredDeviations }
    /// Biased variance `M2 / count` per channel; NaN when `count == 0`.
    public var variance: [Scalar] { moments.biasedVariance }
    /// Unbiased variance `M2 / (count - 1)` per channel; not finite when `count <= 1`.
    public var unbiasedVariance: [Scalar] { moments.unbiasedVariance }

    // MARK: - Merging

    /// The statistics of the union of two disjoint sets of values, exactly (Chan, Golub & LeVeque
    /// 1979, with the two-word mean):
    /// ```
    /// n = na + nb,   δ = mean_b - mean_a
    /// mean = mean_a + δ · nb / n
    /// M2   = M2_a + M2_b + δ² · na · nb / n
    /// ```
    /// Either side may be empty. Deterministic: merging the same parts in the same order gives
    /// bit-identical results on every machine with IEEE arithmetic, which is how the processes of a
    /// distributed step agree on their statistics.
    /// - Throws: `BatchNormError.parameterLengthMismatch` when the channel counts differ,
    ///   `.valueCountOverflow` when the two counts add up to more than `Int` holds.
    /// - Complexity: O(channelCount).
    public func merged(with other: Self) throws(BatchNormError) -> Self {
        guard other.channelCount == channelCount else {
            throw .parameterLengthMismatch(argument: "other.mean", expected: channelCount, actual: other.channelCount)
        }
        guard !count.addingReportingOverflow(other.count).overflow else {
            throw .valueCountOverflow(count, other.count)
        }
        return Self(moments.merged(with: other.moments))
    }
}
