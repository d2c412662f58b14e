/// The backward with constant (running) statistics when only the input's gradient is wanted: frozen
/// batch norm whose `γ` and `β` are not learned (detectron2's `FrozenBatchNorm2d` keeps them as buffers).
/// `dx = k·dy` with `k = γ·invstd` needs neither `x` nor a reduction: one read of `dy` and one write of
/// `dx` (2·S), where ``inferenceBackward(input:gradient:geometry:mean:variance:gamma:epsilon:into:path:)``
/// also reads `x` for `dγ` (3·S at best). Through a ReLU masked by `y`: 3·S, 4·S with the residual's
/// gradient.
///
/// Each `dx` is the same bits as the full backward's.
extension BatchNormKernels {
    /// `dx = dy · γ · invstd` (`invstd = 1 / sqrt(variance + epsilon)`; `γ = 1` when absent). Writes every
    /// element of `inputGradient`; reads nothing but `gradient` and the per-channel arrays.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func inferenceInputGradient<Scalar: BatchNormScalar>(
        gradient: Span<Scalar>, geometry: ChannelGeometry, variance: [Scalar], gamma: [Scalar]?, epsilon: Scalar,
        into inputGradient: inout MutableSpan<Scalar>, path: KernelPath
    ) {
        let gradientScale = foldedScale(
            inverseStandardDeviation: inverseStandardDeviation(variance: variance, epsilon: epsilon), gamma: gamma)
        // Without a centered term the step does not read its input: `dy` stands in for `x`.
        backwardInputGradient(
            input: gradient, gradient: gradient, geometry: geometry,
            coefficients: InputGradientCoefficients(gradientScale: gradientScale, centered: nil),
            into: &inputGradient, path: path)
    }

    /// `dz = y <= 0 ? 0 : dy` (the mask of `y = relu(...)`), `dx = dz · γ · invstd`, in one pass (fused
    /// path). Writes every element of `inputGradient`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func inferenceInputGradient<Scalar: BatchNormScalar>(
        gradient: Span<Scalar>, forwardOutput: Span<Scalar>, geometry: ChannelGeometry, variance: [Scalar],
        gamma: [Scalar]?, epsilon: Scalar, into inputGradient: inout MutableSpan<Scalar>
    ) {
        inputGradient.withUnsafeMutableBufferPointer { resultBuffer in
            guard let resultBase = resultBuffer.baseAddress else { return }
            maskedInferenceInputGradient(
                gradient: gradient, forwardOutput: forwardOutput, geometry: geometry, variance: variance, gamma: gamma,
                epsilon: epsilon, maskedGradient: nil, inputGradient: resultBase)
        }
    }

    /// ``inferenceInputGradient(gradient:forwardOutput:geometry:variance:gamma:epsilon:into:)`` that also
    /// writes `dz` into `residualGradient` (the gradient of the residual of `relu(bn(x) + r)`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func inferenceInputGradient<Scalar: BatchNormScalar>(
        gradient: Span<Scalar>, forwardOutput: Span<Scalar>, geometry: ChannelGeometry, variance: [Scalar],
        gamma: [Scalar]?, epsilon: Scalar, into inputGradient: inout MutableSpan<Scalar>,
        residualGradient: inout MutableSpan<Scalar>
    ) {
        assert(residualGradient.count == geometry.elementCount)
        residualGradient.withUnsafeMutableBufferPointer { residualBuffer in
            inputGradient.withUnsafeMutableBufferPointer { resultBuffer in
                guard let residualBase = residualBuffer.baseAddress, let resultBase = resultBuffer.baseAddress else { return }
                maskedInferenceInputGradient(
                    gradient: gradient, forwardOutput: forwardOutput, geometry: geometry, variance: variance,
                    gamma: gamma, epsilon: epsilon, maskedGradient: residualBase, inputGradient: resultBase)
            }
        }
    }

    private static func maskedInferenceInputGradient<Scalar: BatchNormScalar>(
        gradient: Span<Scalar>, forwardOutput: Span<Scalar>, geometry: ChannelGeometry, variance: [Scalar],
        gamma: [Scalar]?, epsilon: Scalar, maskedGradient: UnsafeMutablePointer<Scalar>?,
        inputGradient: UnsafeMutablePointer<Scalar>
    ) {
        assert(gradient.count == geometry.elementCount && forwardOutput.count == geometry.elementCount)
        let gradientScale = foldedScale(
            inverseStandardDeviation: inverseStandardDeviation(variance: variance, epsilon: epsilon), gamma: gamma)
        gradient.withUnsafeBufferPointer { gradientBuffer in
            forwardOutput.withUnsafeBufferPointer { outputBuffer in
                guard let gradientBase = gradientBuffer.baseAddress, let outputBase = outputBuffer.baseAddress else { return }
                FusedPasses.maskedInputGradient(
                    gradientBase, forwardOutput: outputBase, maskedGradient: maskedGradient,
                    inputGradient: inputGradient, geometry: geometry, gradientScale: gradientScale)
            }
        }
    }
}
