/// The elementwise loops of the fused kernels, for a contiguous run of one channel (channels-first)
/// or for rows of interleaved channels (channels-last). Plain IEEE SIMD arithmetic (`a * b + c`, no
/// contraction), so NaN and infinity propagate exactly as in scalar code.
///
/// With `streaming: true` the vector stores bypass the caches (`Fused.streamingStore`): a few scalar
/// stores first bring the output pointer to the streaming alignment, and the caller runs
/// `Fused.streamingFence()` after its last call. The flag is loop-invariant, so the compiler unswitches it.
extension Fused {
    // MARK: - Forward

    /// `output = epilogue((input - center) * scale + shift)` over one run, where the epilogue adds
    /// `residual` (when given) and then applies ReLU (when `relu`); both are loop-invariant, like `streaming`.
    @inline(__always)
    static func normalizeRun<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ output: UnsafeMutablePointer<Scalar>, _ count: Int,
        center: Scalar, scale: Scalar, shift: Scalar, residual: UnsafePointer<Scalar>? = nil, relu: Bool = false,
        streaming: Bool
    ) {
        let centerVector = Vector<Scalar>(repeating: center)
        let scaleVector = Vector<Scalar>(repeating: scale)
        let shiftVector = Vector<Scalar>(repeating: shift)
        var index = 0
        if streaming {
            let head = min(count, streamingHead(output))
            while index < head {
                output[index] = epilogue((input[index] - center) * scale + shift, residual, index, relu: relu)
                index += 1
            }
        }
        while index + width <= count {
            let value = (load(input + index) - centerVector) * scaleVector + shiftVector
            store(epilogue(value, residual, index, relu: relu), output + index, streaming: streaming)
            index += width
        }
        while index < count {
            output[index] = epilogue((input[index] - center) * scale + shift, residual, index, relu: relu)
            index += 1
        }
    }

    /// `relu(value + residual[index])`, each step only when asked: the residual is added in working
    /// precision to the rounded batch-norm output (as PyTorch's `add_` does), and ReLU replaces only
    /// values `< 0`, so NaN stays NaN (PyTorch's `relu`).
    @inline(__always)
    static func epilogue<Scalar: BatchNormScalar>(
        _ value: Scalar, _ residual: UnsafePointer<Scalar>?, _ index: Int, relu: Bool
    ) -> Scalar {
        var result = value
        if let residual { result += residual[index] }
        if relu && result < 0 { result = 0 }
        return result
    }

    /// The vector form of ``epilogue(_:_:_:relu:)-(Scalar,_,_,_)``.
    @inline(__always)
    static func epilogue<Scalar: BatchNormScalar>(
        _ value: Vector<Scalar>, _ residual: UnsafePointer<Scalar>?, _ index: Int, relu: Bool
    ) -> Vector<Scalar> {
        var result = value
        if let residual { result += load(residual + index) }
        if relu { result = zeroWhereNegative(result) }
        return result
    }

    /// `output[i] = (input[i] - center[c]) * scale[c] + shift[c]` over `count` consecutive values of
    /// interleaved rows, where `c = (firstChannel + i) mod channelCount`, followed by the epilogue of
    /// ``normalizeRun(_:_:_:center:scale:shift:residual:relu:streaming:)``. The coefficients are
    /// periodic (`channelCount + width` values, ``RowGrouping/periodic(_:)``), so a vector that crosses
    /// the end of a row reads the next row's first channels, and the whole range is one stream: rows
    /// need not be vector-aligned, and a streaming store never shares a cache line with a plain one
    /// except at the two ends of the range.
    @inline(__always)
    static func normalizeInterleaved<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ output: UnsafeMutablePointer<Scalar>, count: Int, channelCount: Int,
        firstChannel: Int, center: UnsafePointer<Scalar>, scale: UnsafePointer<Scalar>, shift: UnsafePointer<Scalar>,
        residual: UnsafePointer<Scalar>? = nil, relu: Bool = false, streaming: Bool
    ) {
        let head = streaming ? min(count, streamingHead(output)) : 0
        if WideLoops.normalizeInterleaved(
            input, output, count: count, head: head, channelCount: channelCount, firstChannel: firstChannel,
            center: center, scale: scale, shift: shift, residual: residual, relu: relu, streaming: streaming) { return }
        var channel = firstChannel, index = 0
        while index < head {
            output[index] = epilogue(
                (input[index] - center[channel]) * scale[channel] + shift[channel], residual, index, relu: relu)
            index += 1
            channel = channel + 1 == channelCount ? 0 : channel + 1
        }
        while index + width <= count {
            let value = (load(input + index) - load(center + channel)) * load(scale + channel) + load(shift + channel)
            store(epilogue(value, residual, index, relu: relu), output + index, streaming: streaming)
            index += width
            channel = nextChannel(channel, channelCount)
        }
        while index < count {
            output[index] = epilogue(
                (input[index] - center[channel]) * scale[channel] + shift[channel], residual, index, relu: relu)
            index += 1
            channel = channel + 1 == channelCount ? 0 : channel + 1
        }
    }

    /// The channel `width` values after `channel`, for `channel < channelCount`.
    @inline(__always)
    static func nextChannel(_ channel: Int, _ channelCount: Int) -> Int {
        let next = channel + width
        return next < channelCount ? next : (channelCount >= width ? next - channelCount : next % channelCount)
    }

    // MARK: - Backward reductions

    /// `(Σ dz, Σ dz · (x - center))` over one run, in `Double` (SIMD lanes per block, a long tail as one
    /// more overlapped vector), where `dz` is `filter`'s gradient (`dy` itself for the plain backward).
    @inline(__always)
    static func reduceRun<Scalar: BatchNormScalar, Filter: GradientFilter<Scalar>>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ count: Int, center: Scalar,
        channel: Int, filter: Filter
    ) -> (sumGradient: Double, sumGradientTimesCentered: Double) {
        let centerVector = Vector<Scalar>(repeating: center)
        var sumGradient = 0.0, sumProduct = 0.0
        var start = 0
        while start < count {
            let end = min(start + blockLength, count)
            var gradient0 = Vector<Scalar>(), product0 = Vector<Scalar>()
            var index = start
            while index + width <= end {
                let centered = load(input + index) - centerVector
                let dz = filter(load(gradient + index), centered: centered, index: index, channel: channel)
                gradient0 += dz
                product0 += dz * centered
                index += width
            }
            // The block's last few values as one more vector, as in `shiftedSums` (`overlappedTail`): the
            // lanes already summed go through the filter again (a mask stores the same values) and add +0.
            if end - index >= overlappedTailLength && end - start >= width {
                let at = end - width
                let centered = load(input + at) - centerVector
                let dz = filter(load(gradient + at), centered: centered, index: at, channel: channel)
                gradient0 += overlappedTail(dz, tail: end - index)
                product0 += overlappedTail(dz * centered, tail: end - index)
                index = end
            }
            sumGradient += laneSum(gradient0)
            sumProduct += laneSum(product0)
            while index < end {
                let centered = input[index] - center
                let dz = filter(gradient[index], centered: centered, index: index, channel: channel)
                sumGradient += Double(dz)
                sumProduct += Double(dz * centered)
                index += 1
            }
            start = end
        }
        return (sumGradient, sumProduct)
    }

    /// ``reduceRun(_:_:_:center:channel:filter:)`` over the channels-first `runs` (each `runLength`
    /// long, in memory order), added into per-channel `Double` sums; `filter(offset, channel)` gives the
    /// run's filter.
    @inline(__always)
    static func reduceRuns<Scalar: BatchNormScalar, Filter: GradientFilter<Scalar>>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, runs: Range<Int>, runLength: Int,
        channelCount: Int, center: UnsafePointer<Scalar>, sumGradient: UnsafeMutablePointer<Double>,
        sumGradientTimesCentered: UnsafeMutablePointer<Double>, filter: (_ offset: Int, _ channel: Int) -> Filter
    ) {
        for run in runs {
            let channel = run % channelCount
            let offset = run * runLength
            let sums = reduceRun(input + offset, gradient + offset, runLength, center: center[channel],
                                 channel: channel, filter: filter(offset, channel))
            sumGradient[channel] += sums.sumGradient
            sumGradientTimesCentered[channel] += sums.sumGradientTimesCentered
        }
    }

    /// Per-channel `Σ dz` and `Σ dz · (x - center)` over `rows` interleaved rows, added into `Double`
    /// sums, where `dz` is `filter`'s gradient (indexed from the first row). `choices`: what of the AVX2
    /// loops prefetches the data ahead, and where register tiles walk the rows (``rowLoopChoices(_:_:)``;
    /// the sums are the same either way).
    static func reduceRows<Scalar: BatchNormScalar, Filter: GradientFilter<Scalar>>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, rows: Int, channelCount: Int,
        center: UnsafePointer<Scalar>, sumGradient: UnsafeMutablePointer<Double>,
        sumGradientTimesCentered: UnsafeMutablePointer<Double>, filter: Filter, choices: RowLoopChoices
    ) {
        let vectorEnd = channelCount - channelCount % width
        accumulateRows(
            rows, channelCount: channelCount, alignedWith: input, into: sumGradient, sumGradientTimesCentered
        ) {
            rows, gradientAccumulator, productAccumulator in
            if WideLoops.gradientSumsRows(
                input + rows.lowerBound * channelCount, gradient + rows.lowerBound * channelCount, rows: rows.count,
                channelCount: channelCount, center: center, filter: filter, firstIndex: rows.lowerBound * channelCount,
                sumGradient: gradientAccumulator, sumProduct: productAccumulator, choices: choices) { return }
            for row in rows {
                let offset = row * channelCount
                var channel = 0
                while channel < vectorEnd {
                    let centered = load(input + offset + channel) - load(center + channel)
                    let dz = filter(load(gradient + offset + channel), centered: centered, index: offset + channel,
                                    channel: channel)
                    store(load(gradientAccumulator + channel) + dz, gradientAccumulator + channel)
                    store(load(productAccumulator + channel) + dz * centered, productAccumulator + channel)
                    channel += width
                }
                while channel < channelCount {
                    let centered = input[offset + channel] - center[channel]
                    let dz = filter(gradient[offset + channel], centered: centered, index: offset + channel,
                                    channel: channel)
                    gradientAccumulator[channel] += dz
                    productAccumulator[channel] += dz * centered
                    channel += 1
                }
            }
        }
    }

    // MARK: - Backward elementwise step

    /// `dx = k · dz + p · (x - center) + q` over one run, where `dz` is `filter`'s gradient (`dy`
    /// itself for the plain backward).
    @inline(__always)
    static func gradientRun<Scalar: BatchNormScalar, Filter: GradientFilter<Scalar>>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>,
        _ count: Int, center: Scalar, gradientScale k: Scalar, centeredScale p: Scalar, bias q: Scalar,
        channel: Int, filter: Filter, streaming: Bool
    ) {
        let centerVector = Vector<Scalar>(repeating: center)
        let kVector = Vector<Scalar>(repeating: k), pVector = Vector<Scalar>(repeating: p)
        let qVector = Vector<Scalar>(repeating: q)
        let head = streaming ? min(count, streamingHead(inputGradient)) : 0
        var index = 0
        while index < head {
            let centered = input[index] - center
            let dz = filter(gradient[index], centered: centered, index: index, channel: channel)
            inputGradient[index] = k * dz + p * centered + q
            index += 1
        }
        while index + width <= count {
            let centered = load(input + index) - centerVector
            let dz = filter(load(gradient + index), centered: centered, index: index, channel: channel)
            store(kVector * dz + pVector * centered + qVector, inputGradient + index, streaming: streaming)
            index += width
        }
        while index < count {
            let centered = input[index] - center
            let dz = filter(gradient[index], centered: centered, index: index, channel: channel)
            inputGradient[index] = k * dz + p * centered + q
            index += 1
        }
    }

    /// ``gradientRun(_:_:_:_:center:gradientScale:centeredScale:bias:channel:filter:streaming:)`` over the
    /// channels-first `runs` (each `runLength` long, in memory order) with per-channel coefficients;
    /// `filter(channel)` gives a run's filter.
    @inline(__always)
    static func gradientRuns<Scalar: BatchNormScalar, Filter: GradientFilter<Scalar>>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>,
        runs: Range<Int>, runLength: Int, channelCount: Int, center: [Scalar], gradientScale k: [Scalar],
        centeredScale p: [Scalar], bias q: [Scalar], streaming: Bool, filter: (_ channel: Int) -> Filter
    ) {
        for run in runs {
            let channel = run % channelCount
            let offset = run * runLength
            gradientRun(input + offset, gradient + offset, inputGradient + offset, runLength,
                        center: center[channel], gradientScale: k[channel], centeredScale: p[channel], bias: q[channel],
                        channel: channel, filter: filter(channel), streaming: streaming)
        }
    }

    /// `dx = k · dy` over one run.
    @inline(__always)
    static func scaleRun<Scalar: BatchNormScalar>(
        _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>, _ count: Int, scale k: Scalar,
        streaming: Bool
    ) {
        let kVector = Vector<Scalar>(repeating: k)
        var index = 0
        if streaming {
            let head = min(count, streamingHead(inputGradient))
            while index < head {
                inputGradient[index] = k * gradient[index]
                index += 1
            }
        }
        while index + width <= count {
            store(kVector * load(gradient + index), inputGradient + index, streaming: streaming)
            index += width
        }
        while index < count {
            inputGradient[index] = k * gradient[index]
            index += 1
        }
    }

    /// One value of ``gradientInterleaved(_:_:_:count:channelCount:firstChannel:center:gradientScale:centeredScale:bias:filter:streaming:)``:
    /// `dx[index]`, whose channel is `channel`.
    @inline(__always)
    static func interleavedGradientValue<Scalar: BatchNormScalar, Filter: GradientFilter<Scalar>>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>,
        index: Int, channel: Int, center: UnsafePointer<Scalar>, gradientScale k: UnsafePointer<Scalar>,
        centeredScale p: UnsafePointer<Scalar>, bias q: UnsafePointer<Scalar>, filter: Filter
    ) {
        let centered = input[index] - center[channel]
        let dz = filter(gradient[index], centered: centered, index: index, channel: channel)
        inputGradient[index] = k[channel] * dz + p[channel] * centered + q[channel]
    }

    /// `dx[i] = k[c] · dz[i] + p[c] · (x[i] - center[c]) + q[c]` over `count` consecutive values of
    /// interleaved rows, `c = (firstChannel + i) mod channelCount`, with periodic coefficients (see
    /// ``normalizeInterleaved(_:_:count:channelCount:firstChannel:center:scale:shift:residual:relu:streaming:)``),
    /// where `dz` is `filter`'s gradient; without `p` (nil), `dx = k · dy`, `x` is not read and
    /// `filter` is not used.
    @inline(__always)
    static func gradientInterleaved<Scalar: BatchNormScalar, Filter: GradientFilter<Scalar>>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>,
        count: Int, channelCount: Int, firstChannel: Int, center: UnsafePointer<Scalar>,
        gradientScale k: UnsafePointer<Scalar>, centeredScale p: UnsafePointer<Scalar>?, bias q: UnsafePointer<Scalar>,
        filter: Filter, streaming: Bool
    ) {
        let head = streaming ? min(count, streamingHead(inputGradient)) : 0
        if WideLoops.gradientInterleaved(
            input, gradient, inputGradient, count: count, head: head, channelCount: channelCount,
            firstChannel: firstChannel, center: center, gradientScale: k, centeredScale: p, bias: q, filter: filter,
            streaming: streaming) { return }
        var channel = firstChannel, index = 0
        if let p {
            while index < head {
                interleavedGradientValue(input, gradient, inputGradient, index: index, channel: channel, center: center,
                                         gradientScale: k, centeredScale: p, bias: q, filter: filter)
                index += 1
                channel = channel + 1 == channelCount ? 0 : channel + 1
            }
            while index + width <= count {
                let centered = load(input + index) - load(center + channel)
                let dz = filter(load(gradient + index), centered: centered, index: index, channel: channel)
                let value = load(k + channel) * dz + load(p + channel) * centered + load(q + channel)
                store(value, inputGradient + index, streaming: streaming)
                index += width
                channel = nextChannel(channel, channelCount)
            }
            while index < count {
                interleavedGradientValue(input, gradient, inputGradient, index: index, channel: channel, center: center,
                                         gradientScale: k, centeredScale: p, bias: q, filter: filter)
                index += 1
                channel = channel + 1 == channelCount ? 0 : channel + 1
            }
        } else {
            while index < head {
                inputGradient[index] = k[channel] * gradient[index]
                index += 1
                channel = channel + 1 == channelCount ? 0 : channel + 1
            }
            while index + width <= count {
                store(load(k + channel) * load(gradient + index), inputGradient + index, streaming: streaming)
                index += width
                channel = nextChannel(channel, channelCount)
            }
            while index < count {
                inputGradient[index] = k[channel] * gradient[index]
                index += 1
                channel = channel + 1 == channelCount ? 0 : channel + 1
            }
        }
    }
}
