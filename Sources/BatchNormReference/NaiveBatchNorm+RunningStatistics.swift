public import BatchNormKit

extension NaiveBatchNorm {
    /// PyTorch's update of the running statistics after one training batch, in `Double`:
    ///
    /// ```
    /// f = momentum ?? 1 / (numBatchesTrackedBefore + 1)
    /// runningMean'     = (1 - f) · runningMean     + f · mean_B
    /// runningVariance' = (1 - f) · runningVariance + f · Σ(x - mean_B)² / (M - 1)
    /// ```
    ///
    /// - Parameters:
    ///   - statistics: the batch's reference statistics (their two-word mean and unbiased variance).
    ///   - numBatchesTrackedBefore: the layer's count before this batch (used when `momentum` is nil).
    /// - Returns: the updated running mean and variance per channel.
    @inlinable
    public static func updatedRunningStatistics(
        runningMean: [Double], runningVariance: [Double], statistics: Statistics, momentum: Double?,
        numBatchesTrackedBefore: Int
    ) -> (mean: [Double], variance: [Double]) {
        let factor = momentum ?? 1 / Double(numBatchesTrackedBefore + 1)
        var mean = [Double](), variance = [Double]()
        for channel in runningMean.indices {
            let batchMean = statistics.mean[channel] + statistics.meanResidual[channel]
            mean.append(runningMean[channel] * (1 - factor) + batchMean * factor)
            variance.append(runningVariance[channel] * (1 - factor) + statistics.unbiasedVariance[channel] * factor)
        }
        return (mean, variance)
    }
}
