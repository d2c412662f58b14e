/// The channels-first training backward one channel at a time, for tensors beyond the cache whose
/// channels fit in it (``Fused/walksChannels(_:_:cachedTensors:)`` says when).
///
/// The memory-order backward reads `x` and `dy` twice from memory (the sums, then the `dx` step): about
/// 5·S of traffic. Walking a channel's `N` runs for its sums and then again for its `dx` finds the
/// second read in the cache: about 3·S. Each thread takes a consecutive range of channels.
///
/// Bit for bit the memory-order backward split into one part: a channel's runs add into its `Double`
/// sums in sample order either way, and the step and the `dx` loop are the same code (the test:
/// ChannelWalkBackwardTests). So the result does not depend on the thread count.
extension FusedPasses {
    /// `dx`, `dγ` and `dβ` of the training backward (``BatchNormKernels/trainingBackward(input:gradient:geometry:mean:inverseStandardDeviation:gamma:into:path:)``),
    /// channel by channel; with `maskBound` (per channel), of the ReLU backward whose mask is
    /// `x - high > bound` (``ReLUCoefficients/maskBound``).
    ///
    /// - Precondition: the AVX2 run loops run (``Fused/WideLoops/enabled``) and `Scalar` is `Float` or
    ///   `Double`; `geometry` has at least one element. Writes every element of `inputGradient` (which
    ///   may be `gradient`: a channel's `dx` is written after its last read of `dy`).
    static func channelWalkTrainingBackward<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>,
        geometry: ChannelGeometry, mean: ChannelCenter<Scalar>, inverseStandardDeviation: [Scalar],
        gamma: [Scalar]?, maskBound: [Scalar]? = nil
    ) -> (gamma: [Scalar], beta: [Scalar]) {
        let channelCount = geometry.channelCount, runLength = geometry.innerCount, samples = geometry.outerCount
        let parts = Fused.threadCount(elementCount: geometry.elementCount)
        let streaming = Fused.streamsInputGradient(
            geometry, Scalar.self, centered: true, inPlace: gradient == UnsafePointer(inputGradient))
        let count = Double(geometry.valuesPerChannel)
        let gamma = gamma ?? [Scalar](repeating: 1, count: channelCount)
        let zeros = [Scalar](repeating: 0, count: channelCount)
        // Per channel; each thread writes only its own channels.
        var sumGradient = [Double](repeating: 0, count: channelCount)
        var sumProduct = [Double](repeating: 0, count: channelCount)
        var gradGamma = zeros, gradBeta = zeros, k = zeros, p = zeros, q = zeros
        sumGradient.withUnsafeMutableBufferPointer { sumGradientBuffer in
        sumProduct.withUnsafeMutableBufferPointer { sumProductBuffer in
        gradGamma.withUnsafeMutableBufferPointer { gradGammaBuffer in
        gradBeta.withUnsafeMutableBufferPointer { gradBetaBuffer in
        k.withUnsafeMutableBufferPointer { kBuffer in
        p.withUnsafeMutableBufferPointer { pBuffer in
        q.withUnsafeMutableBufferPointer { qBuffer in
        mean.high.withUnsafeBufferPointer { highBuffer in
        (maskBound ?? []).withUnsafeBufferPointer { boundBuffer in
            guard let sumGradientBase = sumGradientBuffer.baseAddress, let sumProductBase = sumProductBuffer.baseAddress,
                  let gradGammaBase = gradGammaBuffer.baseAddress, let gradBetaBase = gradBetaBuffer.baseAddress,
                  let kBase = kBuffer.baseAddress, let pBase = pBuffer.baseAddress, let qBase = qBuffer.baseAddress,
                  let highBase = highBuffer.baseAddress else { return }
            let perChannel = UncheckedSendableBox((
                sumGradientBase, sumProductBase, gradGammaBase, gradBetaBase, kBase, pBase, qBase, highBase,
                maskBound == nil ? nil : boundBuffer.baseAddress))
            let shared = Fused.SharedPointer(base: inputGradient)
            Fused.forEachSlice(channelCount, parts: parts, streaming: streaming) { channels in
                let (sumGradient, sumProduct, gradGamma, gradBeta, k, p, q, high, bound) = perChannel.value
                for channel in channels {
                    // The channel's sums, its runs in sample order.
                    for sample in 0..<samples {
                        let run = sample * channelCount + channel
                        let summed = Fused.WideLoops.gradientSumsRuns(
                            input, gradient, runs: run..<(run + 1), runLength: runLength, channelCount: channelCount,
                            center: high, filter: .init(bound: bound), sumGradient: sumGradient, sumProduct: sumProduct)
                        precondition(summed, "the channel walk needs the AVX2 run loops")
                    }
                    // The step of `reductionsInDouble` and `trainingInputGradient`, one channel.
                    let low = mean.low.map { Double($0[channel]) }
                    let beta = Scalar(sumGradient[channel])
                    let product = Scalar(low.map {
                        ChannelCenter<Scalar>.foldedShift(sumProduct[channel], center: $0, scale: sumGradient[channel])
                    } ?? sumProduct[channel])
                    let step = BatchNormKernels.trainingChannelStep(
                        sumGradient: beta, sumGradientTimesCentered: product,
                        inverseStandardDeviation: inverseStandardDeviation[channel], gamma: gamma[channel], count: count)
                    gradGamma[channel] = step.gradGamma
                    gradBeta[channel] = beta
                    k[channel] = step.gradientScale
                    p[channel] = step.centeredScale
                    q[channel] = ChannelCenter<Scalar>.foldedShift(step.bias, center: low ?? 0, scale: step.centeredScale)
                    // Its dx, from the runs just read.
                    for sample in 0..<samples {
                        let run = sample * channelCount + channel
                        _ = Fused.WideLoops.inputGradientRuns(
                            input, gradient, shared.base, runs: run..<(run + 1), runLength: runLength,
                            channelCount: channelCount, center: high, k: k, p: p, q: q, bound: bound,
                            streaming: streaming)
                    }
                }
            }
        }}}}}}}}}
        return (gradGamma, gradBeta)
    }
}
