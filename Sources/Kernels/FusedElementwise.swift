/// The elementwise loops of the fused kernels, for a contiguous run of one channel (channels-first)
/// or for rows of interleaved channels (channels-last). Plain IEEE SIMD arithmetic (`a * b + c`, no
/// contraction), so NaN and infinity propagate exactly as in scalar code.
///
/// With `streaming: true` the vector stores bypass the caches (`Fused.streamingStore`): a few scalar
/// stores first bring the output pointer to the streaming alignment, and the caller runs
/// `Fused.streamingFence()` after its last call. The flag is loop-invariant, so the compiler unswitches it.
extension Fused {
    // MARK: - Forward

    /// `output = (input - center) * scale + shift` over one run.
    @inline(__always)
    static func normalizeRun<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ output: UnsafeMutablePointer<Scalar>, _ count: Int,
        center: Scalar, scale: Scalar, shift: Scalar, streaming: Bool
    ) {
        let centerVector = Vector<Scalar>(repeating: center)
        let scaleVector = Vector<Scalar>(repeating: scale)
        let shiftVector = Vector<Scalar>(repeating: shift)
        var index = 0
        if streaming {
            let head = min(count, streamingHead(output))
            while index < head {
                output[index] = (input[index] - center) * scale + shift
                index += 1
            }
        }
        while index + width <= count {
            store((load(input + index) - centerVector) * scaleVector + shiftVector, output + index, streaming: streaming)
            index += width
        }
        while index < count {
            output[index] = (input[index] - center) * scale + shift
            index += 1
        }
    }

    /// `output[i] = (input[i] - center[c]) * scale[c] + shift[c]` over `count` consecutive values of
    /// interleaved rows, where `c = (firstChannel + i) mod channelCount`. The coefficients are
    /// periodic (``periodic(_:channelCount:)``), so a vector that crosses the end of a row reads the next
    /// row's first channels, and the whole range is one stream: rows need not be vector-aligned, and a
    /// streaming store never shares a cache line with a plain one except at the two ends of the range.
    @inline(__always)
    static func normalizeInterleaved<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ output: UnsafeMutablePointer<Scalar>, count: Int, channelCount: Int,
        firstChannel: Int, center: UnsafePointer<Scalar>, scale: UnsafePointer<Scalar>, shift: UnsafePointer<Scalar>,
        streaming: Bool
    ) {
        var channel = firstChannel, index = 0
        let head = streaming ? min(count, streamingHead(output)) : 0
        while index < head {
            output[index] = (input[index] - center[channel]) * scale[channel] + shift[channel]
            index += 1
            channel = channel + 1 == channelCount ? 0 : channel + 1
        }
        while index + width <= count {
            store((load(input + index) - load(center + channel)) * load(scale + channel) + load(shift + channel),
                  output + index, streaming: streaming)
            index += width
            channel = nextChannel(channel, channelCount)
        }
        while index < count {
            output[index] = (input[index] - center[channel]) * scale[channel] + shift[channel]
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

    /// `coefficients[j % channelCount]` for `j` in `0..<channelCount + width`: what the interleaved
    /// loops load, so that a vector starting at any channel reads `width` consecutive channels mod `channelCount`.
    static func periodic<Scalar: BatchNormScalar>(_ coefficients: [Scalar], channelCount: Int) -> [Scalar] {
        guard channelCount > 0 else { return [] }
        return (0..<(channelCount + width)).map { coefficients[$0 % channelCount] }
    }

    // MARK: - Backward reductions

    /// `(Σ dy, Σ dy · (x - center))` over one run, in `Double` (SIMD lanes per block).
    @inline(__always)
    static func reduceRun<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ count: Int, center: Scalar
    ) -> (sumGradient: Double, sumGradientTimesCentered: Double) {
        let centerVector = Vector<Scalar>(repeating: center)
        var sumGradient = 0.0, sumProduct = 0.0
        var start = 0
        while start < count {
            let end = min(start + blockLength, count)
            var gradient0 = Vector<Scalar>(), product0 = Vector<Scalar>()
            var index = start
            while index + width <= end {
                let dy = load(gradient + index)
                gradient0 += dy
                product0 += dy * (load(input + index) - centerVector)
                index += width
            }
            sumGradient += Double(gradient0.sum())
            sumProduct += Double(product0.sum())
            while index < end {
                sumGradient += Double(gradient[index])
                sumProduct += Double(gradient[index] * (input[index] - center))
                index += 1
            }
            start = end
        }
        return (sumGradient, sumProduct)
    }

    /// Per-channel `Σ dy` and `Σ dy · (x - center)` over `rows` interleaved rows, added into `Double` sums.
    static func reduceRows<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, rows: Int, channelCount: Int,
        center: UnsafePointer<Scalar>, sumGradient: UnsafeMutablePointer<Double>,
        sumGradientTimesCentered: UnsafeMutablePointer<Double>
    ) {
        let vectorEnd = channelCount - channelCount % width
        accumulateRows(rows, channelCount: channelCount, into: sumGradient, sumGradientTimesCentered) {
            row, gradientAccumulator, productAccumulator in
            let offset = row * channelCount
            var channel = 0
            while channel < vectorEnd {
                let dy = load(gradient + offset + channel)
                let centered = load(input + offset + channel) - load(center + channel)
                store(load(gradientAccumulator + channel) + dy, gradientAccumulator + channel)
                store(load(productAccumulator + channel) + dy * centered, productAccumulator + channel)
                channel += width
            }
            while channel < channelCount {
                let dy = gradient[offset + channel]
                gradientAccumulator[channel] += dy
                productAccumulator[channel] += dy * (input[offset + channel] - center[channel])
                channel += 1
            }
        }
    }

    // MARK: - Backward elementwise step

    /// `dx = k · dy + p · (x - center) + q` over one run.
    @inline(__always)
    static func gradientRun<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>,
        _ count: Int, center: Scalar, gradientScale k: Scalar, centeredScale p: Scalar, bias q: Scalar,
        streaming: Bool
    ) {
        let centerVector = Vector<Scalar>(repeating: center)
        let kVector = Vector<Scalar>(repeating: k), pVector = Vector<Scalar>(repeating: p)
        let qVector = Vector<Scalar>(repeating: q)
        var index = 0
        if streaming {
            let head = min(count, streamingHead(inputGradient))
            while index < head {
                inputGradient[index] = k * gradient[index] + p * (input[index] - center) + q
                index += 1
            }
        }
        while index + width <= count {
            let value = kVector * load(gradient + index) + pVector * (load(input + index) - centerVector) + qVector
            store(value, inputGradient + index, streaming: streaming)
            index += width
        }
        while index < count {
            inputGradient[index] = k * gradient[index] + p * (input[index] - center) + q
            index += 1
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

    /// `dx[i] = k[c] · dy[i] + p[c] · (x[i] - center[c]) + q[c]` over `count` consecutive values of
    /// interleaved rows, `c = (firstChannel + i) mod channelCount`, with periodic coefficients (see
    /// ``normalizeInterleaved(_:_:count:channelCount:firstChannel:center:scale:shift:streaming:)``);
    /// without `p` (nil), `dx = k · dy` and `x` is not read.
    @inline(__always)
    static func gradientInterleaved<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>,
        count: Int, channelCount: Int, firstChannel: Int, center: UnsafePointer<Scalar>,
        gradientScale k: UnsafePointer<Scalar>, centeredScale p: UnsafePointer<Scalar>?, bias q: UnsafePointer<Scalar>,
        streaming: Bool
    ) {
        var channel = firstChannel, index = 0
        let head = streaming ? min(count, streamingHead(inputGradient)) : 0
        if let p {
            while index < head {
                inputGradient[index] = k[channel] * gradient[index] + p[channel] * (input[index] - center[channel]) + q[channel]
                index += 1
                channel = channel + 1 == channelCount ? 0 : channel + 1
            }
            while index + width <= count {
                let value = load(k + channel) * load(gradient + index)
                    + load(p + channel) * (load(input + index) - load(center + channel)) + load(q + channel)
                store(value, inputGradient + index, streaming: streaming)
                index += width
                channel = nextChannel(channel, channelCount)
            }
            while index < count {
                inputGradient[index] = k[channel] * gradient[index] + p[channel] * (input[index] - center[channel]) + q[channel]
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
