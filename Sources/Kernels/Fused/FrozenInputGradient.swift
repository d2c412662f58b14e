/// The frozen backward's input gradient alone, through a ReLU masked by the forward's output `y`:
/// `dz = y <= 0 ? 0 : dy` (PyTorch's `threshold_backward`), `dx = k·dz`, and `dz` kept as the residual's
/// gradient when asked. One pass in memory order over `dy` and `y`: 3·S of traffic, 4·S with the
/// residual's gradient, where the backward that also returns `dγ` and `dβ` moves 4·S and 6·S (its sums
/// read `x`).
///
/// `dx` is the same bits as that backward's: the same `k` times the same `dz`.
extension FusedPasses {
    /// `dx = k·dz`, `dz = y <= 0 ? 0 : dy` per value, `k` per channel; `dz` into `maskedGradient` when
    /// given. Writes every element of `inputGradient` (and of `maskedGradient`).
    ///
    /// Channels-first tensors with long runs go run by run (one `k` per run); the rest as interleaved
    /// rows with periodic coefficients (``Fused/RowGrouping``), each thread a consecutive range.
    static func maskedInputGradient<Scalar: BatchNormScalar>(
        _ gradient: UnsafePointer<Scalar>, forwardOutput: UnsafePointer<Scalar>,
        maskedGradient: UnsafeMutablePointer<Scalar>?, inputGradient: UnsafeMutablePointer<Scalar>,
        geometry: ChannelGeometry, gradientScale: [Scalar]
    ) {
        let parts = Fused.threadCount(elementCount: geometry.elementCount)
        let streaming = Fused.streamsOutput(geometry, Scalar.self)
        let outputs = UncheckedSendableBox((maskedGradient, inputGradient))
        if let grouping = Fused.RowGrouping(geometry: geometry, scalar: Scalar.self, parts: 1) {
            let period = grouping.width
            grouping.periodic(gradientScale).withUnsafeBufferPointer { kBuffer in
                guard let kBase = kBuffer.baseAddress else { return }
                let k = UncheckedSendableBox(kBase)
                Fused.forEachSlice(geometry.elementCount, parts: parts, streaming: streaming) { range in
                    let (masked, result) = outputs.value
                    Fused.maskedScaleInterleaved(
                        gradient + range.lowerBound, forwardOutput + range.lowerBound,
                        masked.map { $0 + range.lowerBound }, result + range.lowerBound, count: range.count,
                        channelCount: period, firstChannel: range.lowerBound % period, scale: k.value,
                        streaming: streaming)
                }
            }
        } else {
            let runLength = geometry.innerCount, channelCount = geometry.channelCount
            let k = UncheckedSendableBox(gradientScale)
            Fused.forEachSlice(geometry.outerCount * channelCount, parts: parts, streaming: streaming) { runs in
                let (masked, result) = outputs.value
                for run in runs {
                    let offset = run * runLength
                    Fused.maskedScaleRun(
                        gradient + offset, forwardOutput + offset, masked.map { $0 + offset }, result + offset,
                        count: runLength, scale: k.value[run % channelCount], streaming: streaming)
                }
            }
        }
    }
}

extension Fused {
    /// `dz = y <= 0 ? 0 : dy` and `dx = k · dz` over one channels-first run; `dz` stored when
    /// `maskedGradient` is given (streamed with `dx` when the two share an alignment, else plain stores).
    @inline(__always)
    static func maskedScaleRun<Scalar: BatchNormScalar>(
        _ gradient: UnsafePointer<Scalar>, _ forwardOutput: UnsafePointer<Scalar>,
        _ maskedGradient: UnsafeMutablePointer<Scalar>?, _ inputGradient: UnsafeMutablePointer<Scalar>,
        count: Int, scale k: Scalar, streaming: Bool
    ) {
        let kVector = Vector<Scalar>(repeating: k)
        let head = streaming ? min(count, streamingHead(inputGradient)) : 0
        let streamsMasked = streaming && maskedGradient.map { streamingHead($0) == streamingHead(inputGradient) } == true
        var index = 0
        while index < head {
            maskedScaleValue(gradient, forwardOutput, maskedGradient, inputGradient, index: index, scale: k)
            index += 1
        }
        while index + width <= count {
            let dz = zeroWhereNotPositive(load(gradient + index), condition: load(forwardOutput + index))
            if let maskedGradient { store(dz, maskedGradient + index, streaming: streamsMasked) }
            store(kVector * dz, inputGradient + index, streaming: streaming)
            index += width
        }
        while index < count {
            maskedScaleValue(gradient, forwardOutput, maskedGradient, inputGradient, index: index, scale: k)
            index += 1
        }
    }

    /// ``maskedScaleRun(_:_:_:_:count:scale:streaming:)`` over `count` consecutive values of interleaved
    /// rows, `k` periodic (``RowGrouping/periodic(_:)``, `channelCount` its period) from `firstChannel`.
    @inline(__always)
    static func maskedScaleInterleaved<Scalar: BatchNormScalar>(
        _ gradient: UnsafePointer<Scalar>, _ forwardOutput: UnsafePointer<Scalar>,
        _ maskedGradient: UnsafeMutablePointer<Scalar>?, _ inputGradient: UnsafeMutablePointer<Scalar>,
        count: Int, channelCount: Int, firstChannel: Int, scale k: UnsafePointer<Scalar>, streaming: Bool
    ) {
        let head = streaming ? min(count, streamingHead(inputGradient)) : 0
        let streamsMasked = streaming && maskedGradient.map { streamingHead($0) == streamingHead(inputGradient) } == true
        var channel = firstChannel, index = 0
        while index < head {
            maskedScaleValue(gradient, forwardOutput, maskedGradient, inputGradient, index: index, scale: k[channel])
            index += 1
            channel = channel + 1 == channelCount ? 0 : channel + 1
        }
        while index + width <= count {
            let dz = zeroWhereNotPositive(load(gradient + index), condition: load(forwardOutput + index))
            if let maskedGradient { store(dz, maskedGradient + index, streaming: streamsMasked) }
            store(load(k + channel) * dz, inputGradient + index, streaming: streaming)
            index += width
            channel = nextChannel(channel, channelCount)
        }
        while index < count {
            maskedScaleValue(gradient, forwardOutput, maskedGradient, inputGradient, index: index, scale: k[channel])
            index += 1
            channel = channel + 1 == channelCount ? 0 : channel + 1
        }
    }

    /// One value of the masked scale: `dz = y <= 0 ? 0 : dy` (a NaN `y` passes `dy`), `dx = k · dz`.
    @inline(__always)
    static func maskedScaleValue<Scalar: BatchNormScalar>(
        _ gradient: UnsafePointer<Scalar>, _ forwardOutput: UnsafePointer<Scalar>,
        _ maskedGradient: UnsafeMutablePointer<Scalar>?, _ inputGradient: UnsafeMutablePointer<Scalar>,
        index: Int, scale k: Scalar
    ) {
        let dz = forwardOutput[index] <= 0 ? 0 : gradient[index]
        maskedGradient?[index] = dz
        inputGradient[index] = k * dz
    }
}
