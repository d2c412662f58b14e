// MARK: - Training forward

extension BatchNorm {
    /// Training forward pass into caller-owned memory: normalizes `input` with its batch statistics,
    /// writes `output`, and updates the running statistics (when tracked) and `numBatchesTracked`.
    ///
    /// - Parameters:
    ///   - input: `shape.elementCount` values in `shape.layout` order.
    ///   - shape: the input's shape; its channel count must be `channelCount`.
    ///   - output: `shape.elementCount` values, entirely overwritten. May not alias `input`.
    /// - Returns: the batch statistics, which ``backward(gradOutput:input:shape:statistics:into:)-(Span<Scalar>,_,_,_,_)`` takes.
    /// - Throws: `BatchNormError` for a channel count, element count or parameter length that does not
    ///   match, or a batch with one value per channel. Nothing is written then.
    /// - Complexity: two reads of `input`, one write of `output`.
    public mutating func forwardTraining(
        _ input: Span<Scalar>, shape: TensorShape, into output: inout MutableSpan<Scalar>
    ) throws(BatchNormError) -> BatchStatistics<Scalar> {
        try validateForwardTraining(input: input.count, output: output.count, shape: shape)
        let (moments, inverseStandardDeviation) = BatchNormKernels.trainingForward(
            input, geometry: shape.geometry, gamma: gammaIfAffine, beta: betaIfAffine, epsilon: epsilon,
            into: &output, path: kernelPath)
        return finishTraining(moments, inverseStandardDeviation: inverseStandardDeviation)
    }

    /// The checks of a training forward, before anything is written.
    func validateForwardTraining(input: Int, output: Int, shape: TensorShape) throws(BatchNormError) {
        try validate(shape: shape)
        try Self.validate("input", count: input, shape: shape)
        try Self.validate("output", count: output, shape: shape)
        try Self.validateBatchStatistics(shape: shape)
        try validateAffineParameters()
        try validateRunningStatistics()
        try validateBatchCounter()
    }

    /// The end of every training forward step (whole batch, fused activation, or a part normalized
    /// with a whole batch's statistics): updates the running statistics (when tracked) and
    /// `numBatchesTracked` with the batch `moments`, and returns what the backward pass takes (the
    /// two-word mean, the biased variance, `invstd`).
    mutating func finishTraining(
        _ moments: ChannelMoments<Scalar>, inverseStandardDeviation: [Scalar]
    ) -> BatchStatistics<Scalar> {
        if tracksRunningStatistics {
            updateRunningStatistics(with: moments)
        }
        return BatchStatistics(
            mean: moments.mean, variance: moments.biasedVariance, inverseStandardDeviation: inverseStandardDeviation,
            meanLow: moments.meanLow)
    }

    /// Training forward pass on an array; see ``forwardTraining(_:shape:into:)-(Span<Scalar>,_,_)``.
    /// - Returns: the normalized output and the batch statistics.
    public mutating func forwardTraining(
        _ input: [Scalar], shape: TensorShape
    ) throws(BatchNormError) -> (output: [Scalar], statistics: BatchStatistics<Scalar>) {
        try Self.validate("input", count: input.count, shape: shape)
        var output = ScalarArrays.zeros(of: Scalar.self, count: input.count)
        var outputSpan = output.mutableSpan
        let statistics = try forwardTraining(input.span, shape: shape, into: &outputSpan)
        return (output, statistics)
    }

    /// `running = (1 - f) · running + f · batch` with `f = momentum ?? 1 / numBatchesTracked`, the
    /// variance taking the unbiased batch variance. Computed in `Double`, rounded once.
    /// Specialized: generic, its per-channel conversions went through the runtime's generic casts and
    /// took half of a training forward on a [32, 100] batch (bn-train, docs/TRAINING.md).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    mutating func updateRunningStatistics(with moments: ChannelMoments<Scalar>) {
        // Saturates: a counter at Int.max stays there rather than trapping.
        if numBatchesTracked < Int.max { numBatchesTracked += 1 }
        let factor = momentum.map(Double.init) ?? 1 / Double(numBatchesTracked)
        // One C loop where the AVX build runs (the same operations, so the same bits).
        if moments.updateRunningStatisticsAVX(runningMean: &runningMean, runningVariance: &runningVariance, factor: factor) {
            return
        }
        // Two loops through pointers (subscripted stores into the properties checked uniqueness per
        // channel: docs/BENCHMARK_NOTES.md, "Per-channel steps of a wide [N, C]").
        runningMean.withUnsafeMutableBufferPointer { runningMean in
            moments.mean.withUnsafeBufferPointer { batchMean in
                for channel in runningMean.indices {
                    runningMean[channel] = Scalar((1 - factor) * Double(runningMean[channel]) + factor * Double(batchMean[channel]))
                }
            }
        }
        let unbiasedVariance = moments.unbiasedVariance
        runningVariance.withUnsafeMutableBufferPointer { runningVariance in
            unbiasedVariance.withUnsafeBufferPointer { batchVariance in
                for channel in runningVariance.indices {
                    runningVariance[channel] = Scalar(
                        (1 - factor) * Double(runningVariance[channel]) + factor * Double(batchVariance[channel]))
                }
            }
        }
    }
}

// MARK: - Inference forward

extension BatchNorm {
    /// Inference forward pass into caller-owned memory:
    /// `output = (input - runningMean) / sqrt(runningVariance + eps) * gamma + beta`.
    /// A layer without running statistics uses the batch statistics instead (and then needs more
    /// than one value per channel). Mutates nothing but `output`.
    ///
    /// - Throws: `BatchNormError` for mismatched sizes (nothing is written then).
    /// - Complexity: one read of `input`, one write of `output` (two reads without running statistics).
    public func forwardInference(
        _ input: Span<Scalar>, shape: TensorShape, into output: inout MutableSpan<Scalar>
    ) throws(BatchNormError) {
        try validateForwardInference(input: input.count, output: output.count, shape: shape)
        if tracksRunningStatistics {
            BatchNormKernels.inferenceForward(
                input, geometry: shape.geometry, mean: runningMean, variance: runningVariance,
                gamma: gammaIfAffine, beta: betaIfAffine, epsilon: epsilon, into: &output, path: kernelPath)
        } else {
            _ = BatchNormKernels.trainingForward(
                input, geometry: shape.geometry, gamma: gammaIfAffine, beta: betaIfAffine, epsilon: epsilon,
                into: &output, path: kernelPath)
        }
    }

    /// The checks of an inference forward (batch statistics need more than one value per channel).
    func validateForwardInference(input: Int, output: Int, shape: TensorShape) throws(BatchNormError) {
        try validate(shape: shape)
        try Self.validate("input", count: input, shape: shape)
        try Self.validate("output", count: output, shape: shape)
        try validateAffineParameters()
        try validateRunningStatistics()
        if !tracksRunningStatistics { try Self.validateBatchStatistics(shape: shape) }
    }

    /// Inference forward pass on an array; see ``forwardInference(_:shape:into:)-(Span<Scalar>,_,_)``.
    public func forwardInference(_ input: [Scalar], shape: TensorShape) throws(BatchNormError) -> [Scalar] {
        try Self.validate("input", count: input.count, shape: shape)
        var output = ScalarArrays.zeros(of: Scalar.self, count: input.count)
        var outputSpan = output.mutableSpan
        try forwardInference(input.span, shape: shape, into: &outputSpan)
        return output
    }
}
