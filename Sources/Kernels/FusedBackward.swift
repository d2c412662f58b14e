/// The training backward of the fused path for channels-first tensors, fused per group of channels:
/// the group's `Σ dy` and `Σ dy·(x - mean)`, its coefficients, then its `dx` while the group's `x` and
/// `dy` are still in L2. `x` and `dy` stream from memory about once (instead of twice for the two
/// separate sweeps), which matters once the tensor is larger than the last-level cache.
extension FusedPasses {
    /// Values of `x` and `dy` together that a group keeps in L2 (768 KB of Float data).
    static let backwardGroupValues = 96 * 1024

    static func trainingBackwardChannelsFirst<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>,
        geometry: ChannelGeometry, center: ChannelCenter<Scalar>, inverseStandardDeviation: [Scalar], gamma: [Scalar]?
    ) -> BatchNormKernels.ParameterGradients<Scalar> {
        let channelCount = geometry.channelCount
        let runLength = geometry.innerCount
        let groupSize = max(1, backwardGroupValues / max(1, 2 * geometry.valuesPerChannel))
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
                var first = channels.lowerBound
                while first < channels.upperBound {
                    let group = first..<min(first + groupSize, channels.upperBound)
                    var sumGradient = [Scalar](), sumProduct = [Scalar]()
                    for channel in group {
                        var gradientTotal = 0.0, productTotal = 0.0
                        for outer in 0..<geometry.outerCount {
                            let offset = (outer * channelCount + channel) * runLength
                            let sums = Fused.reduceRun(input + offset, gradient + offset, runLength,
                                                       center: center.high[channel])
                            gradientTotal += sums.sumGradient
                            productTotal += sums.sumGradientTimesCentered
                        }
                        productTotal -= Double(center.low?[channel] ?? 0) * gradientTotal
                        sumGradient.append(Scalar(gradientTotal))
                        sumProduct.append(Scalar(productTotal))
                    }
                    let groupCenter = ChannelCenter(
                        high: Array(center.high[group]), low: center.low.map { Array($0[group]) })
                    let step = BatchNormKernels.trainingInputGradient(
                        reductions: BackwardReductions(sumGradient: sumGradient, sumGradientTimesCentered: sumProduct),
                        center: groupCenter, inverseStandardDeviation: Array(inverseStandardDeviation[group]),
                        gamma: gamma.map { Array($0[group]) }, valuesPerChannel: geometry.valuesPerChannel)
                    for (index, channel) in group.enumerated() {
                        gradGammaOut[channel] = step.parameterGradients.gamma[index]
                        gradBetaOut[channel] = step.parameterGradients.beta[index]
                        guard let centered = step.coefficients.centered else { continue }
                        let p = centered.scale[index]
                        // p·(x - high - low) + q = p·(x - high) + (q - p·low)
                        let q = Scalar(Double(centered.bias[index]) - Double(p) * Double(groupCenter.low?[index] ?? 0))
                        for outer in 0..<geometry.outerCount {
                            let offset = (outer * channelCount + channel) * runLength
                            Fused.gradientRun(
                                input + offset, gradient + offset, inputGradientOut + offset, runLength,
                                center: groupCenter.high[index], gradientScale: step.coefficients.gradientScale[index],
                                centeredScale: p, bias: q)
                        }
                    }
                    first = group.upperBound
                }
            }
        }}
        return BatchNormKernels.ParameterGradients(gamma: gradGamma, beta: gradBeta)
    }
}
