public import BatchNormKit

/// The naive batch norm: plain nested loops, no BLAS, no SIMD, `Double` accumulators, two passes
/// (mean, then the sum of squared deviations). It indexes the tensor from the layout directly,
/// independently of the kernels' geometry, and serves as the parity oracle in tests (run on `Double`
/// data it is the float64 reference) and as the baseline in benchmarks.
///
/// Outputs go into caller-owned arrays of the right size (benchmarks reuse them); per-channel results
/// are returned in `Double`.
public enum NaiveBatchNorm {
    /// The statistics of one training forward pass, in `Double`.
    public struct Statistics: Sendable, Hashable {
        public var mean: [Double]
        /// Biased variance `Σ(x - mean)² / M`.
        public var variance: [Double]
        /// Unbiased variance `Σ(x - mean)² / (M - 1)` (`NaN` for `M == 1`).
        public var unbiasedVariance: [Double]
        public var inverseStandardDeviation: [Double]

        @inlinable
        public init(mean: [Double], variance: [Double], unbiasedVariance: [Double], inverseStandardDeviation: [Double]) {
            self.mean = mean
            self.variance = variance
            self.unbiasedVariance = unbiasedVariance
            self.inverseStandardDeviation = inverseStandardDeviation
        }
    }

    /// The loop bounds and strides of a shape, read once per call (the shape's computed properties
    /// divide; the loops below must not call them per element).
    @usableFromInline
    struct Layout {
        @usableFromInline let batchSize: Int
        @usableFromInline let channelCount: Int
        @usableFromInline let spatialCount: Int
        /// Distance between consecutive channels, spatial positions and batch items.
        @usableFromInline let channelStride: Int
        @usableFromInline let spatialStride: Int
        @usableFromInline let batchStride: Int

        @inlinable
        init(_ shape: TensorShape) {
            batchSize = shape.batchSize
            channelCount = shape.channelCount
            spatialCount = shape.spatialCount
            batchStride = channelCount * spatialCount
            switch shape.layout {
            case .channelsFirst: (channelStride, spatialStride) = (spatialCount, 1)
            case .channelsLast: (channelStride, spatialStride) = (1, channelCount)
            }
        }

        /// Index of element `(batch, channel, spatial)` in memory order.
        @inlinable @inline(__always)
        func index(_ batch: Int, _ channel: Int, _ spatial: Int) -> Int {
            batch * batchStride + channel * channelStride + spatial * spatialStride
        }
    }

    /// Per-channel sum of `value(index)` over the batch and every spatial position.
    @inlinable @inline(__always)
    static func channelSum(_ layout: Layout, _ channel: Int, _ value: (Int) -> Double) -> Double {
        var sum = 0.0
        for batch in 0..<layout.batchSize {
            for spatial in 0..<layout.spatialCount {
                sum += value(layout.index(batch, channel, spatial))
            }
        }
        return sum
    }

    /// Per-channel maximum of `value(index)` (NaN if any value is NaN).
    @inlinable @inline(__always)
    static func channelMaximum(_ layout: Layout, _ channel: Int, _ value: (Int) -> Double) -> Double {
        var largest = 0.0
        for batch in 0..<layout.batchSize {
            for spatial in 0..<layout.spatialCount {
                let candidate = value(layout.index(batch, channel, spatial))
                if !(candidate <= largest) { largest = candidate }
            }
        }
        return largest
    }

    /// Batch statistics of `input` (two passes per channel, three with the scaling).
    @inlinable
    public static func statistics<Scalar: BinaryFloatingPoint>(
        _ input: [Scalar], shape: TensorShape, epsilon: Double
    ) -> Statistics {
        let layout = Layout(shape)
        let count = Double(shape.valuesPerChannel)
        var result = Statistics(mean: [], variance: [], unbiasedVariance: [], inverseStandardDeviation: [])
        for channel in 0..<layout.channelCount {
            // Exactly scaled by the power of two of the largest magnitude (as LAPACK's dnrm2), so
            // that values near the top of the range neither overflow the sums nor the squares: the
            // variance is then s²·(squares/M), infinite only when it exceeds the range, and invstd
            // stays finite. NaN or infinity in the data: no scaling, IEEE sums as they come.
            let largest = channelMaximum(layout, channel) { Double(input[$0]).magnitude }
            let scale = largest.isFinite && largest > 0 ? Double(sign: .plus, exponent: largest.exponent, significand: 1) : 1
            let scaledMean = channelSum(layout, channel) { Double(input[$0]) / scale } / count
            let squares = channelSum(layout, channel) { let d = Double(input[$0]) / scale - scaledMean; return d * d }
            let variance = squares / count * scale * scale
            // The mean of finite values lies within their range (a rounding of s·mean could pass the top).
            result.mean.append(largest.isFinite ? min(max(scaledMean * scale, -largest), largest) : scaledMean * scale)
            result.variance.append(variance)
            result.unbiasedVariance.append(squares / (count - 1) * scale * scale)
            // Beside an infinite variance eps is negligible: 1 / (s·sqrt(squares/M)) is finite.
            result.inverseStandardDeviation.append(
                variance.isInfinite ? 1 / (scale * (squares / count).squareRoot()) : 1 / (variance + epsilon).squareRoot())
        }
        return result
    }

    /// `output = (input - mean_c) * invstd_c * gamma_c + beta_c`, elementwise in `Double`.
    @inlinable
    public static func normalize<Scalar: BinaryFloatingPoint>(
        _ input: [Scalar], shape: TensorShape, mean: [Double], inverseStandardDeviation: [Double],
        gamma: [Scalar]?, beta: [Scalar]?, into output: inout [Scalar]
    ) {
        let layout = Layout(shape)
        precondition(output.count == input.count)
        for batch in 0..<layout.batchSize {
            for channel in 0..<layout.channelCount {
                let scale = inverseStandardDeviation[channel] * (gamma.map { Double($0[channel]) } ?? 1)
                let shift = beta.map { Double($0[channel]) } ?? 0
                for spatial in 0..<layout.spatialCount {
                    let i = layout.index(batch, channel, spatial)
                    output[i] = Scalar((Double(input[i]) - mean[channel]) * scale + shift)
                }
            }
        }
    }

    /// Training forward: statistics, then ``normalize(_:shape:mean:inverseStandardDeviation:gamma:beta:into:)``.
    @inlinable
    public static func trainingForward<Scalar: BinaryFloatingPoint>(
        _ input: [Scalar], shape: TensorShape, gamma: [Scalar]?, beta: [Scalar]?, epsilon: Double,
        into output: inout [Scalar]
    ) -> Statistics {
        let statistics = statistics(input, shape: shape, epsilon: epsilon)
        normalize(input, shape: shape, mean: statistics.mean,
                  inverseStandardDeviation: statistics.inverseStandardDeviation,
                  gamma: gamma, beta: beta, into: &output)
        return statistics
    }

    /// Inference forward with given running statistics.
    @inlinable
    public static func inferenceForward<Scalar: BinaryFloatingPoint>(
        _ input: [Scalar], shape: TensorShape, runningMean: [Scalar], runningVariance: [Scalar],
        gamma: [Scalar]?, beta: [Scalar]?, epsilon: Double, into output: inout [Scalar]
    ) {
        normalize(input, shape: shape, mean: runningMean.map(Double.init),
                  inverseStandardDeviation: runningVariance.map { 1 / (Double($0) + epsilon).squareRoot() },
                  gamma: gamma, beta: beta, into: &output)
    }

    /// Gradients of γ and β, in `Double`.
    public struct ParameterGradients: Sendable, Hashable {
        public var gamma: [Double]
        public var beta: [Double]

        @inlinable
        public init(gamma: [Double], beta: [Double]) {
            self.gamma = gamma
            self.beta = beta
        }
    }

    /// Training backward (statistics depend on the batch), two passes per channel:
    /// `dβ = Σ dy`, `dγ = Σ dy·x̂`, `dx = γ·invstd/M · (M·dy - dβ - x̂·dγ)`.
    @inlinable
    public static func trainingBackward<Scalar: BinaryFloatingPoint>(
        gradOutput: [Scalar], input: [Scalar], shape: TensorShape, mean: [Double],
        inverseStandardDeviation: [Double], gamma: [Scalar]?, into inputGradient: inout [Scalar]
    ) -> ParameterGradients {
        let layout = Layout(shape)
        precondition(inputGradient.count == input.count && gradOutput.count == input.count)
        let count = Double(shape.valuesPerChannel)
        var result = ParameterGradients(gamma: [], beta: [])
        for channel in 0..<layout.channelCount {
            let invstd = inverseStandardDeviation[channel]
            let sumGradient = channelSum(layout, channel) { Double(gradOutput[$0]) }
            let sumGradientTimesNormalized = channelSum(layout, channel) {
                Double(gradOutput[$0]) * (Double(input[$0]) - mean[channel]) * invstd
            }
            let k = (gamma.map { Double($0[channel]) } ?? 1) * invstd / count
            for batch in 0..<layout.batchSize {
                for spatial in 0..<layout.spatialCount {
                    let i = layout.index(batch, channel, spatial)
                    let normalized = (Double(input[i]) - mean[channel]) * invstd
                    inputGradient[i] = Scalar(
                        k * (count * Double(gradOutput[i]) - sumGradient - normalized * sumGradientTimesNormalized))
                }
            }
            result.gamma.append(sumGradientTimesNormalized)
            result.beta.append(sumGradient)
        }
        return result
    }

    /// Inference backward (running statistics are constants): `dx = dy·γ·invstd`, `dγ = Σ dy·x̂`,
    /// `dβ = Σ dy`.
    @inlinable
    public static func inferenceBackward<Scalar: BinaryFloatingPoint>(
        gradOutput: [Scalar], input: [Scalar], shape: TensorShape, runningMean: [Scalar],
        runningVariance: [Scalar], gamma: [Scalar]?, epsilon: Double, into inputGradient: inout [Scalar]
    ) -> ParameterGradients {
        let layout = Layout(shape)
        precondition(inputGradient.count == input.count && gradOutput.count == input.count)
        var result = ParameterGradients(gamma: [], beta: [])
        for channel in 0..<layout.channelCount {
            let mean = Double(runningMean[channel])
            let invstd = 1 / (Double(runningVariance[channel]) + epsilon).squareRoot()
            let scale = (gamma.map { Double($0[channel]) } ?? 1) * invstd
            result.beta.append(channelSum(layout, channel) { Double(gradOutput[$0]) })
            result.gamma.append(channelSum(layout, channel) { Double(gradOutput[$0]) * (Double(input[$0]) - mean) * invstd })
            for batch in 0..<layout.batchSize {
                for spatial in 0..<layout.spatialCount {
                    let i = layout.index(batch, channel, spatial)
                    inputGradient[i] = Scalar(Double(gradOutput[i]) * scale)
                }
            }
        }
        return result
    }
}
