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
    /// periodic (``periodic(_:channelCount:)``), so a vector that crosses the end of a row reads the next
    /// row's first channels, and the whole range is one stream: rows need not be vector-aligned, and a
    /// streaming store never shares a cache line with a plain one except at the two ends of the range.
    @inline(__always)
    static func normalizeInterleaved<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ output: UnsafeMutablePointer<Scalar>, count: Int, channelCount: Int,
        firstChannel: Int, center: UnsafePointer<Scalar>, scale: UnsafePointer<Scalar>, shift: UnsafePointer<Scalar>,
        residual: UnsafePointer<Scalar>? = nil, relu: Bool = false, streaming: Bool
    ) {
        var channel = firstChannel, index = 0
        let head = streaming ? min(count, streamingHead(output)) : 0
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

    /// `coefficients[j % channelCount]` for `j` in `0..<channelCount + width`: what the interleaved
    /// loops load, so that a vector starting at any channel reads `width` consecutive channels mod `channelCount`.
    static func periodic<Scalar: BatchNormScalar>(_ coefficients: [Scalar], channelCount: Int) -> [Scalar] {
        guard channelCount > 0 else { return [] }
        return (0..<(channelCount + width)).map { coefficients[$0 % channelCount] }
    }

    // MARK: - Backward reductions

    /// The ReLU mask of a backward pass: the forward's output `y` and where `dz = [y > 0] · dy` goes.
    /// PyTorch's `threshold_backward(dy, y, 0)`: `dz = y <= 0 ? 0 : dy`, so a NaN `y` passes `dy` and
    /// `y == 0` gives 0.
    struct GradientMask<Scalar: BatchNormScalar> {
        let forwardOutput: UnsafePointer<Scalar>
        let maskedGradient: UnsafeMutablePointer<Scalar>

        @inline(__always)
        func advanced(by offset: Int) -> Self {
            Self(forwardOutput: forwardOutput + offset, maskedGradient: maskedGradient + offset)
        }

        /// `dz` at `index` for the gradient `dy` there; also stores it.
        @inline(__always)
        func apply(_ dy: Scalar, at index: Int) -> Scalar {
            let dz = forwardOutput[index] <= 0 ? 0 : dy
            maskedGradient[index] = dz
            return dz
        }

        /// The vector form of ``apply(_:at:)-(Scalar,_)``.
        @inline(__always)
        func apply(_ dy: Vector<Scalar>, at index: Int) -> Vector<Scalar> {
            let dz = zeroWhereNotPositive(dy, condition: load(forwardOutput + index))
            store(dz, maskedGradient + index)
            return dz
        }
    }

    /// The ReLU mask recomputed from `x`: the forward's pre-activation `v = (x - center)·scale + shift`
    /// with the very coefficients and operations the forward used, so `v <= 0` is `y <= 0` bit for bit,
    /// and `dz = v <= 0 ? 0 : dy`. Nothing is read or written beyond `x` and `dy`.
    struct RecomputedMask<Scalar: BatchNormScalar> {
        let scale: Scalar
        let shift: Scalar

        @inline(__always)
        func apply(_ dy: Scalar, centered: Scalar) -> Scalar { centered * scale + shift <= 0 ? 0 : dy }

        @inline(__always)
        func apply(_ dy: Vector<Scalar>, centered: Vector<Scalar>) -> Vector<Scalar> {
            zeroWhereNotPositive(dy, condition: centered * Vector(repeating: scale) + Vector(repeating: shift))
        }
    }

    /// `(Σ dy, Σ dy · (x - center))` over one run, in `Double` (SIMD lanes per block). With a `mask`,
    /// `dy` is first replaced by the masked `dz` (which is also written out); with `recomputed`, by
    /// `dz` from the recomputed mask. Both are loop-invariant.
    @inline(__always)
    static func reduceRun<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ count: Int, center: Scalar,
        mask: GradientMask<Scalar>? = nil, recomputed: RecomputedMask<Scalar>? = nil
    ) -> (sumGradient: Double, sumGradientTimesCentered: Double) {
        let centerVector = Vector<Scalar>(repeating: center)
        var sumGradient = 0.0, sumProduct = 0.0
        var start = 0
        while start < count {
            let end = min(start + blockLength, count)
            var gradient0 = Vector<Scalar>(), product0 = Vector<Scalar>()
            var index = start
            while index + width <= end {
                var dy = load(gradient + index)
                let centered = load(input + index) - centerVector
                if let mask { dy = mask.apply(dy, at: index) }
                if let recomputed { dy = recomputed.apply(dy, centered: centered) }
                gradient0 += dy
                product0 += dy * centered
                index += width
            }
            sumGradient += Double(gradient0.sum())
            sumProduct += Double(product0.sum())
            while index < end {
                var dy = gradient[index]
                let centered = input[index] - center
                if let mask { dy = mask.apply(dy, at: index) }
                if let recomputed { dy = recomputed.apply(dy, centered: centered) }
                sumGradient += Double(dy)
                sumProduct += Double(dy * centered)
                index += 1
            }
            start = end
        }
        return (sumGradient, sumProduct)
    }

    /// Per-channel `Σ dy` and `Σ dy · (x - center)` over `rows` interleaved rows, added into `Double`
    /// sums; with a `mask`, of the masked `dz` as in ``reduceRun(_:_:_:center:mask:recomputed:)``; with
    /// `recomputedScale` and `recomputedShift` (per channel), of `dz` from the recomputed mask.
    static func reduceRows<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, rows: Int, channelCount: Int,
        center: UnsafePointer<Scalar>, sumGradient: UnsafeMutablePointer<Double>,
        sumGradientTimesCentered: UnsafeMutablePointer<Double>, mask: GradientMask<Scalar>? = nil,
        recomputedScale: UnsafePointer<Scalar>? = nil, recomputedShift: UnsafePointer<Scalar>? = nil
    ) {
        let vectorEnd = channelCount - channelCount % width
        accumulateRows(rows, channelCount: channelCount, into: sumGradient, sumGradientTimesCentered) {
            row, gradientAccumulator, productAccumulator in
            let offset = row * channelCount
            var channel = 0
            while channel < vectorEnd {
                var dy = load(gradient + offset + channel)
                if let mask { dy = mask.apply(dy, at: offset + channel) }
                let centered = load(input + offset + channel) - load(center + channel)
                if let recomputedScale, let recomputedShift {
                    dy = zeroWhereNotPositive(
                        dy, condition: centered * load(recomputedScale + channel) + load(recomputedShift + channel))
                }
                store(load(gradientAccumulator + channel) + dy, gradientAccumulator + channel)
                store(load(productAccumulator + channel) + dy * centered, productAccumulator + channel)
                channel += width
            }
            while channel < channelCount {
                var dy = gradient[offset + channel]
                if let mask { dy = mask.apply(dy, at: offset + channel) }
                let centered = input[offset + channel] - center[channel]
                if let recomputedScale, let recomputedShift {
                    dy = centered * recomputedScale[channel] + recomputedShift[channel] <= 0 ? 0 : dy
                }
                gradientAccumulator[channel] += dy
                productAccumulator[channel] += dy * centered
                channel += 1
            }
        }
    }

    // MARK: - Backward elementwise step

    /// `dx = k · dy + p · (x - center) + q` over one run; with `recomputed`, `dz` (the masked `dy`) in
    /// place of `dy` (loop-invariant).
    @inline(__always)
    static func gradientRun<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>,
        _ count: Int, center: Scalar, gradientScale k: Scalar, centeredScale p: Scalar, bias q: Scalar,
        recomputed: RecomputedMask<Scalar>? = nil, streaming: Bool
    ) {
        let centerVector = Vector<Scalar>(repeating: center)
        let kVector = Vector<Scalar>(repeating: k), pVector = Vector<Scalar>(repeating: p)
        let qVector = Vector<Scalar>(repeating: q)
        var index = 0
        if streaming {
            let head = min(count, streamingHead(inputGradient))
            while index < head {
                let centered = input[index] - center
                let dy = recomputed.map { $0.apply(gradient[index], centered: centered) } ?? gradient[index]
                inputGradient[index] = k * dy + p * centered + q
                index += 1
            }
        }
        while index + width <= count {
            let centered = load(input + index) - centerVector
            var dy = load(gradient + index)
            if let recomputed { dy = recomputed.apply(dy, centered: centered) }
            store(kVector * dy + pVector * centered + qVector, inputGradient + index, streaming: streaming)
            index += width
        }
        while index < count {
            let centered = input[index] - center
            let dy = recomputed.map { $0.apply(gradient[index], centered: centered) } ?? gradient[index]
            inputGradient[index] = k * dy + p * centered + q
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
        recomputedScale: UnsafePointer<Scalar>? = nil, recomputedShift: UnsafePointer<Scalar>? = nil, streaming: Bool
    ) {
        var channel = firstChannel, index = 0
        let head = streaming ? min(count, streamingHead(inputGradient)) : 0
        // The recomputed ReLU mask (training only; periodic per-channel coefficients like k, p, q).
        @inline(__always) func masked(_ dy: Scalar, _ centered: Scalar, _ channel: Int) -> Scalar {
            guard let recomputedScale, let recomputedShift else { return dy }
            return centered * recomputedScale[channel] + recomputedShift[channel] <= 0 ? 0 : dy
        }
        if let p {
            while index < head {
                let centered = input[index] - center[channel]
                inputGradient[index] = k[channel] * masked(gradient[index], centered, channel) + p[channel] * centered + q[channel]
                index += 1
                channel = channel + 1 == channelCount ? 0 : channel + 1
            }
            while index + width <= count {
                let centered = load(input + index) - load(center + channel)
                var dy = load(gradient + index)
                if let recomputedScale, let recomputedShift {
                    dy = zeroWhereNotPositive(
                        dy, condition: centered * load(recomputedScale + channel) + load(recomputedShift + channel))
                }
                let value = load(k + channel) * dy + load(p + channel) * centered + load(q + channel)
                store(value, inputGradient + index, streaming: streaming)
                index += width
                channel = nextChannel(channel, channelCount)
            }
            while index < count {
                let centered = input[index] - center[channel]
                inputGradient[index] = k[channel] * masked(gradient[index], centered, channel) + p[channel] * centered + q[channel]
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
