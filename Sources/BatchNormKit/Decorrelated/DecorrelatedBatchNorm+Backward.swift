/// Backward passes of ``DecorrelatedBatchNorm``.
extension DecorrelatedBatchNorm {
    // MARK: - Training

    /// Gradients of a training step through its batch statistics (mean, covariance and the
    /// eigendecomposition or Newton–Schulz iterations), into caller-owned memory. With `S = x - μ`,
    /// `x̂ = Φ S`, `D = gamma ⊙ dy`:
    /// ```
    /// dbeta = Σ dy,  dgamma = Σ dy ⊙ x̂,  dΦ = D Sᵀ,  dΣ = (ZCA: Daleckii–Krein; IterNorm: unrolled)
    /// dx = Φ (D - mean(D)) + (2 / M) sym(dΣ) S
    /// ```
    /// - Parameters:
    ///   - gradOutput: `dL/dy`, same shape and layout as `input`.
    ///   - input: the `x` of the forward step.
    ///   - shape: the shape of `input` and `gradOutput`; its channel count must be the layer's.
    ///   - statistics: what ``forwardTraining(_:shape:into:)`` returned for `input`.
    ///   - inputGradient: `shape.elementCount` values, entirely overwritten with `dL/dx`.
    /// - Returns: `dL/dgamma`, `dL/dbeta` (also for a non-affine layer). Mutates nothing but `inputGradient`.
    /// - Throws: `BatchNormError.channelCountMismatch`, `.elementCountMismatch`, `.parameterLengthMismatch`,
    ///   `.whiteningLengthMismatch` (statistics of another layer), `.whiteningSizeUnsupported`; nothing
    ///   is written then.
    /// - Complexity: two reads of `input` and `gradOutput`, one write of `inputGradient`; `O(C·G·M)`
    ///   (BLAS-3) plus `O((C/G)·G³)` (IterNorm: `O((C/G)·G³·T)`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func backward(
        gradOutput: Span<Scalar>, input: Span<Scalar>, shape: TensorShape, statistics: WhiteningStatistics<Scalar>,
        into inputGradient: inout MutableSpan<Scalar>
    ) throws(BatchNormError) -> ParameterGradients<Scalar> {
        try validate(
            shape: shape, ("gradOutput", gradOutput.count), ("input", input.count),
            ("inputGradient", inputGradient.count))
        try validate(statistics: statistics)
        let sums = GroupWhiteningKernels.backward(
            gradOutput: gradOutput, input: input, geometry: shape.geometry, groupSize: groupSize,
            method: whitening.method, epsilon: Double(epsilon), factors: statistics.factors, gamma: gammaIfAffine,
            into: &inputGradient)
        return ParameterGradients(sums)
    }

    /// Training backward on arrays; see ``backward(gradOutput:input:shape:statistics:into:)``.
    /// - Parameters:
    ///   - gradOutput: `dL/dy`, same shape and layout as `input`.
    ///   - input: the `x` of the forward step.
    ///   - shape: the shape of `input` and `gradOutput`; its channel count must be the layer's.
    ///   - statistics: what ``forwardTraining(_:shape:)`` returned for `input`.
    /// - Returns: `dL/dx`, `dL/dgamma`, `dL/dbeta` (the last two also for a non-affine layer).
    /// - Throws: what ``backward(gradOutput:input:shape:statistics:into:)`` throws.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func backward(
        gradOutput: [Scalar], input: [Scalar], shape: TensorShape, statistics: WhiteningStatistics<Scalar>
    ) throws(BatchNormError) -> BatchNormGradients<Scalar> {
        try validate(shape: shape, ("gradOutput", gradOutput.count), ("input", input.count))
        try validate(statistics: statistics)
        let gradients = GroupWhiteningKernels.backward(
            gradOutput: gradOutput.span, input: input.span, geometry: shape.geometry, groupSize: groupSize,
            method: whitening.method, epsilon: Double(epsilon), factors: statistics.factors, gamma: gammaIfAffine)
        return BatchNormGradients(
            input: gradients.input, parameters: ParameterGradients(gradients.parameters))
    }

    // MARK: - Inference

    /// Gradients of ``forwardInference(_:shape:into:)`` with the running statistics as constants. With
    /// `A = diag(gamma) · runningWhitening` and `x̂ = runningWhitening (x - runningMean)` per group:
    /// ```
    /// dx = Aᵀ dy,   dgamma = Σ dy ⊙ x̂,   dbeta = Σ dy
    /// ```
    /// - Parameters:
    ///   - gradOutput: `dL/dy`, same shape and layout as `input`.
    ///   - input: the `x` of the inference step.
    ///   - shape: the shape of `input` and `gradOutput`; its channel count must be the layer's.
    ///   - inputGradient: `shape.elementCount` values, entirely overwritten with `dL/dx`.
    /// - Returns: `dL/dgamma`, `dL/dbeta`. Mutates nothing but `inputGradient`.
    /// - Throws: `BatchNormError.runningStatisticsNotTracked` for a layer without running statistics,
    ///   and the shape and length errors of ``forwardInference(_:shape:into:)``; nothing is written then.
    /// - Complexity: two reads of `input` and `gradOutput`, one write of `inputGradient`; `O(C·G·M)` (BLAS-3).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func backwardInference(
        gradOutput: Span<Scalar>, input: Span<Scalar>, shape: TensorShape,
        into inputGradient: inout MutableSpan<Scalar>
    ) throws(BatchNormError) -> ParameterGradients<Scalar> {
        guard tracksRunningStatistics else { throw .runningStatisticsNotTracked }
        try validate(
            shape: shape, ("gradOutput", gradOutput.count), ("input", input.count),
            ("inputGradient", inputGradient.count))
        try validateRunningStatistics()
        let sums = GroupWhiteningKernels.inferenceBackward(
            gradOutput: gradOutput, input: input, geometry: shape.geometry, groupSize: groupSize,
            mean: runningMean, whitening: runningWhitening, gamma: gammaIfAffine, into: &inputGradient)
        return ParameterGradients(sums)
    }

    /// Inference backward on arrays; see ``backwardInference(gradOutput:input:shape:into:)``.
    /// - Parameters:
    ///   - gradOutput: `dL/dy`, same shape and layout as `input`.
    ///   - input: the `x` of the inference step.
    ///   - shape: the shape of `input` and `gradOutput`.
    /// - Returns: `dL/dx`, `dL/dgamma`, `dL/dbeta`.
    /// - Throws: what ``backwardInference(gradOutput:input:shape:into:)`` throws.
    public func backwardInference(
        gradOutput: [Scalar], input: [Scalar], shape: TensorShape
    ) throws(BatchNormError) -> BatchNormGradients<Scalar> {
        guard tracksRunningStatistics else { throw .runningStatisticsNotTracked }
        try validate(shape: shape, ("gradOutput", gradOutput.count), ("input", input.count))
        var inputGradient = ScalarArrays.zeros(of: Scalar.self, count: input.count)
        var inputGradientSpan = inputGradient.mutableSpan
        let parameters = try backwardInference(
            gradOutput: gradOutput.span, input: input.span, shape: shape, into: &inputGradientSpan)
        return BatchNormGradients(input: inputGradient, parameters: parameters)
    }
}
