package import Kernels

/// The batch statistics of one training step of ``DecorrelatedBatchNorm``, which its backward needs.
public struct WhiteningStatistics<Scalar: BatchNormScalar>: Sendable, Hashable {
    /// Batch mean per channel (`C` values).
    public var mean: [Scalar] { factors.center.high }
    /// The groups' whitening matrices `Φ`, `[C/G][G][G]` row-major.
    public var whitening: [Scalar] { factors.whitening.flatMap { $0.values.map { Scalar($0) } } }

    /// The two-word mean, covariances and whitening matrices in the kernels' precision.
    package let factors: GroupWhiteningFactors<Scalar>

    package init(factors: GroupWhiteningFactors<Scalar>) {
        self.factors = factors
    }
}
