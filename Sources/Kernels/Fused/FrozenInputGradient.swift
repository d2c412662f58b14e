/// The frozen backward's input gradient alone, through a ReLU masked by the forward's output `y`:
/// `dz = y <= 0 ? 0 : dy` (PyTorch's `threshold_backward`), `dx = k·dz`, and `dz` kept as the residual's
/// gradient when asked. One pass in memory order over `dy` and `y`: 3·S of traffic, 4·S with the
/// residual's gradient, where the backward that also returns `dγ` and `dβ` moves 4·S and 6·S (its sums
/// read `x`).
///
/// `dx` is the same bits as that backward's: the same `k` times the same `dz`. Swift loops only: AVX2
/// counterparts measured no faster (docs/BENCHMARK_NOTES.md, "The frozen input gradient alone").
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
        let parts = Fused.threadCount(for: geometry, Scalar.self)
        let streaming = Fused.streamsOutput(geometry, Scalar.self)
        // `dz` streams with `dx` where the two buffers share an alignment (every slice and run then starts
        // both at the same offset from it); otherwise plain stores.
        let streamsMasked = streaming
            && maskedGradient.map { Fused.streamingHead($0) == Fused.streamingHead(inputGradient) } == true
        let outputs = UncheckedSendableBox((maskedGradient, inputGradient))
        if let grouping = Fused.RowGrouping(geometry: geometry, scalar: Scalar.self, parts: 1) {
            let period = grouping.width
            grouping.periodic(gradientScale).withUnsafeBufferPointer { kBuffer in
                guard let kBase = kBuffer.baseAddress else { return }
                let k = UncheckedSendableBox(kBase)
                Fused.forEachSlice(geometry.elementCount, parts: parts, streaming: streaming) { range in
                    let (masked, result) = outputs.value
                    let first = range.lowerBound
                    Fused.maskedScaleInterleaved(
                        gradient + first, forwardOutput + first, masked.map { $0 + first }, result + first,
                        count: range.count, channelCount: period, firstChannel: first % period, scale: k.value,
                        streaming: streaming, streamsMasked: streamsMasked)
                }
            }
        } else {
            let runLength = geometry.innerCount, channelCount = geometry.channelCount
            gradientScale.withUnsafeBufferPointer { kBuffer in
                guard let kBase = kBuffer.baseAddress else { return }
                let k = UncheckedSendableBox(kBase)
                Fused.forEachSlice(geometry.outerCount * channelCount, parts: parts, streaming: streaming) { runs in
                    let (masked, result) = outputs.value
                    for run in runs {
                        let offset = run * runLength
                        Fused.maskedScaleRun(
                            gradient + offset, forwardOutput + offset, masked.map { $0 + offset }, result + offset,
                            count: runLength, scale: k.value[run % channelCount], streaming: streaming,
                            streamsMasked: streamsMasked)
                    }
                }
            }
        }
    }
}

extension Fused {
    /// `dz = y <= 0 ? 0 : dy` and `dx = k · dz` over one channels-first run; `dz` stored when
    /// `maskedGradient` is given (streamed with `dx` when `streamsMasked`: the caller found the two buffers
    /// at the same offset from the streaming alignment).
    @inline(__always)
    static func maskedScaleRun<Scalar: BatchNormScalar>(
        _ gradient: UnsafePointer<Scalar>, _ forwardOutput: UnsafePointer<Scalar>,
        _ maskedGradient: UnsafeMutablePointer<Scalar>?, _ inputGradient: UnsafeMutablePointer<Scalar>,
        count: Int, scale k: Scalar, streaming: Bool, streamsMasked: Bool
    ) {
        let kVector = Vector<Scalar>(repeating: k)
        let head = streaming ? min(count, streamingHead(inputGradient)) : 0
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

    /// ``maskedScaleRun(_:_:_:_:count:scale:streaming:streamsMasked:)`` over `count` consecutive values of
    /// interleaved rows, `k` periodic (``RowGrouping/periodic(_:)``, `channelCount` its period) from
    /// `firstChannel`.
    @inline(__always)
    static func maskedScaleInterleaved<Scalar: BatchNormScalar>(
        _ gradient: UnsafePointer<Scalar>, _ forwardOutput: UnsafePointer<Scalar>,
        _ maskedGradient: UnsafeMutablePointer<Scalar>?, _ inputGradient: UnsafeMutablePointer<Scalar>,
        count: Int, channelCount: Int, firstChannel: Int, scale k: UnsafePointer<Scalar>, streaming: Bool,
        streamsMasked: Bool
    ) {
        let head = streaming ? min(count, streamingHead(inputGradient)) : 0
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
