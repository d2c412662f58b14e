public import BatchNormKit

/// The naive batch norm: plain nested loops, no BLAS, no SIMD, two passes (mean, then the sum of
/// squared deviations). It indexes the tensor from the layout directly, independently of the kernels'
/// geometry, and serves as the parity oracle in tests (run on `Double` data it is the float64
/// reference) and as the baseline in benchmarks.
///
/// It must be more accurate than the kernels it checks, in `Double` too: every sum is a
/// ``CompensatedSum``, and the mean is kept in two words (``Statistics/mean`` plus
/// ``Statistics/meanResidual``, together the exact mean to about `u²`), which every centred value
/// `(x - mean) - meanResidual` subtracts. A `Double` channel at mean 1e9 with spread 1 then gets
/// outputs good to a few ulps, where a one-word mean would be off by up to `ulp(1e9)/2 ≈ 6e-8`.
///
/// Outputs go into caller-owned arrays of the right size (benchmarks reuse them); per-channel results
/// are returned in `Double`.
public enum NaiveBatchNorm {
    /// The statistics of one training forward pass, in `Double`.
    public struct Statistics: Sendable, Hashable {
        /// The mean's leading word per channel.
        public var mean: [Double]
        /// The rest of the mean (`mean + meanResidual` is the exact mean to about `u²`).
        public var meanResidual: [Double]
        /// Biased variance `Σ(x - mean)² / M`.
        public var variance: [Double]
        /// Unbiased variance `Σ(x - mean)² / (M - 1)` (`NaN` for `M == 1`).
        public var unbiasedVariance: [Double]
        public var inverseStandardDeviation: [Double]

        @inlinable
        public init(
            mean: [Double], meanResidual: [Double]? = nil, variance: [Double], unbiasedVariance: [Double],
            inverseStandardDeviation: [Double]
        ) {
            self.mean = mean
            self.meanResidual = meanResidual ?? [Double](repeating: 0, count: mean.count)
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

    /// Per-channel compensated sum of `value(index)` over the batch and every spatial position.
    @inlinable @inline(__always)
    static func channelSum(_ layout: Layout, _ channel: Int, _ value: (Int) -> Double) -> CompensatedSum {
        var sum = CompensatedSum()
        for batch in 0..<layout.batchSize {
            for spatial in 0..<layout.spatialCount {
                sum.add(value(layout.index(batch, channel, spatial)))
            }
        }
        return sum
    }

    /// `(x - mean) - meanResidual`: a value centred on a two-word mean.
    @inlinable @inline(__always)
    static func centred(_ value: Double, _ mean: Double, _ meanResidual: Double) -> Double {
        (value - mean) - meanResidual
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
            let (scaledMean, scaledResidual) = channelSum(layout, channel) { Double(input[$0]) / scale }
                .dividedInTwoWords(by: count)
            let squares = channelSum(layout, channel) {
                let d = centred(Double(input[$0]) / scale, scaledMean, scaledResidual)
                return d * d
            }.value
            let variance = squares / count * scale * scale
            // The mean of finite values lies within their range (a rounding of s·mean could pass the top).
            let mean = largest.isFinite ? min(max(scaledMean * scale, -largest), largest) : scaledMean * scale
            result.mean.append(mean)
            result.meanResidual.append(mean == scaledMean * scale && mean.isFinite ? scaledResidual * scale : 0)
            result.variance.append(variance)
            result.unbiasedVariance.append(squares / (count - 1) * scale * scale)
            // Beside an infinite variance eps is negligible: 1 / (s·sqrt(squares/M)) is finite.
            result.inverseStandardDeviation.append(
                variance.isInfinite ? 1 / (scale * (squares / count).squareRoot()) : 1 / (variance + epsilon).squareRoot())
        }
        return result
    }

    /// `output = (input - mean_c) * invstd_c * gamma_c + beta_c`, elementwise in `Double`, the mean
    /// taken as `mean + meanResidual` when a residual is given.
    @inlinable
    public static func normalize<Scalar: BinaryFloatingPoint>(
        _ input: [Scalar], shape: TensorShape, mean: [Double], meanResidual: [Double]? = nil,
        inverseStandardDeviation: [Double], gamma: [Scalar]?, beta: [Scalar]?, into output: inout [Scalar]
    ) {
        let layout = Layout(shape)
        precondition(output.count == input.count)
        let meanResidual = meanResidual ?? [Double](repeating: 0, count: layout.channelCount)
        for batch in 0..<layout.batchSize {
            for channel in 0..<layout.channelCount {
                let scale = inverseStandardDeviation[channel] * (gamma.map { Double($0[channel]) } ?? 1)
                let shift = beta.map { Double($0[channel]) } ?? 0
                for spatial in 0..<layout.spatialCount {
                    let i = layout.index(batch, channel, spatial)
                    output[i] = Scalar(centred(Double(input[i]), mean[channel], meanResidual[channel]) * scale + shift)
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
        normalize(input, shape: shape, mean: statistics.mean, meanResidual: statistics.meanResidual,
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
    /// `dβ = Σ dy`, `dγ = Σ dy·x̂`, `dx = γ·invstd/M · (M·dy - dβ - x̂·dγ)`, with `x̂` centred on
    /// `mean + meanResidual` when a residual is given.
    @inlinable
    public static func trainingBackward<Scalar: BinaryFloatingPoint>(
        gradOutput: [Scalar], input: [Scalar], shape: TensorShape, mean: [Double], meanResidual: [Double]? = nil,
        inverseStandardDeviation: [Double], gamma: [Scalar]?, into inputGradient: inout [Scalar]
    ) -> ParameterGradients {
        let layout = Layout(shape)
        precondition(inputGradient.count == input.count && gradOutput.count == input.count)
        let count = Double(shape.valuesPerChannel)
        let meanResidual = meanResidual ?? [Double](repeating: 0, count: layout.channelCount)
        var result = ParameterGradients(gamma: [], beta: [])
        for channel in 0..<layout.channelCount {
            let invstd = inverseStandardDeviation[channel]
            let (mean, residual) = (mean[channel], meanResidual[channel])
            let sumGradient = channelSum(layout, channel) { Double(gradOutput[$0]) }.value
            let sumGradientTimesNormalized = channelSum(layout, channel) {
                Double(gradOutput[$0]) * centred(Double(input[$0]), mean, residual) * invstd
            }.value
            let k = (gamma.map { Double($0[channel]) } ?? 1) * invstd / count
            for batch in 0..<layout.batchSize {
                for spatial in 0..<layout.spatialCount {
                    let i = layout.index(batch, channel, spatial)
                    let normalized = centred(Double(input[i]), mean, residual) * invstd
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
            result.beta.append(channelSum(layout, channel) { Double(gradOutput[$0]) }.value)
            result.gamma.append(channelSum(layout, channel) { Double(gradOutput[$0]) * (Double(input[$0]) - mean) * invstd }.value)
            for batch in 0..<layout.batchSize {
                for spatial in 0..<layout.spatialCount {
                    let i = layout.index(batch, channel, spatial)
                    inputGradient[i] = Scalar(Double(gradOutput[i]) * scale)
                }
            }
        }
        return result
    }

    /// ``trainingBackward(gradOutput:input:shape:mean:meanResidual:inverseStandardDeviation:gamma:into:)``
    /// with the two-word mean and inverse standard deviation of a reference forward pass.
    @inlinable
    public static func trainingBackward<Scalar: BinaryFloatingPoint>(
        gradOutput: [Scalar], input: [Scalar], shape: TensorShape, statistics: Statistics, gamma: [Scalar]?,
        into inputGradient: inout [Scalar]
    ) -> ParameterGradients {
        trainingBackward(
            gradOutput: gradOutput, input: input, shape: shape, mean: statistics.mean,
            meanResidual: statistics.meanResidual, inverseStandardDeviation: statistics.inverseStandardDeviation,
            gamma: gamma, into: &inputGradient)
    }
}
