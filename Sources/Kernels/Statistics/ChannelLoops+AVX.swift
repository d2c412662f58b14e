internal import CKernelSupport

/// The divider-bound per-channel steps in their AVX builds (`CKernelSupport`'s ChannelMath.c), chosen at
/// run time where the AVX2 loops run (``Fused/WideLoops``, so the Swift-loop test seam turns them off
/// too).
///
/// The package builds for the x86-64 baseline, where a `SIMD4<Double>` division or square root is two
/// SSE2 instructions of two lanes; AVX divides four lanes in the time of two (0.31 against 0.61 ns per
/// division on the Zen 4 we measure on; docs/BENCHMARK_NOTES.md, "Other shapes against oneDNN, and three
/// attempts", its AVX entries). The C loops do the same correctly rounded operations in the same order as the
/// Swift steps they stand in for, so the results are the same bits.
///
/// As in ``Fused/WideLoops``, a function that may not apply reports whether it ran, having done nothing
/// when it did not (another CPU, the Swift loops forced, a scalar type other than `Float` or `Double`).
extension ChannelLoops {
    /// `quotient[i] = dividend[i] / divisor` for `i < count` (`quotient` may be `dividend`), in AVX
    /// where it runs, else four lanes of `SIMD4<Double>`.
    @inline(__always)
    static func divide(
        _ dividend: UnsafePointer<Double>, by divisor: Double, into quotient: UnsafeMutablePointer<Double>, count: Int
    ) {
        if Fused.WideLoops.enabled { return bn_quotients_avx(dividend, divisor, quotient, count) }
        let divisorVector = SIMD4<Double>(repeating: divisor)
        var index = 0
        while index + 4 <= count {
            store4(load4(dividend + index) / divisorVector, quotient + index)
            index += 4
        }
        while index < count {
            quotient[index] = dividend[index] / divisor
            index += 1
        }
    }

    /// `result[i] = 1 / sqrt(variance[i] + epsilon)` for `i < count` (`result` may be `variance`), in
    /// AVX where it runs, else in the SSE2 build.
    @inline(__always)
    static func inverseSquareRoots(
        _ variance: UnsafePointer<Double>, epsilon: Double, into result: UnsafeMutablePointer<Double>, count: Int
    ) {
        if Fused.WideLoops.enabled { return bn_inverse_square_roots_avx(variance, epsilon, result, count) }
        bn_inverse_square_roots(variance, epsilon, result, count)
    }

    /// The inference forward's `scale = γ·invstd` and `foldedShift = β - 0·scale` from given (running)
    /// variances in one C loop (``coefficientArrays(channelCount:_:)``): the same bits as
    /// ``BatchNormKernels/inverseStandardDeviation(variance:epsilon:)``,
    /// ``BatchNormKernels/foldedScale(inverseStandardDeviation:gamma:)`` and the fused normalize's fold of a
    /// center without a low word, which built four arrays between five passes. `nil` when the AVX build does
    /// not run.
    static func inferenceCoefficients<Scalar: BatchNormScalar>(
        variance: [Scalar], gamma: [Scalar]?, beta: [Scalar]?, epsilon: Double
    ) -> (scale: [Scalar], foldedShift: [Scalar])? {
        let channelCount = variance.count
        guard inferenceCoefficientsRun(Scalar.self, channelCount: channelCount) else { return nil }
        return coefficientArrays(channelCount: channelCount) { scale, foldedShift in
            _ = inferenceCoefficients(
                variance: variance, gamma: gamma, beta: beta, epsilon: epsilon, scale: scale, foldedShift: foldedShift)
        }
    }

    /// Whether ``inferenceCoefficients(variance:gamma:beta:epsilon:scale:foldedShift:)`` runs for
    /// `channelCount` channels of `Scalar`.
    static func inferenceCoefficientsRun<Scalar: BatchNormScalar>(_: Scalar.Type, channelCount: Int) -> Bool {
        Fused.WideLoops.enabled && (Scalar.self == Float.self || Scalar.self == Double.self) && channelCount > 0
    }

    /// ``inferenceCoefficients(variance:gamma:beta:epsilon:)`` into `variance.count` values at `scale` and
    /// at `foldedShift` (scratch memory, ``ScratchMemory``); `false`, having written nothing, where the AVX
    /// build does not run (``inferenceCoefficientsRun(_:channelCount:)``).
    static func inferenceCoefficients<Scalar: BatchNormScalar>(
        variance: [Scalar], gamma: [Scalar]?, beta: [Scalar]?, epsilon: Double,
        scale: UnsafeMutablePointer<Scalar>, foldedShift: UnsafeMutablePointer<Scalar>
    ) -> Bool {
        typealias Wide = Fused.WideLoops
        let channelCount = variance.count
        guard inferenceCoefficientsRun(Scalar.self, channelCount: channelCount) else { return false }
        precondition(gamma.map { $0.count == channelCount } ?? true && beta.map { $0.count == channelCount } ?? true)
        return variance.withUnsafeBufferPointer { variance in
        withOptionalBase(gamma) { gamma in
        withOptionalBase(beta) { beta in
            fillCoefficients(channelCount: channelCount, scale: scale, foldedShift: foldedShift) { channels, scale, foldedShift in
                guard let variance = variance.baseAddress else { return }
                let first = channels.lowerBound
                if Scalar.self == Float.self {
                    bn_inference_coefficients_avx_float(
                        Wide.floats(variance + first), gamma.map { Wide.floats($0 + first) },
                        beta.map { Wide.floats($0 + first) }, epsilon, Wide.floats(scale + first),
                        Wide.floats(foldedShift + first), channels.count)
                } else {
                    bn_inference_coefficients_avx_double(
                        Wide.doubles(variance + first), gamma.map { Wide.doubles($0 + first) },
                        beta.map { Wide.doubles($0 + first) }, epsilon, Wide.doubles(scale + first),
                        Wide.doubles(foldedShift + first), channels.count)
                }
            }
            return true
        }}}
    }

    /// The training forward's `scale = γ·invstd` and `foldedShift = β - low·scale` (`FusedPasses.trainingCoefficients`)
    /// in one C loop (``coefficientArrays(channelCount:_:)``): the same bits as its two passes. `nil` when the
    /// AVX build does not run.
    static func trainingCoefficients<Scalar: BatchNormScalar>(
        inverseStandardDeviation: [Scalar], low: [Scalar]?, gamma: [Scalar]?, beta: [Scalar]?
    ) -> (scale: [Scalar], foldedShift: [Scalar])? {
        typealias Wide = Fused.WideLoops
        let channelCount = inverseStandardDeviation.count
        guard Wide.enabled, Scalar.self == Float.self || Scalar.self == Double.self, channelCount > 0 else { return nil }
        precondition([low, gamma, beta].allSatisfy { $0.map { $0.count == channelCount } ?? true })
        return inverseStandardDeviation.withUnsafeBufferPointer { inverseStandardDeviation in
        withOptionalBase(low) { low in
        withOptionalBase(gamma) { gamma in
        withOptionalBase(beta) { beta in
            coefficientArrays(channelCount: channelCount) { scale, foldedShift in
            fillCoefficients(channelCount: channelCount, scale: scale, foldedShift: foldedShift) { channels, scale, foldedShift in
                guard let inverseStandardDeviation = inverseStandardDeviation.baseAddress else { return }
                let first = channels.lowerBound
                if Scalar.self == Float.self {
                    bn_training_coefficients_avx_float(
                        Wide.floats(inverseStandardDeviation + first), low.map { Wide.floats($0 + first) },
                        gamma.map { Wide.floats($0 + first) }, beta.map { Wide.floats($0 + first) },
                        Wide.floats(scale + first), Wide.floats(foldedShift + first), channels.count)
                } else {
                    bn_training_coefficients_avx_double(
                        Wide.doubles(inverseStandardDeviation + first), low.map { Wide.doubles($0 + first) },
                        gamma.map { Wide.doubles($0 + first) }, beta.map { Wide.doubles($0 + first) },
                        Wide.doubles(scale + first), Wide.doubles(foldedShift + first), channels.count)
                }
            }
            }
        }}}}
    }

    /// Two coefficient arrays of `channelCount` values, `scale` and `foldedShift`, written by `fill`.
    private static func coefficientArrays<Scalar: BatchNormScalar>(
        channelCount: Int,
        _ fill: (_ scale: UnsafeMutablePointer<Scalar>, _ foldedShift: UnsafeMutablePointer<Scalar>) -> Void
    ) -> (scale: [Scalar], foldedShift: [Scalar]) {
        var foldedShift = [Scalar]()
        let scale: [Scalar] = array(count: channelCount) { scale in
            foldedShift = array(count: channelCount) { foldedShift in fill(scale, foldedShift) }
        }
        return (scale, foldedShift)
    }

    /// Fills `channelCount` values of `scale` and of `foldedShift` by `fill` over slices of the channels:
    /// one slice, or one a thread from ``minimumChannelsPerPart``·2 channels (as the training statistics
    /// split).
    private static func fillCoefficients<Scalar: BatchNormScalar>(
        channelCount: Int, scale: UnsafeMutablePointer<Scalar>, foldedShift: UnsafeMutablePointer<Scalar>,
        _ fill: (_ channels: Range<Int>, _ scale: UnsafeMutablePointer<Scalar>, _ foldedShift: UnsafeMutablePointer<Scalar>) -> Void
    ) {
        let shared = UncheckedSendableBox((scale, foldedShift))
        forEachChannelSlice(channelCount) { channels in fill(channels, shared.value.0, shared.value.1) }
    }

    /// Runs `body` over slices of `channelCount` channels: one slice, or one a thread from
    /// ``minimumChannelsPerPart``·2 channels (as the training statistics split). For per-channel steps whose
    /// slices write disjoint ranges.
    static func forEachChannelSlice(_ channelCount: Int, _ body: (_ channels: Range<Int>) -> Void) {
        let parts = channelParts(channelCount)
        guard parts > 1 else { return body(0..<channelCount) }
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendableBox(body)
            Fused.forEachPart(parts) { part in shared.value(Fused.slice(channelCount, part: part, of: parts)) }
        }
    }

    /// `body` of each slice ``forEachChannelSlice(_:_:)`` would take, its results in slice order: for per-channel
    /// steps that also report something of their slice (a count, a list of channels).
    static func mapChannelSlices<Result>(_ channelCount: Int, _ body: (_ channels: Range<Int>) -> Result) -> [Result] {
        let parts = channelParts(channelCount)
        guard parts > 1 else { return [body(0..<channelCount)] }
        var results = [Result?](repeating: nil, count: parts)
        results.withUnsafeMutableBufferPointer { results in
            guard let slots = results.baseAddress else { return }
            withoutActuallyEscaping(body) { body in
                let shared = UncheckedSendableBox((body, slots))
                Fused.forEachPart(parts) { part in
                    let (body, slots) = shared.value
                    slots[part] = body(Fused.slice(channelCount, part: part, of: parts))
                }
            }
        }
        return results.map { $0! }
    }

    /// The slices ``forEachChannelSlice(_:_:)`` takes for `channelCount` channels: one, or one a thread from
    /// ``minimumChannelsPerPart``·2 channels.
    static func channelParts(_ channelCount: Int) -> Int {
        channelCount >= minimumChannelsPerPart * 2 ? min(Fused.threadLimit, channelCount / minimumChannelsPerPart) : 1
    }

    /// `body` with the base address of `values`, or nil when `values` is nil (an empty array's buffer may
    /// have a base address, so absence is not read from it).
    private static func withOptionalBase<Scalar, Result>(
        _ values: [Scalar]?, _ body: (UnsafePointer<Scalar>?) -> Result
    ) -> Result {
        guard let values else { return body(nil) }
        return values.withUnsafeBufferPointer { body($0.baseAddress) }
    }

    /// `BatchNormKernels.trainingChannelStep` of `channelCount` channels, the four outputs initialized;
    /// `false` when the AVX build does not run.
    @inline(__always)
    static func trainingChannelStepsAVX<Scalar: BatchNormScalar>(
        sumGradient: UnsafePointer<Scalar>, sumProduct: UnsafePointer<Scalar>,
        inverseStandardDeviation: UnsafePointer<Scalar>, gamma: UnsafePointer<Scalar>, count: Double,
        gradGamma: UnsafeMutablePointer<Scalar>, gradientScale: UnsafeMutablePointer<Scalar>,
        centeredScale: UnsafeMutablePointer<Scalar>, bias: UnsafeMutablePointer<Scalar>, channelCount: Int
    ) -> Bool {
        typealias Wide = Fused.WideLoops
        guard Wide.enabled else { return false }
        if Scalar.self == Float.self {
            bn_training_channel_steps_avx_float(
                Wide.floats(sumGradient), Wide.floats(sumProduct), Wide.floats(inverseStandardDeviation),
                Wide.floats(gamma), count, Wide.floats(gradGamma), Wide.floats(gradientScale),
                Wide.floats(centeredScale), Wide.floats(bias), channelCount)
        } else if Scalar.self == Double.self {
            bn_training_channel_steps_avx_double(
                Wide.doubles(sumGradient), Wide.doubles(sumProduct), Wide.doubles(inverseStandardDeviation),
                Wide.doubles(gamma), count, Wide.doubles(gradGamma), Wide.doubles(gradientScale),
                Wide.doubles(centeredScale), Wide.doubles(bias), channelCount)
        } else {
            return false
        }
        return true
    }

    /// The vector loop of ``finishChannels(_:count:shift:sums:squares:epsilon:into:)`` over `channels` (a
    /// multiple of 4 of them), `invstd` included (`words.variance` untouched): whether every channel was
    /// ordinary, or `nil` when the AVX build does not run.
    @inline(__always)
    static func finishVectorChannelsAVX<Scalar: BatchNormScalar>(
        _ channels: Range<Int>, count: Double, shift: UnsafePointer<Scalar>, sums: UnsafePointer<Double>,
        squares: UnsafePointer<Double>, epsilon: Double, into words: ChannelWords<Scalar>
    ) -> Bool? {
        typealias Wide = Fused.WideLoops
        guard Wide.enabled else { return nil }
        let first = channels.lowerBound
        if Scalar.self == Float.self {
            return bn_finish_channels_avx_float(
                Wide.floats(shift + first), sums + first, squares + first, count, Fused.maximumAmplification, epsilon,
                Wide.floats(words.mean + first), Wide.floats(words.meanLow + first),
                Wide.floats(words.sumOfSquaredDeviations + first), Wide.floats(words.inverseStandardDeviation + first),
                channels.count) == 0
        }
        if Scalar.self == Double.self {
            return bn_finish_channels_avx_double(
                Wide.doubles(shift + first), sums + first, squares + first, count, Fused.maximumAmplification,
                epsilon, Wide.doubles(words.mean + first), Wide.doubles(words.meanLow + first),
                Wide.doubles(words.sumOfSquaredDeviations + first),
                Wide.doubles(words.inverseStandardDeviation + first), channels.count) == 0
        }
        return nil
    }
}

extension ChannelMoments {
    /// The running statistics' update with these batch moments in one C loop:
    /// `running = (1 - factor)·running + factor·batch` in `Double`, rounded once, the variance taking
    /// `M2 / (count - 1)` in `Scalar` (``unbiasedVariance``). The same operations as BatchNormKit's Swift
    /// loops, so the same bits, without the unbiased variances' array. `false` (nothing written) when the AVX
    /// build does not run or the moments carry scaled channels (``deviationScale``).
    package func updateRunningStatisticsAVX(runningMean: inout [Scalar], runningVariance: inout [Scalar], factor: Double) -> Bool {
        typealias Wide = Fused.WideLoops
        guard Wide.enabled, deviationScale == nil, channelCount > 0,
              runningMean.count == channelCount, runningVariance.count == channelCount,
              Scalar.self == Float.self || Scalar.self == Double.self else { return false }
        runningMean.withUnsafeMutableBufferPointer { runningMean in
        runningVariance.withUnsafeMutableBufferPointer { runningVariance in
        mean.withUnsafeBufferPointer { mean in
        sumOfSquaredDeviations.withUnsafeBufferPointer { sumOfSquaredDeviations in
            guard let runningMean = runningMean.baseAddress, let runningVariance = runningVariance.baseAddress,
                  let mean = mean.baseAddress, let sumOfSquaredDeviations = sumOfSquaredDeviations.baseAddress
            else { return }
            // Over the threads for many channels, each channel its own (the same bits).
            let shared = UncheckedSendableBox((runningMean, runningVariance, mean, sumOfSquaredDeviations))
            let count = count
            ChannelLoops.forEachChannelSlice(channelCount) { channels in
                let (runningMean, runningVariance, mean, sumOfSquaredDeviations) = shared.value
                let first = channels.lowerBound
                if Scalar.self == Float.self {
                    bn_update_running_statistics_avx_float(
                        Wide.floats(runningMean + first), Wide.floats(runningVariance + first), Wide.floats(mean + first),
                        Wide.floats(sumOfSquaredDeviations + first), Float(count - 1), factor, channels.count)
                } else {
                    bn_update_running_statistics_avx_double(
                        Wide.doubles(runningMean + first), Wide.doubles(runningVariance + first),
                        Wide.doubles(mean + first), Wide.doubles(sumOfSquaredDeviations + first), Double(count - 1),
                        factor, channels.count)
                }
            }
        }}}}
        return true
    }
}
