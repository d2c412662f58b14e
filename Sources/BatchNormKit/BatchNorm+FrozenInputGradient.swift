// MARK: - Input gradient alone, with running statistics

extension BatchNorm {
    /// The input gradient of ``forwardInference(_:shape:into:)-(Span<Scalar>,_,_)`` with running
    /// statistics as constants, without `dγ` and `dβ`: `dx = dy · γ · invstd`,
    /// `invstd = 1 / sqrt(runningVariance + eps)` (`γ = 1` for a non-affine layer).
    ///
    /// The training step of **frozen statistics** when `γ` and `β` are not learned either: detectron2's
    /// `FrozenBatchNorm2d` keeps them as buffers. `x` does not enter: one read of `gradOutput` and one
    /// write of `inputGradient`, where ``backwardInference(gradOutput:input:shape:into:)`` also reads `x`
    /// for `dγ`. `dx` is the same bits as that method's.
    /// - Parameters:
    ///   - gradOutput: `dL/dy`, `shape.elementCount` values.
    ///   - shape: the shape of `gradOutput`; its channel count must be `channelCount`.
    ///   - inputGradient: receives `dL/dx`; entirely overwritten. Nothing else is mutated.
    /// - Throws: `.runningStatisticsNotTracked` for a layer without running statistics, or
    ///   `BatchNormError` for mismatched sizes. Nothing is written then.
    public func inputGradientInference(
        gradOutput: Span<Scalar>, shape: TensorShape, into inputGradient: inout MutableSpan<Scalar>
    ) throws(BatchNormError) {
        try validateInferenceBackward(
            gradOutput: gradOutput.count, input: nil, forwardOutput: gradOutput.count,
            inputGradient: inputGradient.count, shape: shape)
        BatchNormKernels.inferenceInputGradient(
            gradient: gradOutput, geometry: shape.geometry, variance: runningVariance, gamma: gammaIfAffine,
            epsilon: epsilon, into: &inputGradient, path: kernelPath)
    }

    /// Array form of ``inputGradientInference(gradOutput:shape:into:)``: `dL/dx` in a new array.
    public func inputGradientInference(gradOutput: [Scalar], shape: TensorShape) throws(BatchNormError) -> [Scalar] {
        try Self.validate("gradOutput", count: gradOutput.count, shape: shape)
        var inputGradient = ScalarArrays.zeros(of: Scalar.self, count: gradOutput.count)
        var inputGradientSpan = inputGradient.mutableSpan
        try inputGradientInference(gradOutput: gradOutput.span, shape: shape, into: &inputGradientSpan)
        _ = consume inputGradientSpan
        return inputGradient
    }

    /// ``inputGradientInference(gradOutput:shape:into:)`` through the activation of
    /// ``forwardInference(_:shape:residual:activation:into:)``: `dz = y <= 0 ? 0 : dy` (`.relu`, PyTorch's
    /// `threshold_backward`: `y == 0` gives 0, a NaN `y` passes `dy`), `dx = dz · γ · invstd`. One pass
    /// over `gradOutput` and `forwardOutput`; `dx` is the same bits as
    /// ``backwardInference(gradOutput:input:forwardOutput:shape:activation:into:)``'s.
    /// - Parameters:
    ///   - gradOutput: `dL/dy`, `shape.elementCount` values.
    ///   - forwardOutput: the forward's `y` (checked against `shape`; read only with `.relu`).
    ///   - shape: the shape of `gradOutput`; its channel count must be `channelCount`.
    ///   - activation: the forward's activation.
    ///   - inputGradient: receives `dL/dx`; entirely overwritten. Nothing else is mutated.
    /// - Throws: as ``inputGradientInference(gradOutput:shape:into:)``. Nothing is written then.
    public func inputGradientInference(
        gradOutput: Span<Scalar>, forwardOutput: Span<Scalar>, shape: TensorShape, activation: FusedActivation,
        into inputGradient: inout MutableSpan<Scalar>
    ) throws(BatchNormError) {
        guard activation == .relu else {
            try Self.validate("forwardOutput", count: forwardOutput.count, shape: shape)
            return try inputGradientInference(gradOutput: gradOutput, shape: shape, into: &inputGradient)
        }
        try validateInferenceBackward(
            gradOutput: gradOutput.count, input: nil, forwardOutput: forwardOutput.count,
            inputGradient: inputGradient.count, shape: shape)
        BatchNormKernels.inferenceInputGradient(
            gradient: gradOutput, forwardOutput: forwardOutput, geometry: shape.geometry, variance: runningVariance,
            gamma: gammaIfAffine, epsilon: epsilon, into: &inputGradient)
    }

    /// ``inputGradientInference(gradOutput:forwardOutput:shape:activation:into:)`` for a forward that
    /// added a residual: also writes `dL/dresidual = dz` (`dy` without the activation).
    public func inputGradientInference(
        gradOutput: Span<Scalar>, forwardOutput: Span<Scalar>, shape: TensorShape, activation: FusedActivation,
        into inputGradient: inout MutableSpan<Scalar>, residualGradient: inout MutableSpan<Scalar>
    ) throws(BatchNormError) {
        try validateInferenceBackward(
            gradOutput: gradOutput.count, input: nil, forwardOutput: forwardOutput.count,
            inputGradient: inputGradient.count, shape: shape)
        try Self.validate("residualGradient", count: residualGradient.count, shape: shape)
        guard activation == .relu else {
            Self.copy(gradOutput, into: &residualGradient)
            return try inputGradientInference(gradOutput: gradOutput, shape: shape, into: &inputGradient)
        }
        BatchNormKernels.inferenceInputGradient(
            gradient: gradOutput, forwardOutput: forwardOutput, geometry: shape.geometry, variance: runningVariance,
            gamma: gammaIfAffine, epsilon: epsilon, into: &inputGradient, residualGradient: &residualGradient)
    }

    /// Array form of the input gradient through the activation: `dL/dx`, and `dL/dresidual` when
    /// `residualGradient` is true (else `nil`), in new arrays.
    public func inputGradientInference(
        gradOutput: [Scalar], forwardOutput: [Scalar], shape: TensorShape, activation: FusedActivation,
        residualGradient: Bool = false
    ) throws(BatchNormError) -> (input: [Scalar], residual: [Scalar]?) {
        let gradients = try Self.gradientsInNewArrays(
            gradOutput: gradOutput, shape: shape, residualGradient: residualGradient
        ) { (inputGradient, residual) throws(BatchNormError) in
            if residualGradient {
                try inputGradientInference(
                    gradOutput: gradOutput.span, forwardOutput: forwardOutput.span, shape: shape, activation: activation,
                    into: &inputGradient, residualGradient: &residual)
            } else {
                try inputGradientInference(
                    gradOutput: gradOutput.span, forwardOutput: forwardOutput.span, shape: shape, activation: activation,
                    into: &inputGradient)
            }
            return ParameterGradients(gamma: [], beta: [])
        }
        return (gradients.input, gradients.residual)
    }
}
