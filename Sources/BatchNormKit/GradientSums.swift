package import Kernels

/// The two per-channel sums a training backward pass reduces over the whole batch:
/// ```
/// sumGradient              = Σ dy                (which is dβ)
/// sumGradientTimesCentered = Σ dy · (x - mean)   (which is dγ / invstd)
/// ```
/// `mean` is the mean the forward pass normalized with (for a batch split across processes, the
/// global mean, the same on every process), so the sums of disjoint parts add up to the sums of the
/// whole batch. The unit a distributed backward exchanges: each process computes the sums of its own
/// samples (``BatchNorm/backwardSums(gradOutput:input:shape:statistics:)-(Span<Scalar>,_,_,_)``), the
/// parts are added with ``adding(_:)``, and every process runs the elementwise step with the totals
/// (``BatchNorm/backward(gradOutput:input:shape:statistics:globalSums:globalCount:into:)``).
///
/// Invariant: both vectors have `channelCount >= 1` elements.
public struct GradientSums<Scalar: BatchNormScalar>: Sendable, Equatable {
    package private(set) var reductions: BackwardReductions<Scalar>

    package init(_ reductions: BackwardReductions<Scalar>) {
        self.reductions = reductions
    }

    /// Sums from their parts, e.g. when received from another process.
    /// - Throws: `BatchNormError.invalidChannelCount(0)` for empty vectors,
    ///   `.parameterLengthMismatch` for vectors of different lengths.
    public init(sumGradient: [Scalar], sumGradientTimesCentered: [Scalar]) throws(BatchNormError) {
        guard !sumGradient.isEmpty else { throw .invalidChannelCount(0) }
        guard sumGradientTimesCentered.count == sumGradient.count else {
            throw .parameterLengthMismatch(
                argument: "sumGradientTimesCentered", expected: sumGradient.count,
                actual: sumGradientTimesCentered.count)
        }
        self.init(BackwardReductions(sumGradient: sumGradient, sumGradientTimesCentered: sumGradientTimesCentered))
    }

    /// The sums over no values (zeros): the identity of ``adding(_:)``, and what a process without
    /// local samples contributes.
    /// - Throws: `BatchNormError.invalidChannelCount` for a channel count below 1,
    ///   `.channelCountTooLarge` for one whose vectors would not fit in memory.
    public static func zero(channelCount: Int) throws(BatchNormError) -> Self {
        try ChannelCountLimit.validate(channelCount, Scalar.self)
        let zeros = [Scalar](repeating: 0, count: channelCount)
        return Self(BackwardReductions(sumGradient: zeros, sumGradientTimesCentered: zeros))
    }

    /// Number of channels.
    public var channelCount: Int { reductions.sumGradient.count }
    /// `Σ dy` per channel.
    public var sumGradient: [Scalar] { reductions.sumGradient }
    /// `Σ dy · (x - mean)` per channel.
    public var sumGradientTimesCentered: [Scalar] { reductions.sumGradientTimesCentered }

    /// The sums over the union of two disjoint parts of a batch (elementwise addition).
    /// Deterministic: adding the same parts in the same order gives bit-identical results everywhere.
    /// - Throws: `BatchNormError.parameterLengthMismatch` when the channel counts differ.
    public func adding(_ other: Self) throws(BatchNormError) -> Self {
        guard other.channelCount == channelCount else {
            throw .parameterLengthMismatch(
                argument: "other.sumGradient", expected: channelCount, actual: other.channelCount)
        }
        return Self(reductions.adding(other.reductions))
    }
}
