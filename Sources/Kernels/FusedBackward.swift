/// The training backward of the fused path for channels-first tensors, fused per channel: the
/// channel's `Σ dy` and `Σ dy·(x - mean)`, its coefficients, then its `dx` while its `x` and `dy` are
/// still in L2; nothing is allocated per channel. `x` and `dy` stream from memory about once (instead
/// of twice for two separate sweeps), which matters once the tensor is larger than the last-level cache.
extension FusedPasses {
    static func trainingBackwardChannelsFirst<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>,
        geometry: ChannelGeometry, center: ChannelCenter<Scalar>, inverseStandardDeviation: [Scalar], gamma: [Scalar]?
    ) -> BatchNormKernels.ParameterGradients<Scalar> {
        let channelCount = geometry.channelCount
        let runLength = geometry.innerCount
        let parts = Fused.threadCount(elementCount: geometry.elementCount)
        var gradGamma = [Scalar](repeating: 0, count: channelCount)
        var gradBeta = [Scalar](repeating: 0, count: channelCount)
        gradGamma.withUnsafeMutableBufferPointer { gammaBuffer in
        gradBeta.withUnsafeMutableBufferPointer { betaBuffer in
            guard let gammaBase = gammaBuffer.baseAddress, let betaBase = betaBuffer.baseAddress else { return }
            let results = UncheckedSendableBox((gammaBase, betaBase, inputGradient))
            Fused.forEachPart(parts) { part in
                let (gradGammaOut, gradBetaOut, inputGradientOut) = results.value
                let channels = Fused.slice(channelCount, part: part, of: parts)
                let count = Double(geometry.valuesPerChannel)
                for channel in channels {
                    // Σ dy and Σ dy·(x - mean) of the channel's runs (then in L2).
                    var gradientTotal = 0.0, productTotal = 0.0
                    for outer in 0..<geometry.outerCount {
                        let offset = (outer * channelCount + channel) * runLength
                        let sums = Fused.reduceRun(input + offset, gradient + offset, runLength,
                                                   center: center.high[channel])
                        gradientTotal += sums.sumGradient
                        productTotal += sums.sumGradientTimesCentered
                    }
                    let low = center.low?[channel] ?? 0
                    productTotal -= Double(low) * gradientTotal
                    let step = BatchNormKernels.trainingChannelStep(
                        sumGradient: Scalar(gradientTotal), sumGradientTimesCentered: Scalar(productTotal),
                        inverseStandardDeviation: inverseStandardDeviation[channel], gamma: gamma?[channel] ?? 1,
                        count: count)
                    gradGammaOut[channel] = step.gradGamma
                    gradBetaOut[channel] = Scalar(gradientTotal)
                    // p·(x - high - low) + q = p·(x - high) + (q - p·low)
                    let q = Scalar(Double(step.bias) - Double(step.centeredScale) * Double(low))
                    for outer in 0..<geometry.outerCount {
                        let offset = (outer * channelCount + channel) * runLength
                        Fused.gradientRun(
                            input + offset, gradient + offset, inputGradientOut + offset, runLength,
                            center: center.high[channel], gradientScale: step.gradientScale,
                            centeredScale: step.centeredScale, bias: q)
                    }
                }
            }
        }}
        return BatchNormKernels.ParameterGradients(gamma: gradGamma, beta: gradBeta)
    }
}
