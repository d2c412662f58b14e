/// Batch norm's standard deviation and its inverse, the one place their formula is written:
/// ```
/// std = sqrt(variance + epsilon),   invstd = 1 / std
/// ```
/// In `Double`: callers convert their `Scalar` variance and epsilon first and round the result once.
/// The batch statistics (`MomentsAccumulator.inverseStandardDeviation(epsilon:)`, which handles a
/// variance beyond the range itself), the running statistics
/// (`BatchNormKernels.inverseStandardDeviation(variance:epsilon:)`) and the folded convolution weights
/// of `BatchNorm.fold` all go through it.
package enum StandardDeviation {
    /// `sqrt(variance + epsilon)`.
    @inline(__always)
    package static func of(variance: Double, epsilon: Double) -> Double {
        (variance + epsilon).squareRoot()
    }

    /// `1 / sqrt(variance + epsilon)`.
    @inline(__always)
    package static func inverse(variance: Double, epsilon: Double) -> Double {
        1 / of(variance: variance, epsilon: epsilon)
    }
}
