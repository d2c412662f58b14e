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
    /// `x - high > bound` (``ReLUCoefficients/maskBound``); with `mask`, of the ReLU backward whose mask
    /// is `y > 0` (`dz = y <= 0 ? 0 : dy`, ``BatchNormKernels/reluBackward(input:gradient:forwardOutput:geometry:statistics:gamma:into:)``).
    ///
    /// With `mask`, the sums read a channel's `x`, `dy` and `y` and write its `dz` to `mask.maskedGradient`
    /// (the residual gradient; not at all when that is `inputGradient`, which `dx` overwrites anyway);
    /// the `dx` step recomputes each run's `dz` from the cached `dy` and `y` into a run of scratch and reads
    /// that: 3·S read and 2·S written, where the memory-order passes move 7·S.
    ///
    /// - Precondition: the AVX2 run loops run (``Fused/WideLoops/enabled``) and `Scalar` is `Float` or
    ///   `Double`; `geometry` has at least one element; `maskBound` and `mask` are not both given.
    ///   Writes every element of `inputGradient` (which may be `gradient`: a channel's `dx` is written
    ///   after its last read of `dy`); `mask.maskedGradient`, when it is not `inputGradient`, may alias
    ///   none of the tensors read.
    static func channelWalkTrainingBackward<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>,
        geometry: ChannelGeometry, mean: ChannelCenter<Scalar>, inverseStandardDeviation: [Scalar],
        gamma: [Scalar]?, maskBound: [Scalar]? = nil, mask: Fused.GradientMask<Scalar>? = nil
    ) -> (gamma: [Scalar], beta: [Scalar]) {
        assert(maskBound == nil || mask == nil)
        let channelCount = geometry.channelCount, runLength = geometry.innerCount, samples = geometry.outerCount
        let parts = Fused.threadCount(for: geometry, Scalar.self)
        let streaming = Fused.streamsInputGradient(
            geometry, Scalar.self, centered: true, inPlace: gradient == UnsafePointer(inputGradient), parts: parts)
        // `dz` goes to the residual gradient (streamed like the memory-order sums stream it), or nowhere.
        let residualGradient = mask.flatMap { $0.maskedGradient == inputGradient ? nil : $0.maskedGradient }
        let streamsResidualGradient = residualGradient != nil && Fused.streamsOutput(geometry, Scalar.self)
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
                sumGradientBase, sumProductBase, gradGammaBase, gradBetaBase, kBase, pBase, qBase, highBase))
            let shared = Fused.SharedPointer(base: inputGradient)
            // The sums' filter: the mask from `y` (storing `dz` only to a residual gradient), the bounds, or neither.
            let sharedFilter = UncheckedSendableBox(Fused.WideFilter<Scalar>(
                forwardOutput: mask?.forwardOutput, maskedGradient: residualGradient,
                bound: maskBound == nil ? nil : boundBuffer.baseAddress, streamsMaskedGradient: streamsResidualGradient))
            Fused.forEachSlice(channelCount, parts: parts, streaming: streaming || streamsResidualGradient) { channels in
                let (sumGradient, sumProduct, gradGamma, gradBeta, k, p, q, high) = perChannel.value
                let filter = sharedFilter.value
                // With the mask from `y`: one run of `dz` for the dx step, in L1.
                let scratch = filter.forwardOutput.map { _ in UnsafeMutablePointer<Scalar>.allocate(capacity: runLength) }
                defer { scratch?.deallocate() }
                for channel in channels {
                    // The channel's sums, its runs in sample order: in one call, or (a streamed residual
                    // gradient) run by run.
                    if !Fused.WideLoops.gradientSumsChannel(
                        input, gradient, channel: channel, samples: samples, runLength: runLength,
                        channelCount: channelCount, center: high, filter: filter, sumGradient: sumGradient,
                        sumProduct: sumProduct) {
                        for sample in 0..<samples {
                            let run = sample * channelCount + channel
                            let summed = Fused.WideLoops.gradientSumsRuns(
                                input, gradient, runs: run..<(run + 1), runLength: runLength,
                                channelCount: channelCount, center: high, filter: filter, sumGradient: sumGradient,
                                sumProduct: sumProduct)
                            precondition(summed, "the channel walk needs the AVX2 run loops")
                        }
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
                    // Its dx, from the runs just read (with the mask from `y`, each run's `dz` first goes to
                    // the scratch run, the values the sums took).
                    let stepped = Fused.WideLoops.inputGradientChannel(
                        input, gradient, shared.base, forwardOutput: filter.forwardOutput, scratch: scratch,
                        channel: channel, samples: samples, runLength: runLength, channelCount: channelCount,
                        center: high, k: k, p: p, q: q, bound: filter.bound, streaming: streaming)
                    precondition(stepped, "the channel walk needs the AVX2 run loops")
                }
            }
        }}}}}}}}}
        return (gradGamma, gradBeta)
    }
}
