// MARK: - Forward

/// The training passes split at their reductions, for a batch spread over several processes
/// (synchronized batch norm, PyTorch's `SyncBatchNorm`). Each process holds some samples of the batch
/// and the same layer; a distributed backend (see the `BatchNormMPI` package) supplies the two
/// exchanges:
/// ```
/// forward:   local = partialStatistics(x_r)                          every process
///            global = merge of every process's local                 exchange 1 (Chan's formula)
///            y_r = forwardTraining(x_r, globalStatistics: global)    every process, no communication
/// backward:  local = backwardSums(dy_r, x_r, statistics)             every process
///            global = sum of every process's local                   exchange 2
///            dx_r = backward(dy_r, x_r, globalSums: global, ...)     every process, no communication
/// ```
/// With the same parts merged in the same order everywhere, every process normalizes with
/// bit-identical statistics and keeps identical running statistics. Up to rounding, the outputs,
/// gradients and running statistics equal those of one ``forwardTraining(_:shape:into:)-(Span<Scalar>,_,_)``
/// and ``backward(gradOutput:input:shape:statistics:into:)`` over the concatenated batch.
/// Inference needs no exchange: ``forwardInference(_:shape:into:)-(Span<Scalar>,_,_)`` uses the running
/// statistics.
///
/// A process without samples takes part through ``PartialStatistics/empty(channelCount:)``,
/// ``forwardTrainingWithoutLocalSamples(globalStatistics:)``, ``GradientSums/zero(channelCount:)`` and
/// ``backwardWithoutLocalSamples(statistics:globalSums:globalCount:)``.
extension BatchNorm {
    /// The per-channel count, mean and sum of squared deviations of this process's part of the batch.
    /// Mutates nothing.
    ///
    /// - Parameters:
    ///   - input: `shape.elementCount` values in `shape.layout` order.
    ///   - shape: the local part's shape (any batch size `>= 1`, one value per channel included); its
    ///     channel count must be `channelCount`.
    /// - Returns: statistics over `shape.valuesPerChannel` values per channel.
    /// - Throws: `BatchNormError` for a channel count or element count that does not match, and for
    ///   parameters or running statistics of the wrong length: every check of
    ///   ``forwardTraining(_:shape:globalStatistics:into:)-(Span<Scalar>,_,_,_)`` that does not involve
    ///   its output or the global statistics, so that a distributed backend can refuse a call before
    ///   any exchange.
    /// - Complexity: one read of `input` (two on the BLAS path).
    public func partialStatistics(
        _ input: Span<Scalar>, shape: TensorShape
    ) throws(BatchNormError) -> PartialStatistics<Scalar> {
        try validate(shape: shape)
        try Self.validate("input", count: input.count, shape: shape)
        try validateAffineParameters()
        try validateRunningStatistics()
        try validateBatchCounter()
        return PartialStatistics(BatchNormKernels.moments(of: input, geometry: shape.geometry, path: kernelPath))
    }

    /// Partial statistics of an array; see ``partialStatistics(_:shape:)-(Span<Scalar>,_)``.
    public func partialStatistics(_ input: [Scalar], shape: TensorShape) throws(BatchNormError) -> PartialStatistics<Scalar> {
        try partialStatistics(input.span, shape: shape)
    }

    /// Training forward of this process's part of a batch with the statistics of the whole batch:
    /// ```
    /// output = (input - mean_G) / sqrt(var_G + eps) * gamma + beta,   var_G = M2_G / M_G
    /// running = (1 - f) * running + f * (mean_G, M2_G / (M_G - 1))
    /// ```
    /// Updates the running statistics (when tracked) and `numBatchesTracked` exactly as
    /// ``forwardTraining(_:shape:into:)-(Span<Scalar>,_,_)`` does for the whole batch.
    ///
    /// - Parameters:
    ///   - input: `shape.elementCount` values in `shape.layout` order.
    ///   - shape: the local part's shape (any batch size `>= 1`); its channel count must be `channelCount`.
    ///   - globalStatistics: the merged statistics of every part of the batch, the same on every process;
    ///     more than one value per channel.
    ///   - output: `shape.elementCount` values, entirely overwritten. May not alias `input`.
    /// - Returns: the statistics normalized with (global mean, biased global variance, inverse standard
    ///   deviation), which the backward pass takes.
    /// - Throws: `BatchNormError` for a channel count, element count or parameter length that does not
    ///   match, or `.tooFewValuesPerChannel` when `globalStatistics.count <= 1`. Nothing is written then.
    /// - Complexity: one read of `input`, one write of `output`.
    public mutating func forwardTraining(
        _ input: Span<Scalar>, shape: TensorShape, globalStatistics: PartialStatistics<Scalar>,
        into output: inout MutableSpan<Scalar>
    ) throws(BatchNormError) -> BatchStatistics<Scalar> {
        try validate(shape: shape)
        try Self.validate("input", count: input.count, shape: shape)
        try Self.validate("output", count: output.count, shape: shape)
        try validate(globalStatistics: globalStatistics)
        try validateAffineParameters()
        try validateRunningStatistics()
        try validateBatchCounter()

        let inverseStandardDeviation = BatchNormKernels.normalize(
            input, geometry: shape.geometry, moments: globalStatistics.moments, gamma: gammaIfAffine,
            beta: betaIfAffine, epsilon: epsilon, into: &output, path: kernelPath)
        return finishTraining(globalStatistics.moments, inverseStandardDeviation: inverseStandardDeviation)
    }

    /// Training forward of an array part; see
    /// ``forwardTraining(_:shape:globalStatistics:into:)-(Span<Scalar>,_,_,_)``.
    /// - Returns: the normalized output and the statistics normalized with.
    public mutating func forwardTraining(
        _ input: [Scalar], shape: TensorShape, globalStatistics: PartialStatistics<Scalar>
    ) throws(BatchNormError) -> (output: [Scalar], statistics: BatchStatistics<Scalar>) {
        try Self.validate("input", count: input.count, shape: shape)
        var output = ScalarArrays.zeros(of: Scalar.self, count: input.count)
        var outputSpan = output.mutableSpan
        let statistics = try forwardTraining(
            input.span, shape: shape, globalStatistics: globalStatistics, into: &outputSpan)
        return (output, statistics)
    }

    /// The training forward step of a process that holds no samples of the batch: updates the running
    /// statistics and `numBatchesTracked` as every other process does, so all keep identical layers.
    /// - Returns: the statistics the other processes normalized with.
    /// - Throws: what ``forwardTraining(_:shape:globalStatistics:into:)-(Span<Scalar>,_,_,_)`` throws for
    ///   the statistics and parameters; nothing is changed then.
    public mutating func forwardTrainingWithoutLocalSamples(
        globalStatistics: PartialStatistics<Scalar>
    ) throws(BatchNormError) -> BatchStatistics<Scalar> {
        try validate(globalStatistics: globalStatistics)
        try validateAffineParameters()
        try validateRunningStatistics()
        try validateBatchCounter()
        let moments = globalStatistics.moments
        let inverseStandardDeviation = moments.inverseStandardDeviation(epsilon: epsilon)
        return finishTraining(moments, inverseStandardDeviation: inverseStandardDeviation)
    }

    func validate(globalStatistics: PartialStatistics<Scalar>) throws(BatchNormError) {
        try validate("globalStatistics.mean", length: globalStatistics.channelCount)
        guard globalStatistics.count > 1 else { throw .tooFewValuesPerChannel(count: globalStatistics.count) }
    }
}

// MARK: - Backward

extension BatchNorm {
    /// This process's part of the two backward sums, `Σ dy` and `Σ dy · (x - mean)`, centered on the
    /// mean in `statistics` (the global one). Mutates nothing.
    ///
    /// - Parameters:
    ///   - gradOutput: `dL/dy` of the local part, `shape.elementCount` values.
    ///   - input: the local `x` of the forward pass.
    ///   - shape: the local part's shape; its channel count must be `channelCount`.
    ///   - statistics: what ``forwardTraining(_:shape:globalStatistics:into:)-(Span<Scalar>,_,_,_)`` returned.
    /// - Throws: `BatchNormError` for mismatched sizes, statistics or parameter lengths: every check of
    ///   ``backward(gradOutput:input:shape:statistics:globalSums:globalCount:into:)`` that does not
    ///   involve its output or the global sums and count, so that a distributed backend can refuse a
    ///   call before any exchange.
    /// - Complexity: one read of `x` and `dy`.
    public func backwardSums(
        gradOutput: Span<Scalar>, input: Span<Scalar>, shape: TensorShape, statistics: BatchStatistics<Scalar>
    ) throws(BatchNormError) -> GradientSums<Scalar> {
        try validate(shape: shape)
        try Self.validate("gradOutput", count: gradOutput.count, shape: shape)
        try Self.validate("input", count: input.count, shape: shape)
        try validate("statistics.mean", length: statistics.mean.count)
        try validate("statistics.inverseStandardDeviation", length: statistics.inverseStandardDeviation.count)
        try validateAffineParameters()
        return GradientSums(BatchNormKernels.backwardReductions(
            input: input, gradient: gradOutput, geometry: shape.geometry, center: statistics.center, path: kernelPath))
    }

    /// Backward sums of array parts; see ``backwardSums(gradOutput:input:shape:statistics:)-(Span<Scalar>,_,_,_)``.
    public func backwardSums(
        gradOutput: [Scalar], input: [Scalar], shape: TensorShape, statistics: BatchStatistics<Scalar>
    ) throws(BatchNormError) -> GradientSums<Scalar> {
        try backwardSums(gradOutput: gradOutput.span, input: input.span, shape: shape, statistics: statistics)
    }

    /// The elementwise step of the training backward for this process's part, with the sums and the
    /// value count of the whole batch:
    /// ```
    /// dβ = Σ_G dy,   dγ = invstd · Σ_G dy · (x - mean)
    /// dx = γ · invstd / M_G · (M_G · dy - dβ - x̂ · dγ)
    /// ```
    /// - Parameters:
    ///   - gradOutput: `dL/dy` of the local part, `shape.elementCount` values.
    ///   - input: the local `x` of the forward pass.
    ///   - shape: the local part's shape; its channel count must be `channelCount`.
    ///   - statistics: what the forward pass returned (the same on every process).
    ///   - globalSums: the local ``backwardSums(gradOutput:input:shape:statistics:)-(Span<Scalar>,_,_,_)``
    ///     of every process, added up.
    ///   - globalCount: values per channel of the whole batch (`PartialStatistics.count` of the
    ///     statistics the forward pass used), `> 1`.
    ///   - inputGradient: receives the local `dL/dx`; entirely overwritten.
    /// - Returns: `dγ` and `dβ` of the whole batch (the same on every process).
    /// - Throws: `BatchNormError` for mismatched sizes or lengths, or `.tooFewValuesPerChannel` for
    ///   `globalCount <= 1`. Nothing is written then.
    /// - Complexity: one read of `x` and `dy`, one write of `dx`.
    public func backward(
        gradOutput: Span<Scalar>, input: Span<Scalar>, shape: TensorShape, statistics: BatchStatistics<Scalar>,
        globalSums: GradientSums<Scalar>, globalCount: Int, into inputGradient: inout MutableSpan<Scalar>
    ) throws(BatchNormError) -> ParameterGradients<Scalar> {
        try validate(shape: shape)
        try Self.validate("gradOutput", count: gradOutput.count, shape: shape)
        try Self.validate("input", count: input.count, shape: shape)
        try Self.validate("inputGradient", count: inputGradient.count, shape: shape)
        let step = try inputGradientStep(statistics: statistics, globalSums: globalSums, globalCount: globalCount)
        BatchNormKernels.backwardInputGradient(
            input: input, gradient: gradOutput, geometry: shape.geometry, coefficients: step.coefficients,
            into: &inputGradient, path: kernelPath)
        return ParameterGradients(step.parameterGradients)
    }

    /// Backward of array parts; see
    /// ``backward(gradOutput:input:shape:statistics:globalSums:globalCount:into:)``.
    public func backward(
        gradOutput: [Scalar], input: [Scalar], shape: TensorShape, statistics: BatchStatistics<Scalar>,
        globalSums: GradientSums<Scalar>, globalCount: Int
    ) throws(BatchNormError) -> BatchNormGradients<Scalar> {
        try Self.gradientsInNewArray(gradOutput: gradOutput, shape: shape) { (inputGradient) throws(BatchNormError) in
            try backward(
                gradOutput: gradOutput.span, input: input.span, shape: shape, statistics: statistics,
                globalSums: globalSums, globalCount: globalCount, into: &inputGradient)
        }
    }

    /// The backward step of a process that holds no samples: the parameter gradients of the whole
    /// batch, as every other process gets them.
    /// - Throws: what ``backward(gradOutput:input:shape:statistics:globalSums:globalCount:into:)``
    ///   throws for the statistics, sums and count.
    public func backwardWithoutLocalSamples(
        statistics: BatchStatistics<Scalar>, globalSums: GradientSums<Scalar>, globalCount: Int
    ) throws(BatchNormError) -> ParameterGradients<Scalar> {
        let step = try inputGradientStep(statistics: statistics, globalSums: globalSums, globalCount: globalCount)
        return ParameterGradients(step.parameterGradients)
    }

    /// Validates the per-channel inputs of the elementwise backward step and computes its coefficients.
    private func inputGradientStep(
        statistics: BatchStatistics<Scalar>, globalSums: GradientSums<Scalar>, globalCount: Int
    ) throws(BatchNormError) -> (
        coefficients: InputGradientCoefficients<Scalar>, parameterGradients: (gamma: [Scalar], beta: [Scalar])
    ) {
        try validate("statistics.mean", length: statistics.mean.count)
        try validate("statistics.inverseStandardDeviation", length: statistics.inverseStandardDeviation.count)
        try validate("globalSums.sumGradient", length: globalSums.channelCount)
        guard globalCount > 1 else { throw .tooFewValuesPerChannel(count: globalCount) }
        try validateAffineParameters()
        return BatchNormKernels.trainingInputGradient(
            reductions: globalSums.reductions, center: statistics.center,
            inverseStandardDeviation: statistics.inverseStandardDeviation, gamma: gammaIfAffine,
            valuesPerChannel: globalCount)
    }
}
