/// Forward passes of ``DecorrelatedBatchNorm``.
extension DecorrelatedBatchNorm {
    /// Training forward: whitens each group with its batch statistics and updates ``runningMean``,
    /// ``runningWhitening`` and ``numBatchesTracked``.
    /// - Parameters:
    ///   - input: `shape.elementCount` values in `shape.layout`.
    ///   - shape: `[N, C, *spatial]` or `[N, *spatial, C]` with `C == channelCount`.
    /// - Returns: the output (same shape and layout) and the statistics ``backward(gradOutput:input:shape:statistics:)``
    ///   needs.
    /// - Throws: `BatchNormError.channelCountMismatch`, `.elementCountMismatch`, `.parameterLengthMismatch`,
    ///   `.whiteningLengthMismatch` (running whitening), `.singleValuePerChannel`, `.whiteningSizeUnsupported`;
    ///   nothing is modified when it throws.
    /// - Complexity: `O(C·G·M)` (BLAS-3) plus `O((C/G)·G³)` for the group matrices.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public mutating func forwardTraining(
        _ input: [Scalar], shape: TensorShape
    ) throws(BatchNormError) -> (output: [Scalar], statistics: WhiteningStatistics<Scalar>) {
        try validate(shape: shape, ("input", input.count))
        try validateRunningStatistics()
        guard shape.valuesPerChannel > 1 else { throw .singleValuePerChannel(shape: shape.dimensions) }
        let (output, factors) = GroupWhiteningKernels.forwardTraining(
            input.span, geometry: shape.geometry, groupSize: groupSize, method: whitening.method,
            epsilon: Double(epsilon), gamma: gammaIfAffine, beta: betaIfAffine)
        let statistics = WhiteningStatistics(factors: factors)
        updateRunningStatistics(with: statistics)
        return (output, statistics)
    }

    /// Inference forward: `y = gamma ⊙ runningWhitening (x - runningMean) + beta` per group.
    /// - Throws: as ``forwardTraining(_:shape:)`` but never `.singleValuePerChannel`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forwardInference(_ input: [Scalar], shape: TensorShape) throws(BatchNormError) -> [Scalar] {
        try validate(shape: shape, ("input", input.count))
        try validateRunningStatistics()
        return GroupWhiteningKernels.forwardInference(
            input.span, geometry: shape.geometry, groupSize: groupSize, mean: runningMean,
            whitening: runningWhitening, gamma: gammaIfAffine, beta: betaIfAffine)
    }

    /// `running = (1 - factor) · running + factor · batch` in `Double`, `factor` the momentum or
    /// `1 / numBatchesTracked`.
    mutating func updateRunningStatistics(with statistics: WhiteningStatistics<Scalar>) {
        numBatchesTracked += 1
        let factor = momentum.map(Double.init) ?? 1 / Double(numBatchesTracked)
        let center = statistics.factors.center
        for channel in 0..<channelCount {
            let batchMean = Double(center.high[channel]) + Double(center.low?[channel] ?? 0)
            runningMean[channel] = Scalar((1 - factor) * Double(runningMean[channel]) + factor * batchMean)
        }
        let matrixCount = groupSize * groupSize
        for (group, matrix) in statistics.factors.whitening.enumerated() {
            for index in 0..<matrixCount {
                let position = group * matrixCount + index
                runningWhitening[position] = Scalar(
                    (1 - factor) * Double(runningWhitening[position]) + factor * matrix.values[index])
            }
        }
    }
}
