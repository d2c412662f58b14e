/// The whole forward and backward passes, composed from the kernels in `BatchNormKernels.swift`.
/// Per-channel arithmetic (inverse standard deviation, folded coefficients) runs in `Double` and is
/// rounded once to `Scalar`.
extension BatchNormKernels {
    /// `invstd = 1 / sqrt(variance + epsilon)` of given (running) variances, in `Double`, rounded once.
    package static func inverseStandardDeviation<Scalar: BatchNormScalar>(
        variance: [Scalar], epsilon: Scalar
    ) -> [Scalar] {
        // StandardDeviation.inverse per channel, its square roots and divisions in C (ChannelLoops).
        ChannelLoops.map(ChannelLoops.inverseSquareRoots(ChannelLoops.map(variance) { Double($0) }, epsilon: Double(epsilon))) {
            Scalar($0)
        }
    }

    /// The fused inference forward's `scale = γ·invstd` and `foldedShift = β - 0·scale` about `mean` (a
    /// center without a low word): ``FusedPasses/trainingCoefficients(center:inverseStandardDeviation:gamma:beta:)``
    /// of ``inverseStandardDeviation(variance:epsilon:)``, in one C loop where the AVX build runs
    /// (``ChannelLoops/inferenceCoefficients(variance:gamma:beta:epsilon:)``); the same bits either way.
    package static func fusedInferenceCoefficients<Scalar: BatchNormScalar>(
        mean: [Scalar], variance: [Scalar], gamma: [Scalar]?, beta: [Scalar]?, epsilon: Scalar
    ) -> (scale: [Scalar], foldedShift: [Scalar]) {
        if let coefficients = ChannelLoops.inferenceCoefficients(
            variance: variance, gamma: gamma, beta: beta, epsilon: Double(epsilon)) {
            return coefficients
        }
        return FusedPasses.trainingCoefficients(
            center: ChannelCenter(high: mean), inverseStandardDeviation: inverseStandardDeviation(variance: variance, epsilon: epsilon),
            gamma: gamma, beta: beta)
    }

    /// Training forward: batch moments of `input`, then
    /// `output = (input - mean) * (gamma * invstd) + beta` (`gamma = 1`, `beta = 0` when absent).
    /// - Returns: the batch moments (the running statistics' update, the saved mean) and `invstd` (saved
    ///   for the backward pass), which the fused path takes from the `Double` moments before they are
    ///   rounded to `Scalar`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func trainingForward<Scalar: BatchNormScalar>(
        _ input: Span<Scalar>, geometry: ChannelGeometry, gamma: [Scalar]?, beta: [Scalar]?, epsilon: Scalar,
        into output: inout MutableSpan<Scalar>, path: KernelPath
    ) -> (moments: ChannelMoments<Scalar>, inverseStandardDeviation: [Scalar]) {
        if path == .fused {
            return trainingForward(
                input, residual: nil, relu: false, geometry: geometry, gamma: gamma, beta: beta, epsilon: epsilon,
                into: &output)
        }
        let moments = moments(of: input, geometry: geometry, path: path)
        let inverseStandardDeviation = normalize(
            input, geometry: geometry, moments: moments, gamma: gamma, beta: beta, epsilon: epsilon,
            into: &output, path: path)
        return (moments, inverseStandardDeviation)
    }

    /// The elementwise step of the training forward with given batch moments (those of `input`, or of
    /// a whole batch `input` is part of): `output = (input - mean) * (gamma * invstd) + beta` with
    /// `invstd = 1 / sqrt(M2 / count + epsilon)` (finite where the variance overflows; channels whose
    /// `x - mean` could overflow compute `x * scale + (beta - mean * scale)`). `moments.count` must be
    /// at least 1.
    /// - Returns: `invstd`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func normalize<Scalar: BatchNormScalar>(
        _ input: Span<Scalar>, geometry: ChannelGeometry, moments: ChannelMoments<Scalar>,
        gamma: [Scalar]?, beta: [Scalar]?, epsilon: Scalar,
        into output: inout MutableSpan<Scalar>, path: KernelPath
    ) -> [Scalar] {
        assert(moments.count >= 1 && moments.channelCount == geometry.channelCount)
        let inverseStandardDeviation = moments.inverseStandardDeviation(epsilon: epsilon)
        let scale = foldedScale(inverseStandardDeviation: inverseStandardDeviation, gamma: gamma)
        let (center, shift) = moments.normalizationCenter(
            scale: scale, shift: beta ?? [Scalar](repeating: 0, count: geometry.channelCount))
        normalize(input, geometry: geometry, center: center, scale: scale, shift: shift, into: &output, path: path)
        return inverseStandardDeviation
    }

    /// Forward with given statistics (inference):
    /// `output = (input - mean) * (gamma / sqrt(variance + eps)) + beta`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func inferenceForward<Scalar: BatchNormScalar>(
        _ input: Span<Scalar>, geometry: ChannelGeometry, mean: [Scalar], variance: [Scalar],
        gamma: [Scalar]?, beta: [Scalar]?, epsilon: Scalar,
        into output: inout MutableSpan<Scalar>, path: KernelPath
    ) {
        if path == .fused {
            return inferenceForward(
                input, residual: nil, relu: false, geometry: geometry, mean: mean, variance: variance, gamma: gamma,
                beta: beta, epsilon: epsilon, into: &output)
        }
        let inverseStandardDeviation = inverseStandardDeviation(variance: variance, epsilon: epsilon)
        normalize(
            input, geometry: geometry, center: ChannelCenter(high: mean),
            scale: foldedScale(inverseStandardDeviation: inverseStandardDeviation, gamma: gamma),
            shift: beta ?? [Scalar](repeating: 0, count: geometry.channelCount),
            into: &output, path: path)
    }

    /// Backward of the training forward (statistics depend on the batch):
    /// ```
    /// dβ = Σ dy,   dγ = invstd · Σ dy·(x - mean)
    /// dx = γ·invstd/M · (M·dy - dβ - x̂·dγ)
    /// ```
    /// - Returns: `dγ` and `dβ`, the pair every backward kernel returns and the API wraps in its
    ///   public `ParameterGradients`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func trainingBackward<Scalar: BatchNormScalar>(
        input: Span<Scalar>, gradient: Span<Scalar>, geometry: ChannelGeometry,
        mean: ChannelCenter<Scalar>, inverseStandardDeviation: [Scalar], gamma: [Scalar]?,
        into inputGradient: inout MutableSpan<Scalar>, path: KernelPath
    ) -> (gamma: [Scalar], beta: [Scalar]) {
        if path == .fused, Fused.walksChannels(geometry, Scalar.self, cachedTensors: 2) {
            // Channels-first tensors beyond the cache: a channel's sums, then its dx from the cache.
            // (The rule asks for at least one element, so every buffer has a base address.)
            let walked = input.withUnsafeBufferPointer { inputBuffer in
                gradient.withUnsafeBufferPointer { gradientBuffer in
                    inputGradient.withUnsafeMutableBufferPointer { resultBuffer -> (gamma: [Scalar], beta: [Scalar])? in
                        guard let inputBase = inputBuffer.baseAddress, let gradientBase = gradientBuffer.baseAddress,
                              let resultBase = resultBuffer.baseAddress else { return nil }
                        return FusedPasses.channelWalkTrainingBackward(
                            inputBase, gradientBase, resultBase, geometry: geometry, mean: mean,
                            inverseStandardDeviation: inverseStandardDeviation, gamma: gamma)
                    }
                }
            }
            if let walked { return walked }
        }
        let reductions = backwardReductions(
            input: input, gradient: gradient, geometry: geometry, center: mean, path: path)
        let step = trainingInputGradient(
            reductions: reductions, center: mean, inverseStandardDeviation: inverseStandardDeviation,
            gamma: gamma, valuesPerChannel: geometry.valuesPerChannel)
        backwardInputGradient(
            input: input, gradient: gradient, geometry: geometry, coefficients: step.coefficients,
            into: &inputGradient, path: path)
        return step.parameterGradients
    }

    /// One channel of ``trainingInputGradient(reductions:center:inverseStandardDeviation:gamma:valuesPerChannel:)``,
    /// in `Double`, each result rounded once; callable per channel without allocating.
    @inline(__always)
    static func trainingChannelStep<Scalar: BatchNormScalar>(
        sumGradient: Scalar, sumGradientTimesCentered: Scalar, inverseStandardDeviation: Scalar, gamma: Scalar,
        count: Double
    ) -> (gradGamma: Scalar, gradientScale: Scalar, centeredScale: Scalar, bias: Scalar) {
        let invstd = Double(inverseStandardDeviation)
        let dGamma = invstd * Double(sumGradientTimesCentered)
        let k = Double(gamma) * invstd
        return (Scalar(dGamma), Scalar(k), Scalar(-k * invstd * dGamma / count), Scalar(-k * Double(sumGradient) / count))
    }

    /// The per-channel part of the training backward: from the two sums over the whole batch (which
    /// may have been added up across processes), the parameter gradients and the coefficients of the
    /// elementwise step, in `Double`, each rounded once:
    /// ```
    /// dγ = invstd · Σ dy·(x - mean),   dβ = Σ dy,   k = γ·invstd
    /// gradientScale = k,   centeredScale = -k·invstd·dγ/M,   bias = -k·dβ/M
    /// ```
    /// - Parameters:
    ///   - reductions: `Σ dy` and `Σ dy·(x - center)` over all `valuesPerChannel` values of each channel.
    ///   - center: the mean the reductions were centered with (and the elementwise step centers with).
    ///   - valuesPerChannel: `M`, the number of values each channel's statistics ran over; at least 1.
    package static func trainingInputGradient<Scalar: BatchNormScalar>(
        reductions: BackwardReductions<Scalar>, center: ChannelCenter<Scalar>,
        inverseStandardDeviation: [Scalar], gamma: [Scalar]?, valuesPerChannel: Int
    ) -> (coefficients: InputGradientCoefficients<Scalar>, parameterGradients: (gamma: [Scalar], beta: [Scalar])) {
        let channelCount = inverseStandardDeviation.count
        assert(reductions.sumGradient.count == channelCount && center.channelCount == channelCount)
        assert(valuesPerChannel >= 1)
        let count = Double(valuesPerChannel)
        var gradGamma = [Scalar](), gradientScale = [Scalar](), centeredScale = [Scalar](), bias = [Scalar]()
        // One loop through pointers, four arrays filled (appends per channel were most of a wide
        // [N, C]'s per-channel time: docs/BENCHMARK_NOTES.md, "Per-channel steps of a wide [N, C]").
        let gamma = gamma ?? [Scalar](repeating: 1, count: channelCount)
        reductions.sumGradient.withUnsafeBufferPointer { sumGradient in
        reductions.sumGradientTimesCentered.withUnsafeBufferPointer { sumProduct in
        inverseStandardDeviation.withUnsafeBufferPointer { inverseStandardDeviation in
        gamma.withUnsafeBufferPointer { gamma in
            gradGamma = ChannelLoops.array(count: channelCount) { gradGamma in
            gradientScale = ChannelLoops.array(count: channelCount) { gradientScale in
            centeredScale = ChannelLoops.array(count: channelCount) { centeredScale in
            bias = ChannelLoops.array(count: channelCount) { bias in
                guard let sumGradient = sumGradient.baseAddress, let sumProduct = sumProduct.baseAddress,
                      let inverseStandardDeviation = inverseStandardDeviation.baseAddress,
                      let gamma = gamma.baseAddress else { return }
                let shared = UncheckedSendableBox(
                    (sumGradient, sumProduct, inverseStandardDeviation, gamma, gradGamma, gradientScale, centeredScale, bias))
                // Over the threads for many channels (`[8, 65536]`: the per-channel steps ran on the calling
                // thread while the other waited; docs/BENCHMARK_NOTES.md, "The backward's per-channel steps
                // on the threads"). Each channel's step is its own, so the same bits.
                ChannelLoops.forEachChannelSlice(channelCount) { channels in
                    let (sumGradient, sumProduct, inverseStandardDeviation, gamma, gradGamma, gradientScale,
                         centeredScale, bias) = shared.value
                    let first = channels.lowerBound
                    // The step is bound by its two divisions: in AVX where the CPU has it (ChannelLoops+AVX.swift).
                    if ChannelLoops.trainingChannelStepsAVX(
                        sumGradient: sumGradient + first, sumProduct: sumProduct + first,
                        inverseStandardDeviation: inverseStandardDeviation + first, gamma: gamma + first, count: count,
                        gradGamma: gradGamma + first, gradientScale: gradientScale + first,
                        centeredScale: centeredScale + first, bias: bias + first, channelCount: channels.count) { return }
                    for channel in channels {
                        let step = trainingChannelStep(
                            sumGradient: sumGradient[channel], sumGradientTimesCentered: sumProduct[channel],
                            inverseStandardDeviation: inverseStandardDeviation[channel], gamma: gamma[channel],
                            count: count)
                        (gradGamma + channel).initialize(to: step.gradGamma)
                        (gradientScale + channel).initialize(to: step.gradientScale)
                        (centeredScale + channel).initialize(to: step.centeredScale)
                        (bias + channel).initialize(to: step.bias)
                    }
                }
            }}}}
        }}}}
        let coefficients = InputGradientCoefficients(
            gradientScale: gradientScale,
            centered: .init(center: center, scale: centeredScale, bias: bias))
        return (coefficients, (gradGamma, reductions.sumGradient))
    }

    /// Backward of the inference forward (statistics are constants):
    /// `dx = dy · γ · invstd`, `dγ = Σ dy · (x - mean) · invstd`, `dβ = Σ dy`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func inferenceBackward<Scalar: BatchNormScalar>(
        input: Span<Scalar>, gradient: Span<Scalar>, geometry: ChannelGeometry,
        mean: [Scalar], variance: [Scalar], gamma: [Scalar]?, epsilon: Scalar,
        into inputGradient: inout MutableSpan<Scalar>, path: KernelPath
    ) -> (gamma: [Scalar], beta: [Scalar]) {
        let inverseStandardDeviation = inverseStandardDeviation(variance: variance, epsilon: epsilon)
        let gradientScale = foldedScale(inverseStandardDeviation: inverseStandardDeviation, gamma: gamma)
        if path == .fused, let reductions = frozenBackwardInChunks(
            input: input, gradient: gradient, geometry: geometry, mean: mean, gradientScale: gradientScale,
            into: &inputGradient) {
            return inferenceParameterGradients(reductions: reductions, inverseStandardDeviation: inverseStandardDeviation)
        }
        let reductions = backwardReductions(
            input: input, gradient: gradient, geometry: geometry, center: ChannelCenter(high: mean), path: path)
        backwardInputGradient(
            input: input, gradient: gradient, geometry: geometry,
            coefficients: InputGradientCoefficients(gradientScale: gradientScale, centered: nil),
            into: &inputGradient, path: path)
        return inferenceParameterGradients(reductions: reductions, inverseStandardDeviation: inverseStandardDeviation)
    }

    /// The fused frozen backward in chunks (``FusedPasses/frozenBackwardInChunks(_:_:_:geometry:mean:gradientScale:mask:)``),
    /// or `nil` (nothing written) where the rule keeps the two passes.
    private static func frozenBackwardInChunks<Scalar: BatchNormScalar>(
        input: Span<Scalar>, gradient: Span<Scalar>, geometry: ChannelGeometry, mean: [Scalar],
        gradientScale: [Scalar], into inputGradient: inout MutableSpan<Scalar>
    ) -> BackwardReductions<Scalar>? {
        input.withUnsafeBufferPointer { inputBuffer in
            gradient.withUnsafeBufferPointer { gradientBuffer in
                inputGradient.withUnsafeMutableBufferPointer { resultBuffer in
                    guard let inputBase = inputBuffer.baseAddress, let gradientBase = gradientBuffer.baseAddress,
                          let resultBase = resultBuffer.baseAddress else { return nil }
                    return FusedPasses.frozenBackwardInChunks(
                        inputBase, gradientBase, resultBase, geometry: geometry, mean: mean, gradientScale: gradientScale)
                }
            }
        }
    }

    /// `dγ = invstd · Σ dy·(x - mean)` (in `Double`, rounded once) and `dβ = Σ dy` with constant statistics.
    static func inferenceParameterGradients<Scalar: BatchNormScalar>(
        reductions: BackwardReductions<Scalar>, inverseStandardDeviation: [Scalar]
    ) -> (gamma: [Scalar], beta: [Scalar]) {
        let gradGamma = ChannelLoops.map(inverseStandardDeviation, reductions.sumGradientTimesCentered) {
            Scalar(Double($0) * Double($1))
        }
        return (gradGamma, reductions.sumGradient)
    }

    /// `gamma * invstd` per channel (just `invstd` without gamma), in `Double`.
    static func foldedScale<Scalar: BatchNormScalar>(inverseStandardDeviation: [Scalar], gamma: [Scalar]?) -> [Scalar] {
        guard let gamma else { return inverseStandardDeviation }
        return ChannelLoops.map(gamma, inverseStandardDeviation) { Scalar(Double($0) * Double($1)) }
    }
}
