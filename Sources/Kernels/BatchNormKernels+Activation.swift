/// Batch norm fused with its neighbours in a residual network: an optional residual add and an
/// optional ReLU after the normalization, and the matching backward passes, which take the forward's
/// output `y` for the ReLU mask (`dz = y <= 0 ? 0 : dy`, PyTorch's `threshold_backward`).
///
/// These run on the fused path only (the BLAS composition has no epilogue): whatever `KernelPath` a
/// caller pins, the activation entry points below use `FusedPasses`.
///
/// Costs in memory traffic (`S` = one tensor):
/// - forward: as plain batch norm, plus one read of the residual when given;
/// - backward: the reductions pass reads `x`, `dy` and `y` and writes `dz` (into the residual
///   gradient, or into `dx` when there is none), and the elementwise pass reads `x` and `dz` instead of
///   `dy` and writes `dx`: one read and one write more than plain backward. Large channels-first training
///   tensors walk a channel at a time instead: `x`, `dy` and `y` read from memory once, `dz` written only
///   as the residual gradient.
extension BatchNormKernels {
    // MARK: - Forward

    /// ``trainingForward(_:geometry:gamma:beta:epsilon:into:path:)`` followed by
    /// `output = relu?(output + residual?)`, in the same elementwise pass.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func trainingForward<Scalar: BatchNormScalar>(
        _ input: Span<Scalar>, residual: Span<Scalar>?, relu: Bool, geometry: ChannelGeometry,
        gamma: [Scalar]?, beta: [Scalar]?, epsilon: Scalar, into output: inout MutableSpan<Scalar>
    ) -> (moments: ChannelMoments<Scalar>, inverseStandardDeviation: [Scalar]) {
        assert(input.count == geometry.elementCount && output.count == geometry.elementCount)
        if let residual { assert(residual.count == geometry.elementCount) }
        return withEpilogue(residual, relu: relu) { epilogue in
            input.withUnsafeBufferPointer { inputBuffer in
                output.withUnsafeMutableBufferPointer { outputBuffer in
                    guard let inputBase = inputBuffer.baseAddress, let outputBase = outputBuffer.baseAddress else {
                        return (ChannelMoments<Scalar>.empty(channelCount: geometry.channelCount),
                                [Scalar](repeating: 0, count: geometry.channelCount))
                    }
                    return FusedPasses.trainingForward(
                        inputBase, outputBase, geometry: geometry, gamma: gamma, beta: beta, epsilon: epsilon,
                        epilogue: epilogue)
                }
            }
        }
    }

    /// ``inferenceForward(_:geometry:mean:variance:gamma:beta:epsilon:into:path:)`` followed by
    /// `output = relu?(output + residual?)`, in the same elementwise pass.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func inferenceForward<Scalar: BatchNormScalar>(
        _ input: Span<Scalar>, residual: Span<Scalar>?, relu: Bool, geometry: ChannelGeometry,
        mean: [Scalar], variance: [Scalar], gamma: [Scalar]?, beta: [Scalar]?, epsilon: Scalar,
        into output: inout MutableSpan<Scalar>
    ) {
        assert(input.count == geometry.elementCount && output.count == geometry.elementCount)
        if let residual { assert(residual.count == geometry.elementCount) }
        withEpilogue(residual, relu: relu) { epilogue in
            input.withUnsafeBufferPointer { inputBuffer in
                output.withUnsafeMutableBufferPointer { outputBuffer in
                    guard let inputBase = inputBuffer.baseAddress, let outputBase = outputBuffer.baseAddress else { return }
                    FusedPasses.inferenceNormalize(
                        inputBase, outputBase, geometry: geometry, mean: mean, variance: variance, gamma: gamma,
                        beta: beta, epsilon: epsilon, epilogue: epilogue)
                }
            }
        }
    }

    /// Runs `body` with the epilogue pointing into `residual` (the one place its span becomes a pointer).
    private static func withEpilogue<Scalar: BatchNormScalar, Result>(
        _ residual: Span<Scalar>?, relu: Bool, _ body: (Fused.ForwardEpilogue<Scalar>) -> Result
    ) -> Result {
        guard let residual else { return body(Fused.ForwardEpilogue(residual: nil, relu: relu)) }
        return residual.withUnsafeBufferPointer { body(Fused.ForwardEpilogue(residual: $0.baseAddress, relu: relu)) }
    }

    // MARK: - Backward through ReLU

    /// The statistics a masked backward pass treats as variables (training) or constants (inference).
    package enum BackwardStatistics<Scalar: BatchNormScalar>: Sendable {
        /// The batch statistics of a training forward: the two-word mean and `invstd`.
        case batch(mean: ChannelCenter<Scalar>, inverseStandardDeviation: [Scalar])
        /// Running statistics, constants of the forward.
        case running(mean: [Scalar], variance: [Scalar], epsilon: Scalar)
    }

    /// Backward of `y = relu(bn(x) [+ residual])` with the ReLU mask taken from `y`:
    /// `dz = y <= 0 ? 0 : dy`, then batch norm's backward with `dz` in place of `dy`. `dz` (which is
    /// `dresidual`) is written to `inputGradient` first and then overwritten by `dx`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func reluBackward<Scalar: BatchNormScalar>(
        input: Span<Scalar>, gradient: Span<Scalar>, forwardOutput: Span<Scalar>, geometry: ChannelGeometry,
        statistics: BackwardStatistics<Scalar>, gamma: [Scalar]?, into inputGradient: inout MutableSpan<Scalar>
    ) -> (gamma: [Scalar], beta: [Scalar]) {
        inputGradient.withUnsafeMutableBufferPointer { resultBuffer in
            guard let resultBase = resultBuffer.baseAddress else { return zeroGradients(geometry.channelCount) }
            return reluBackward(
                input: input, gradient: gradient, forwardOutput: forwardOutput, geometry: geometry,
                statistics: statistics, gamma: gamma, maskedGradient: resultBase, inputGradient: resultBase)
        }
    }

    /// ``reluBackward(input:gradient:forwardOutput:geometry:statistics:gamma:into:)`` that also keeps
    /// `dz = [y > 0] · dy` in `residualGradient` (the gradient of the residual of `relu(bn(x) + r)`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func reluBackward<Scalar: BatchNormScalar>(
        input: Span<Scalar>, gradient: Span<Scalar>, forwardOutput: Span<Scalar>, geometry: ChannelGeometry,
        statistics: BackwardStatistics<Scalar>, gamma: [Scalar]?, into inputGradient: inout MutableSpan<Scalar>,
        residualGradient: inout MutableSpan<Scalar>
    ) -> (gamma: [Scalar], beta: [Scalar]) {
        assert(residualGradient.count == geometry.elementCount)
        return residualGradient.withUnsafeMutableBufferPointer { residualBuffer in
            inputGradient.withUnsafeMutableBufferPointer { resultBuffer in
                guard let residualBase = residualBuffer.baseAddress, let resultBase = resultBuffer.baseAddress else {
                    return zeroGradients(geometry.channelCount)
                }
                return reluBackward(
                    input: input, gradient: gradient, forwardOutput: forwardOutput, geometry: geometry,
                    statistics: statistics, gamma: gamma, maskedGradient: residualBase, inputGradient: resultBase)
            }
        }
    }

    /// Backward of the training `y = relu(bn(x))` (no residual) with the mask recomputed from `x`:
    /// both passes evaluate the forward's pre-activation `(x - mean)·scale + foldedShift` with the
    /// coefficients of `FusedPasses.trainingCoefficients` (the forward's, bit for bit, given the same
    /// statistics, `gamma` and `beta`), so `y` is not read and `dz` not stored: the traffic of plain backward.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func reluBackwardRecomputingMask<Scalar: BatchNormScalar>(
        input: Span<Scalar>, gradient: Span<Scalar>, geometry: ChannelGeometry, mean: ChannelCenter<Scalar>,
        inverseStandardDeviation: [Scalar], gamma: [Scalar]?, beta: [Scalar]?,
        into inputGradient: inout MutableSpan<Scalar>
    ) -> (gamma: [Scalar], beta: [Scalar]) {
        assert(input.count == geometry.elementCount && gradient.count == geometry.elementCount
               && inputGradient.count == geometry.elementCount)
        let coefficients = FusedPasses.trainingCoefficients(
            center: mean, inverseStandardDeviation: inverseStandardDeviation, gamma: gamma, beta: beta)
        let recomputed = ReLUCoefficients(scale: coefficients.scale, foldedShift: coefficients.foldedShift)
        return input.withUnsafeBufferPointer { inputBuffer in
            gradient.withUnsafeBufferPointer { gradientBuffer in
                inputGradient.withUnsafeMutableBufferPointer { resultBuffer in
                    guard let inputBase = inputBuffer.baseAddress, let gradientBase = gradientBuffer.baseAddress,
                          let resultBase = resultBuffer.baseAddress else { return zeroGradients(geometry.channelCount) }
                    if let maskBound = recomputed.maskBound, Fused.walksChannels(geometry, Scalar.self, cachedTensors: 2) {
                        // Channels-first tensors beyond the cache: a channel's sums, then its dx from the cache.
                        return FusedPasses.channelWalkTrainingBackward(
                            inputBase, gradientBase, resultBase, geometry: geometry, mean: mean,
                            inverseStandardDeviation: inverseStandardDeviation, gamma: gamma, maskBound: maskBound)
                    }
                    let reductions = FusedPasses.backwardReductions(
                        inputBase, gradientBase, geometry: geometry, center: mean, recomputed: recomputed)
                    let step = trainingInputGradient(
                        reductions: reductions, center: mean, inverseStandardDeviation: inverseStandardDeviation,
                        gamma: gamma, valuesPerChannel: geometry.valuesPerChannel)
                    FusedPasses.inputGradient(
                        inputBase, gradientBase, resultBase, geometry: geometry, coefficients: step.coefficients,
                        recomputed: recomputed)
                    return step.parameterGradients
                }
            }
        }
    }

    /// Zeros: the `dγ` and `dβ` of a backward pass over no elements.
    private static func zeroGradients<Scalar: BatchNormScalar>(
        _ channelCount: Int
    ) -> (gamma: [Scalar], beta: [Scalar]) {
        let zeros = [Scalar](repeating: 0, count: channelCount)
        return (zeros, zeros)
    }

    /// The two passes: masked reductions (reading `x`, `dy`, `y`, writing `dz`), the per-channel step
    /// in `Double`, then the elementwise step reading `x` and `dz`; or, for large channels-first training
    /// tensors, the same a channel at a time (``FusedPasses/channelWalkTrainingBackward(_:_:_:geometry:mean:inverseStandardDeviation:gamma:maskBound:mask:)``).
    /// `maskedGradient` may be `inputGradient`.
    private static func reluBackward<Scalar: BatchNormScalar>(
        input: Span<Scalar>, gradient: Span<Scalar>, forwardOutput: Span<Scalar>, geometry: ChannelGeometry,
        statistics: BackwardStatistics<Scalar>, gamma: [Scalar]?,
        maskedGradient: UnsafeMutablePointer<Scalar>, inputGradient: UnsafeMutablePointer<Scalar>
    ) -> (gamma: [Scalar], beta: [Scalar]) {
        assert(input.count == geometry.elementCount && gradient.count == geometry.elementCount
               && forwardOutput.count == geometry.elementCount)
        return input.withUnsafeBufferPointer { inputBuffer in
            gradient.withUnsafeBufferPointer { gradientBuffer in
                forwardOutput.withUnsafeBufferPointer { outputBuffer in
                    guard let inputBase = inputBuffer.baseAddress, let gradientBase = gradientBuffer.baseAddress,
                          let outputBase = outputBuffer.baseAddress else { return zeroGradients(geometry.channelCount) }
                    let mask = Fused.GradientMask(forwardOutput: outputBase, maskedGradient: maskedGradient)
                    switch statistics {
                    case .batch(let mean, let inverseStandardDeviation):
                        if Fused.walksChannels(geometry, Scalar.self, cachedTensors: 3) {
                            // Channels-first tensors beyond the cache: a channel's sums, then its dx from
                            // its `x`, `dy` and `y` in the cache.
                            return FusedPasses.channelWalkTrainingBackward(
                                inputBase, gradientBase, inputGradient, geometry: geometry, mean: mean,
                                inverseStandardDeviation: inverseStandardDeviation, gamma: gamma, mask: mask)
                        }
                        let reductions = FusedPasses.backwardReductions(
                            inputBase, gradientBase, geometry: geometry, center: mean, mask: mask)
                        let step = trainingInputGradient(
                            reductions: reductions, center: mean, inverseStandardDeviation: inverseStandardDeviation,
                            gamma: gamma, valuesPerChannel: geometry.valuesPerChannel)
                        FusedPasses.inputGradient(
                            inputBase, UnsafePointer(maskedGradient), inputGradient, geometry: geometry,
                            coefficients: step.coefficients)
                        return step.parameterGradients
                    case .running(let mean, let variance, let epsilon):
                        let inverseStandardDeviation = inverseStandardDeviation(variance: variance, epsilon: epsilon)
                        let gradientScale = foldedScale(inverseStandardDeviation: inverseStandardDeviation, gamma: gamma)
                        if maskedGradient == inputGradient, let reductions = FusedPasses.frozenBackwardInChunks(
                            inputBase, gradientBase, inputGradient, geometry: geometry, mean: mean,
                            gradientScale: gradientScale, mask: mask) {
                            // Tensors beyond the cache: a chunk's masked sums, then its dx from the cache.
                            return inferenceParameterGradients(
                                reductions: reductions, inverseStandardDeviation: inverseStandardDeviation)
                        }
                        let reductions = FusedPasses.backwardReductions(
                            inputBase, gradientBase, geometry: geometry, center: ChannelCenter(high: mean), mask: mask)
                        FusedPasses.inputGradient(
                            inputBase, UnsafePointer(maskedGradient), inputGradient, geometry: geometry,
                            coefficients: InputGradientCoefficients(gradientScale: gradientScale, centered: nil))
                        return inferenceParameterGradients(
                            reductions: reductions, inverseStandardDeviation: inverseStandardDeviation)
                    }
                }
            }
        }
    }
}
