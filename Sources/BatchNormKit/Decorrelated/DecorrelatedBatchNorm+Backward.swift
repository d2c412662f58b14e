/// Backward pass of ``DecorrelatedBatchNorm``.
extension DecorrelatedBatchNorm {
    /// Gradients of a training step through its batch statistics (mean, covariance and the
    /// eigendecomposition or Newton–Schulz iterations), with `S = x - μ`, `x̂ = Φ S`, `D = gamma ⊙ dy`:
    /// ```
    /// dbeta = Σ dy,  dgamma = Σ dy ⊙ x̂,  dΦ = D Sᵀ,  dΣ = (ZCA: Daleckii–Krein; IterNorm: unrolled)
    /// dx = Φ (D - mean(D)) + (2 / M) sym(dΣ) S
    /// ```
    /// - Parameters:
    ///   - gradOutput: `dL/dy`, same shape and layout as `input`.
    ///   - input: the `x` of the forward step.
    ///   - shape: the shape of `input` and `gradOutput`; its channel count must be the layer's.
    ///   - statistics: what ``forwardTraining(_:shape:)`` returned for `input`.
    /// - Returns: `dL/dx`, `dL/dgamma`, `dL/dbeta` (the last two also for a non-affine layer).
    /// - Throws: `BatchNormError.channelCountMismatch`, `.elementCountMismatch`, `.parameterLengthMismatch`,
    ///   `.whiteningLengthMismatch` (statistics of another layer), `.whiteningSizeUnsupported`.
    /// - Complexity: `O(C·G·M)` (BLAS-3) plus `O((C/G)·G³)` (IterNorm: `O((C/G)·G³·T)`).
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
            input: gradients.input, parameters: ParameterGradients(gamma: gradients.gamma, beta: gradients.beta))
    }
}
