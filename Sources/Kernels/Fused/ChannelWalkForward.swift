/// The channels-first training forward one channel at a time, for tensors beyond the cache whose
/// channels fit in it (``Fused/walksChannels(_:_:cachedTensors:)`` says when).
///
/// The memory-order forward reads `x` twice from memory (the moments, then the normalize). Walking a
/// channel's `N` runs for its moments and then again for its `y` finds the second read in the cache.
/// Each thread takes a consecutive range of channels, in groups of up to ``Fused/channelWalkGroupBytes``
/// of `x`: the group's moments (one C call a channel), its coefficients (one call for the group), then its
/// `y` (one C call a channel).
///
/// Bit for bit the memory-order forward split into one part (``FusedPasses/runOrderMoments(_:geometry:parts:)``
/// and ``FusedPasses/trainingForward(_:_:geometry:gamma:beta:epsilon:epilogue:)``'s general route): the same
/// shift, a channel's runs added into its `Double` sums in sample order, the same fallbacks, and the
/// per-channel steps the same functions on the group's channels, each channel computed alone (the test:
/// ChannelWalkTests). So the result does not depend on the thread count or the group size.
extension FusedPasses {
    /// The training forward's statistics and `output = epilogue((x - mean)·γ·invstd + β)`, channel by channel.
    ///
    /// - Precondition: the AVX2 run loops run (``Fused/WideLoops/enabled``), `Scalar` is `Float` or
    ///   `Double`, and `geometry` has at least one element. Writes every element of `output`.
    static func channelWalkTrainingForward<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ output: UnsafeMutablePointer<Scalar>, geometry: ChannelGeometry,
        gamma: [Scalar]?, beta: [Scalar]?, epsilon: Scalar, epilogue: Fused.ForwardEpilogue<Scalar>
    ) -> (moments: ChannelMoments<Scalar>, inverseStandardDeviation: [Scalar]) {
        let channelCount = geometry.channelCount, runLength = geometry.innerCount, samples = geometry.outerCount
        let parts = Fused.threadCount(for: geometry, Scalar.self)
        let streaming = Fused.streamsTrainingOutput(
            geometry, Scalar.self, residual: epilogue.residual != nil, parts: parts)
        let channelBytes = geometry.valuesPerChannel * MemoryLayout<Scalar>.stride
        let groupSize = max(1, Fused.channelWalkGroupBytes / max(channelBytes, 1))
        var perChannel = [MomentsAccumulator](repeating: .init(), count: channelCount)
        // The normalize's per-channel coefficients; each thread writes only its own channels.
        var center = [Scalar](repeating: 0, count: channelCount)
        var scale = center, foldedShift = center
        perChannel.withUnsafeMutableBufferPointer { momentsBuffer in
        center.withUnsafeMutableBufferPointer { centerBuffer in
        scale.withUnsafeMutableBufferPointer { scaleBuffer in
        foldedShift.withUnsafeMutableBufferPointer { shiftBuffer in
            guard let momentsBase = momentsBuffer.baseAddress, let centerBase = centerBuffer.baseAddress,
                  let scaleBase = scaleBuffer.baseAddress, let shiftBase = shiftBuffer.baseAddress else { return }
            let perChannelPointers = UncheckedSendableBox((momentsBase, centerBase, scaleBase, shiftBase))
            let sharedOutput = Fused.SharedPointer(base: output)
            Fused.forEachSlice(channelCount, parts: parts, streaming: streaming) { channels in
                let (moments, center, scale, foldedShift) = perChannelPointers.value
                for groupStart in stride(from: channels.lowerBound, to: channels.upperBound, by: groupSize) {
                    let group = groupStart..<min(groupStart + groupSize, channels.upperBound)
                    // Each channel's moments, as `runOrderMoments` in one part takes them.
                    let accumulators = group.map { channelMoments(input, geometry: geometry, channel: $0) }
                    // `trainingForward`'s per-channel steps, on this group's channels alone.
                    let inverseStandardDeviation: [Scalar] = ChannelLoops.inverseStandardDeviations(
                        accumulators, epsilon: Double(epsilon))
                    let groupMoments = ChannelMoments<Scalar>(accumulators, count: geometry.valuesPerChannel)
                    let coefficients = trainingCoefficients(
                        center: groupMoments.center, inverseStandardDeviation: inverseStandardDeviation,
                        gamma: gamma.map { Array($0[group]) }, beta: beta.map { Array($0[group]) })
                    for (index, channel) in group.enumerated() {
                        moments[channel] = accumulators[index]
                        scale[channel] = coefficients.scale[index]
                        if accumulators[index].centersAtZero {
                            center[channel] = 0
                            foldedShift[channel] = ChannelCenter.foldedShift(
                                beta?[channel] ?? 0, center: accumulators[index].mean, scale: coefficients.scale[index])
                        } else {
                            center[channel] = groupMoments.mean[index]
                            foldedShift[channel] = coefficients.foldedShift[index]
                        }
                    }
                    // Their y, from the runs just read.
                    for channel in group {
                        _ = Fused.WideLoops.normalizeChannel(
                            input, sharedOutput.base, channel: channel, samples: samples, runLength: runLength,
                            channelCount: channelCount, center: center, scale: scale, shift: foldedShift,
                            residual: epilogue.residual, relu: epilogue.relu, streaming: streaming)
                    }
                }
            }
        }}}}
        let inverseStandardDeviation: [Scalar] = ChannelLoops.inverseStandardDeviations(
            perChannel, epsilon: Double(epsilon))
        return (ChannelMoments<Scalar>(perChannel, count: geometry.valuesPerChannel), inverseStandardDeviation)
    }

    /// One channel's moments as ``runOrderMoments(_:geometry:parts:)`` takes them in one part: the first
    /// block's mean as the shift, the shifted sums of its runs in sample order, the exact path where the
    /// shift was poor, and the scaled path where the values overflow.
    private static func channelMoments<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, geometry: ChannelGeometry, channel: Int
    ) -> MomentsAccumulator {
        let channelCount = geometry.channelCount, runLength = geometry.innerCount, samples = geometry.outerCount
        var shift = Scalar(Fused.blockMoments(input + channel * runLength, min(runLength, Fused.blockLength)).mean)
        var sum = 0.0, sumOfSquares = 0.0
        let summed = Fused.WideLoops.shiftedSumsChannel(
            input, channel: channel, samples: samples, runLength: runLength, channelCount: channelCount,
            shift: &shift, sum: &sum, squares: &sumOfSquares)
        precondition(summed, "the channel walk needs the AVX2 run loops")
        var accumulator: MomentsAccumulator
        if let shifted = Fused.momentsFromShiftedSums(
            count: Double(geometry.valuesPerChannel), shift: Double(shift), sum: 0.0 + sum,
            sumOfSquares: 0.0 + sumOfSquares) {
            accumulator = shifted
        } else {
            accumulator = MomentsAccumulator()
            for sample in 0..<samples {
                Fused.runMoments(input + (sample * channelCount + channel) * runLength, runLength, into: &accumulator)
            }
            accumulator = Fused.refinedMoments([accumulator], input, geometry: geometry, channels: [channel])[0]
        }
        if !(accumulator.mean.isFinite && accumulator.sumOfSquaredDeviations.isFinite) {
            accumulator = ScaledMoments.channel(input, geometry: geometry, channel: channel)
        }
        return accumulator
    }
}
