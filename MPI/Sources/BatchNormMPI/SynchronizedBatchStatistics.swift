public import BatchNormKit

/// What a synchronized training forward pass leaves for its backward pass: the statistics every rank
/// normalized with, and the merged statistics of the whole batch (whose `count` is the `M` of the
/// backward formulas). The same on every rank.
public struct SynchronizedBatchStatistics<Scalar: BatchNormScalar>: Sendable, Equatable {
    /// Mean, biased variance and inverse standard deviation of the whole batch.
    public var batchStatistics: BatchStatistics<Scalar>
    /// Count, mean and sum of squared deviations of the whole batch, merged from every rank's part.
    public var globalStatistics: PartialStatistics<Scalar>

    public init(batchStatistics: BatchStatistics<Scalar>, globalStatistics: PartialStatistics<Scalar>) {
        self.batchStatistics = batchStatistics
        self.globalStatistics = globalStatistics
    }
}
