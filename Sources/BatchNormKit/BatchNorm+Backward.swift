// MARK: - Training backward

extension BatchNorm {
    /// Backward of ``forwardTraining(_:shape:into:)-(Span<Scalar>,_,_)`` (batch statistics depend on `x`):
    /// ```
    /// dβ = Σ dy,   dγ = Σ dy · x̂,   x̂ = (x - mean) · invstd
    /// dx = γ · invstd / M · (M · dy - dβ - x̂ · dγ)
    /// ```
    /// - Parameters:
    ///   - gradOutput: `dL/dy`, `shape.elementCount` values.
    ///   - input: the `x` of the forward pass.
    ///   - shape: the shape of `input` and `gradOutput`; its channel count must be `channelCount`.
    ///   - statistics: what that forward pass returned.
    ///   - inputGradient: receives `dL/dx`; entirely overwritten.
    /// - Returns: `dγ` and `dβ`. Mutates nothing but `inputGradient`.
    /// - Throws: `BatchNormError` for mismatched sizes or statistics lengths (nothing is written then).
    /// - Complexity: two reads of `x` and `dy`, one write of `dx` (large channels-first tensors may take
    ///   the second read from cache, a channel at a time: the Performance article).
    public func backward(
        gradOutput: Span<Scalar>, input: Span<Scalar>, shape: TensorShape, statistics: BatchStatistics<Scalar>,
        into inputGradient: inout MutableSpan<Scalar>
    ) throws(BatchNormError) -> ParameterGradients<Scalar> {
        try validate(shape: shape)
        try Self.validate("gradOutput", count: gradOutput.count, shape: shape)
        try Self.validate("input", count: input.count, shape: shape)
        try Self.validate("inputGradient", count: inputGradient.count, shape: shape)
        try validate("statistics.mean", length: statistics.mean.count)
        try validate("statistics.inverseStandardDeviation", length: statistics.inverseStandardDeviation.count)
        try validateAffineParameters()
        let gradients = BatchNormKernels.trainingBackward(
            input: input, gradient: gradOutput, geometry: shape.geometry, mean: statistics.center,
            inverseStandardDeviation: statistics.inverseStandardDeviation, gamma: gammaIfAffine,
            into: &inputGradient, path: kernelPath)
        return ParameterGradients(gradients)
    }

    /// Training backward on arrays; see ``backward(gradOutput:input:shape:statistics:into:)-(Span<Scalar>,_,_,_,_)``.
    public func backward(
        gradOutput: [Scalar], input: [Scalar], shape: TensorShape, statistics: BatchStatistics<Scalar>
    ) throws(BatchNormError) -> BatchNormGradients<Scalar> {
        try Self.gradientsInNewArray(gradOutput: gradOutput, shape: shape) { (inputGradient) throws(BatchNormError) in
            try backward(
                gradOutput: gradOutput.span, input: input.span, shape: shape, statistics: statistics,
                into: &inputGradient)
        }
    }

    /// The array form shared by every backward entry point: checks `gradOutput` against `shape`, then
    /// lets `spanBackward` write `dx` into a new array of that size (left out if it throws).
    static func gradientsInNewArray(
        gradOutput: [Scalar], shape: TensorShape,
        _ spanBackward: (inout MutableSpan<Scalar>) throws(BatchNormError) -> ParameterGradients<Scalar>
    ) throws(BatchNormError) -> BatchNormGradients<Scalar> {
        try validate("gradOutput", count: gradOutput.count, shape: shape)
        var inputGradient = ScalarArrays.zeros(of: Scalar.self, count: gradOutput.count)
        var inputGradientSpan = inputGradient.mutableSpan
        let parameters = try spanBackward(&inputGradientSpan)
        return BatchNormGradients(input: inputGradient, parameters: parameters)
    }
}

// MARK: - Inference backward

extension BatchNorm {
    /// Backward of ``forwardInference(_:shape:into:)-(Span<Scalar>,_,_)`` with running statistics
    /// (constants): `dx = dy · γ · invstd`, `dγ = Σ dy · x̂`, `dβ = Σ dy`, with
    /// `invstd = 1 / sqrt(runningVariance + eps)` and `x̂ = (x - runningMean) · invstd`.
    ///
    /// When `γ` and `β` are not learned (a non-affine layer, or frozen batch norm that keeps them as buffers),
    /// ``inputGradientInference(gradOutput:shape:into:)`` gives the same `dx` without reading `x`: about half
    /// the memory traffic.
    /// - Throws: `.runningStatisticsNotTracked` for a layer without running statistics (its inference
    ///   uses batch statistics, whose backward is ``backward(gradOutput:input:shape:statistics:into:)-(Span<Scalar>,_,_,_,_)``),
    ///   or `BatchNormError` for mismatched sizes. Nothing is written then.
    public func backwardInference(
        gradOutput: Span<Scalar>, input: Span<Scalar>, shape: TensorShape,
        into inputGradient: inout MutableSpan<Scalar>
    ) throws(BatchNormError) -> ParameterGradients<Scalar> {
        guard tracksRunningStatistics else { throw .runningStatisticsNotTracked }
        try validate(shape: shape)
        try Self.validate("gradOutput", count: gradOutput.count, shape: shape)
        try Self.validate("input", count: input.count, shape: shape)
        try Self.validate("inputGradient", count: inputGradient.count, shape: shape)
        try validateAffineParameters()
        try validateRunningStatistics()
        let gradients = BatchNormKernels.inferenceBackward(
            input: input, gradient: gradOutput, geometry: shape.geometry, mean: runningMean,
            variance: runningVariance, gamma: gammaIfAffine, epsilon: epsilon,
            into: &inputGradient, path: kernelPath)
        return ParameterGradients(gradients)
    }

    /// Inference backward on arrays; see ``backwardInference(gradOutput:input:shape:into:)``.
    public func backwardInference(
        gradOutput: [Scalar], input: [Scalar], shape: TensorShape
    ) throws(BatchNormError) -> BatchNormGradients<Scalar> {
        try Self.gradientsInNewArray(gradOutput: gradOutput, shape: shape) { (inputGradient) throws(BatchNormError) in
            try backwardInference(gradOutput: gradOutput.span, input: input.span, shape: shape, into: &inputGradient)
        }
    }
}
