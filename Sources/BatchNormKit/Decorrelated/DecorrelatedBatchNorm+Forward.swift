/// Forward passes of ``DecorrelatedBatchNorm``.
extension DecorrelatedBatchNorm {
    // MARK: - Training

    /// Training forward into caller-owned memory: whitens each group with its batch statistics, writes
    /// `output`, and updates ``runningMean``, ``runningWhitening`` and ``numBatchesTracked`` (when
    /// ``tracksRunningStatistics``).
    /// - Parameters:
    ///   - input: `shape.elementCount` values in `shape.layout`.
    ///   - shape: `[N, C, *spatial]` or `[N, *spatial, C]` with `C == channelCount`.
    ///   - output: `shape.elementCount` values, entirely overwritten. May not alias `input`.
    /// - Returns: the statistics ``backward(gradOutput:input:shape:statistics:into:)`` needs.
    /// - Throws: `BatchNormError.channelCountMismatch`, `.elementCountMismatch`, `.parameterLengthMismatch`,
    ///   `.whiteningLengthMismatch` (running whitening), `.singleValuePerChannel`, `.invalidBatchCount`,
    ///   `.whiteningSizeUnsupported`; nothing is written or modified when it throws.
    /// - Complexity: two reads of `input`, one write of `output`; `O(C·G·M)` (BLAS-3) plus
    ///   `O((C/G)·G³)` for the group matrices.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public mutating func forwardTraining(
        _ input: Span<Scalar>, shape: TensorShape, into output: inout MutableSpan<Scalar>
    ) throws(BatchNormError) -> WhiteningStatistics<Scalar> {
        try validateTraining(shape: shape, ("input", input.count), ("output", output.count))
        let factors = GroupWhiteningKernels.forwardTraining(
            input, geometry: shape.geometry, groupSize: groupSize, method: whitening.method,
            epsilon: Double(epsilon), gamma: gammaIfAffine, beta: betaIfAffine, into: &output)
        let statistics = WhiteningStatistics(factors: factors)
        if tracksRunningStatistics { updateRunningStatistics(with: statistics) }
        return statistics
    }

    /// Training forward on an array; see ``forwardTraining(_:shape:into:)``.
    /// - Returns: the output (same shape and layout) and the statistics
    ///   ``backward(gradOutput:input:shape:statistics:)`` needs.
    /// - Throws: what ``forwardTraining(_:shape:into:)`` throws; nothing is modified then.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public mutating func forwardTraining(
        _ input: [Scalar], shape: TensorShape
    ) throws(BatchNormError) -> (output: [Scalar], statistics: WhiteningStatistics<Scalar>) {
        try validateTraining(shape: shape, ("input", input.count))
        let (output, factors) = GroupWhiteningKernels.forwardTraining(
            input.span, geometry: shape.geometry, groupSize: groupSize, method: whitening.method,
            epsilon: Double(epsilon), gamma: gammaIfAffine, beta: betaIfAffine)
        let statistics = WhiteningStatistics(factors: factors)
        if tracksRunningStatistics { updateRunningStatistics(with: statistics) }
        return (output, statistics)
    }

    // MARK: - Inference

    /// Inference forward into caller-owned memory: `y = gamma ⊙ runningWhitening (x - runningMean) + beta`
    /// per group; a layer that does not track running statistics whitens with the batch's own statistics
    /// (as PyTorch with `track_running_stats=False`) and modifies nothing.
    /// - Parameters:
    ///   - input: `shape.elementCount` values in `shape.layout`.
    ///   - shape: its channel count must be `channelCount`.
    ///   - output: `shape.elementCount` values, entirely overwritten. May not alias `input`.
    /// - Throws: as ``forwardTraining(_:shape:into:)``, `.singleValuePerChannel` only for a layer without
    ///   running statistics; nothing is written then.
    /// - Complexity: one read of `input` (two with batch statistics), one write of `output`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forwardInference(
        _ input: Span<Scalar>, shape: TensorShape, into output: inout MutableSpan<Scalar>
    ) throws(BatchNormError) {
        guard tracksRunningStatistics else {
            var copy = self
            _ = try copy.forwardTraining(input, shape: shape, into: &output)
            return
        }
        try validate(shape: shape, ("input", input.count), ("output", output.count))
        try validateRunningStatistics()
        GroupWhiteningKernels.forwardInference(
            input, geometry: shape.geometry, groupSize: groupSize, mean: runningMean,
            whitening: runningWhitening, gamma: gammaIfAffine, beta: betaIfAffine, into: &output)
    }

    /// Inference forward on an array; see ``forwardInference(_:shape:into:)``.
    /// - Throws: what ``forwardInference(_:shape:into:)`` throws.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forwardInference(_ input: [Scalar], shape: TensorShape) throws(BatchNormError) -> [Scalar] {
        guard tracksRunningStatistics else {
            var copy = self
            return try copy.forwardTraining(input, shape: shape).output
        }
        try validate(shape: shape, ("input", input.count))
        try validateRunningStatistics()
        return GroupWhiteningKernels.forwardInference(
            input.span, geometry: shape.geometry, groupSize: groupSize, mean: runningMean,
            whitening: runningWhitening, gamma: gammaIfAffine, beta: betaIfAffine)
    }

    // MARK: - Running statistics

    /// `running = (1 - factor) · running + factor · batch` in `Double`, `factor` the momentum or
    /// `1 / numBatchesTracked`. The counter saturates at `Int.max`.
    mutating func updateRunningStatistics(with statistics: WhiteningStatistics<Scalar>) {
        if numBatchesTracked < Int.max { numBatchesTracked += 1 }
        let factor = momentum.map(Double.init) ?? 1 / Double(numBatchesTracked)
        let center = statistics.factors.center
        for channel in 0..<channelCount {
            runningMean[channel] = Scalar((1 - factor) * Double(runningMean[channel]) + factor * center.value(channel))
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
