/// The per-channel statistics a training forward pass normalized with, saved for its backward pass
/// (PyTorch's `save_mean` / `save_invstd`).
public struct BatchStatistics<Scalar: BatchNormScalar>: Sendable, Hashable {
    /// Batch mean per channel.
    public var mean: [Scalar]
    /// Biased batch variance per channel (`Σ(x - mean)² / M`).
    public var variance: [Scalar]
    /// `1 / sqrt(variance + epsilon)` per channel.
    public var inverseStandardDeviation: [Scalar]
    /// The rounding residual of `mean`, or `nil`: the batch mean is `mean + meanLow` to about twice the
    /// working precision, and the backward pass centers with both words, so a gradient computed from
    /// statistics rebuilt field by field equals one from the originals. A training forward pass fills
    /// it; statistics from elsewhere (PyTorch's `save_mean` has one word) leave it `nil`, and the
    /// backward pass then centers on exactly `mean`. Part of equality, like every field.
    public var meanLow: [Scalar]?

    /// Statistics built by hand, e.g. PyTorch's `save_mean` and `save_invstd` of a forward pass run
    /// elsewhere: the backward pass centers on exactly `mean` (plus `meanLow` when given) and scales by
    /// exactly `inverseStandardDeviation` (`variance` is carried along, not used by backward). Every
    /// array has one value per channel; the layer checks the lengths when it uses them (a `meanLow` of
    /// another length than `mean` is ignored).
    public init(
        mean: [Scalar], variance: [Scalar], inverseStandardDeviation: [Scalar], meanLow: [Scalar]? = nil
    ) {
        self.mean = mean
        self.variance = variance
        self.inverseStandardDeviation = inverseStandardDeviation
        self.meanLow = meanLow
    }

    /// The two-word mean the kernels center with.
    package var center: ChannelCenter<Scalar> {
        ChannelCenter(high: mean, low: meanLow?.count == mean.count ? meanLow : nil)
    }
}
