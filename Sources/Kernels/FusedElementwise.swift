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

    /// `output[r, c] = (input[r, c] - center[c]) * scale[c] + shift[c]` over `rows` rows.
    @inline(__always)
    static func normalizeRows<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ output: UnsafeMutablePointer<Scalar>, rows: Int, channelCount: Int,
        center: UnsafePointer<Scalar>, scale: UnsafePointer<Scalar>, shift: UnsafePointer<Scalar>, streaming: Bool
    ) {
        for row in 0..<rows {
            let rowInput = input + row * channelCount, rowOutput = output + row * channelCount
            var channel = 0
            if streaming {
                let head = min(channelCount, streamingHead(rowOutput))
                while channel < head {
                    rowOutput[channel] = (rowInput[channel] - center[channel]) * scale[channel] + shift[channel]
                    channel += 1
                }
            }
            while channel + width <= channelCount {
                store((load(rowInput + channel) - load(center + channel)) * load(scale + channel) + load(shift + channel),
                      rowOutput + channel, streaming: streaming)
                channel += width
            }
            while channel < channelCount {
                rowOutput[channel] = (rowInput[channel] - center[channel]) * scale[channel] + shift[channel]
                channel += 1
            }
        }
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
        // Row by row into per-channel working-precision accumulators, moved to `Double` every
        // `rowsPerFlush` rows (see `interleavedShiftedSums` for why not column by column).
        let rowsPerFlush = 64
        let vectorEnd = channelCount - channelCount % width
        withUnsafeTemporaryAllocation(of: Scalar.self, capacity: 2 * channelCount) { scratch in
            guard let gradientAccumulator = scratch.baseAddress else { return }
            let productAccumulator = gradientAccumulator + channelCount
            var firstRow = 0
            while firstRow < rows {
                let blockRows = min(rowsPerFlush, rows - firstRow)
                scratch.initialize(repeating: 0)
                for row in firstRow..<(firstRow + blockRows) {
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
                for channel in 0..<channelCount {
                    sumGradient[channel] += Double(gradientAccumulator[channel])
                    sumGradientTimesCentered[channel] += Double(productAccumulator[channel])
                }
                firstRow += blockRows
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

    /// `dx[r, c] = k[c] · dy[r, c] + p[c] · (x[r, c] - center[c]) + q[c]`; without `p` (nil),
    /// `dx = k · dy` and `x` is not read.
    static func gradientRows<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>,
        rows: Int, channelCount: Int, center: UnsafePointer<Scalar>, gradientScale k: UnsafePointer<Scalar>,
        centeredScale p: UnsafePointer<Scalar>?, bias q: UnsafePointer<Scalar>, streaming: Bool
    ) {
        for row in 0..<rows {
            let offset = row * channelCount
            var channel = 0
            let head = streaming ? min(channelCount, streamingHead(inputGradient + offset)) : 0
            if let p {
                while channel < head {
                    let at = offset + channel
                    inputGradient[at] = k[channel] * gradient[at] + p[channel] * (input[at] - center[channel]) + q[channel]
                    channel += 1
                }
                while channel + width <= channelCount {
                    let at = offset + channel
                    let value = load(k + channel) * load(gradient + at)
                        + load(p + channel) * (load(input + at) - load(center + channel)) + load(q + channel)
                    store(value, inputGradient + at, streaming: streaming)
                    channel += width
                }
                while channel < channelCount {
                    let at = offset + channel
                    inputGradient[at] = k[channel] * gradient[at] + p[channel] * (input[at] - center[channel]) + q[channel]
                    channel += 1
                }
            } else {
                while channel < head {
                    inputGradient[offset + channel] = k[channel] * gradient[offset + channel]
                    channel += 1
                }
                while channel + width <= channelCount {
                    store(load(k + channel) * load(gradient + offset + channel), inputGradient + offset + channel,
                          streaming: streaming)
                    channel += width
                }
                while channel < channelCount {
                    inputGradient[offset + channel] = k[channel] * gradient[offset + channel]
                    channel += 1
                }
            }
        }
    }
}
