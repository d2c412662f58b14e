internal import CKernelSupport

/// The channels-first run loops compiled for AVX2 (`CKernelSupport`'s RunLoopsTemplate.h), chosen at run
/// time like the channels-last ones (``Fused/WideLoops``).
///
/// A Swift `SIMD16<Float>` built for the x86-64 baseline is four SSE registers: on runs of cache-resident
/// tensors the Swift run loops are bound by instructions, not bytes, and two threads gained little over
/// one (docs/BENCHMARK_NOTES.md, "AVX2 run loops for channels-first tensors"). The C loops compute each
/// value (or each run's sums) with the Swift loop's operations in its order, so every result is the same
/// bits; the Swift loops stay the reference and the code on other CPUs.
///
/// Each function returns `false`, having done nothing, when the AVX2 loop does not apply (another CPU, the
/// Swift loops forced, a scalar type other than `Float`/`Double`).
extension Fused.WideLoops {
    /// ``Fused/normalizeRun(_:_:_:center:scale:shift:residual:relu:streaming:)`` over the channels-first
    /// `runs` (each `runLength` long, run `r` of channel `r % channelCount`); `input`, `output` and
    /// `residual` point at the tensor's first value, the coefficients at channel 0's.
    @inline(__always)
    static func normalizeRuns<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ output: UnsafeMutablePointer<Scalar>, runs: Range<Int>, runLength: Int,
        channelCount: Int, center: UnsafePointer<Scalar>, scale: UnsafePointer<Scalar>, shift: UnsafePointer<Scalar>,
        residual: UnsafePointer<Scalar>?, relu: Bool, streaming: Bool
    ) -> Bool {
        guard enabled else { return false }
        if Scalar.self == Float.self {
            bn_wide_normalize_runs_float(
                floats(input), floats(output), runs.lowerBound, runs.count, runLength, channelCount, floats(center),
                floats(scale), floats(shift), residual.map(floats), relu ? 1 : 0, streaming ? 1 : 0)
        } else if Scalar.self == Double.self {
            bn_wide_normalize_runs_double(
                doubles(input), doubles(output), runs.lowerBound, runs.count, runLength, channelCount, doubles(center),
                doubles(scale), doubles(shift), residual.map(doubles), relu ? 1 : 0, streaming ? 1 : 0)
        } else {
            return false
        }
        return true
    }

    /// ``Fused/gradientRun(_:_:_:_:center:gradientScale:centeredScale:bias:channel:filter:streaming:)``
    /// over the channels-first `runs` with `p`, unfiltered or with the bounded mask (``Fused/BoundedMask``)
    /// when `bound` is given; ``Fused/scaleRun(_:_:_:scale:streaming:)`` without `p`. The tensors' pointers
    /// are at their first value, the per-channel arrays at channel 0.
    @inline(__always)
    static func inputGradientRuns<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>,
        runs: Range<Int>, runLength: Int, channelCount: Int, center: UnsafePointer<Scalar>, k: UnsafePointer<Scalar>,
        p: UnsafePointer<Scalar>?, q: UnsafePointer<Scalar>, bound: UnsafePointer<Scalar>?, streaming: Bool
    ) -> Bool {
        guard enabled else { return false }
        if Scalar.self == Float.self {
            bn_wide_input_gradient_runs_float(
                floats(input), floats(gradient), floats(inputGradient), runs.lowerBound, runs.count, runLength,
                channelCount, floats(center), floats(k), p.map(floats), floats(q), bound.map(floats), streaming ? 1 : 0)
        } else if Scalar.self == Double.self {
            bn_wide_input_gradient_runs_double(
                doubles(input), doubles(gradient), doubles(inputGradient), runs.lowerBound, runs.count, runLength,
                channelCount, doubles(center), doubles(k), p.map(doubles), doubles(q), bound.map(doubles),
                streaming ? 1 : 0)
        } else {
            return false
        }
        return true
    }

    /// ``FusedPasses/runOrderMoments(_:geometry:parts:)``' runs of one part: each run's
    /// ``Fused/shiftedSums(_:_:shift:)`` about its channel's `shift`, added into `sums` and `squares`
    /// (per channel, from channel 0).
    @inline(__always)
    static func shiftedSumsRuns<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, runs: Range<Int>, runLength: Int, channelCount: Int,
        shift: UnsafePointer<Scalar>, sums: UnsafeMutablePointer<Double>, squares: UnsafeMutablePointer<Double>
    ) -> Bool {
        guard enabled else { return false }
        if Scalar.self == Float.self {
            bn_wide_shifted_sums_runs_float(
                floats(input), runs.lowerBound, runs.count, runLength, channelCount, floats(shift), sums, squares)
        } else if Scalar.self == Double.self {
            bn_wide_shifted_sums_runs_double(
                doubles(input), runs.lowerBound, runs.count, runLength, channelCount, doubles(shift), sums, squares)
        } else {
            return false
        }
        return true
    }

    /// ``Fused/reduceRuns(_:_:runs:runLength:channelCount:center:sumGradient:sumGradientTimesCentered:filter:)``
    /// with `filter`: `dy` itself, the mask from `y` (``Fused/GradientMask``'s pointers, from the tensor's
    /// first value), or the bounded mask (``Fused/BoundedMask`` of each run's channel: `bound` per channel).
    @inline(__always)
    static func gradientSumsRuns<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, runs: Range<Int>, runLength: Int,
        channelCount: Int, center: UnsafePointer<Scalar>, filter: Fused.WideFilter<Scalar>,
        sumGradient: UnsafeMutablePointer<Double>, sumProduct: UnsafeMutablePointer<Double>
    ) -> Bool {
        guard enabled, Scalar.self == Float.self || Scalar.self == Double.self else { return false }
        guard let deferred = filter.deferredMaskedGradient else {
            return gradientSumsRunsCall(
                input, gradient, runs: runs, runLength: runLength, channelCount: channelCount, center: center,
                filter: filter, sumGradient: sumGradient, sumProduct: sumProduct)
        }
        // Each run adds into its channel's sums in order: the same sums.
        withStreamedMaskedGradient(units: runs, unitLength: runLength, gradient, deferred) { chunk in
            _ = gradientSumsRunsCall(
                input, gradient, runs: chunk, runLength: runLength, channelCount: channelCount, center: center,
                filter: deferred.unstored, sumGradient: sumGradient, sumProduct: sumProduct)
        }
        return true
    }

    /// One call of the C run sums with `filter` as it is (a `maskedGradient` stored in the loop).
    @inline(__always)
    private static func gradientSumsRunsCall<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, runs: Range<Int>, runLength: Int,
        channelCount: Int, center: UnsafePointer<Scalar>, filter: Fused.WideFilter<Scalar>,
        sumGradient: UnsafeMutablePointer<Double>, sumProduct: UnsafeMutablePointer<Double>
    ) -> Bool {
        if Scalar.self == Float.self {
            bn_wide_gradient_sums_runs_float(
                floats(input), floats(gradient), runs.lowerBound, runs.count, runLength, channelCount, floats(center),
                filter.forwardOutput.map(floats), filter.maskedGradient.map(floats), filter.bound.map(floats),
                sumGradient, sumProduct)
        } else if Scalar.self == Double.self {
            bn_wide_gradient_sums_runs_double(
                doubles(input), doubles(gradient), runs.lowerBound, runs.count, runLength, channelCount,
                doubles(center), filter.forwardOutput.map(doubles), filter.maskedGradient.map(doubles),
                filter.bound.map(doubles), sumGradient, sumProduct)
        } else {
            return false
        }
        return true
    }

    /// ``gradientSumsRuns(_:_:runs:runLength:channelCount:center:filter:sumGradient:sumProduct:)`` over the
    /// `samples` runs of one `channel` (`channelCount` runs apart), in sample order: the same sums in one
    /// call (the channel walk's). `false`, having done nothing, where the C loops do not apply or the filter
    /// streams its masked gradient (the caller then takes the runs one by one).
    @inline(__always)
    static func gradientSumsChannel<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, channel: Int, samples: Int, runLength: Int,
        channelCount: Int, center: UnsafePointer<Scalar>, filter: Fused.WideFilter<Scalar>,
        sumGradient: UnsafeMutablePointer<Double>, sumProduct: UnsafeMutablePointer<Double>
    ) -> Bool {
        guard enabled, filter.deferredMaskedGradient == nil else { return false }
        if Scalar.self == Float.self {
            bn_wide_gradient_sums_channel_float(
                floats(input), floats(gradient), channel, samples, runLength, channelCount, floats(center),
                filter.forwardOutput.map(floats), filter.maskedGradient.map(floats), filter.bound.map(floats),
                sumGradient, sumProduct)
        } else if Scalar.self == Double.self {
            bn_wide_gradient_sums_channel_double(
                doubles(input), doubles(gradient), channel, samples, runLength, channelCount, doubles(center),
                filter.forwardOutput.map(doubles), filter.maskedGradient.map(doubles), filter.bound.map(doubles),
                sumGradient, sumProduct)
        } else {
            return false
        }
        return true
    }

    /// ``inputGradientRuns(_:_:_:runs:runLength:channelCount:center:k:p:q:bound:streaming:)`` (with `p`) over
    /// the `samples` runs of one `channel`; with `forwardOutput`, each run's `dz` (`dy` zeroed where `y <= 0`)
    /// first goes to `scratch` (one run long) and the run's `dx` reads it for `dy` (`bound` is then nil).
    @inline(__always)
    static func inputGradientChannel<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>,
        forwardOutput: UnsafePointer<Scalar>?, scratch: UnsafeMutablePointer<Scalar>?, channel: Int, samples: Int,
        runLength: Int, channelCount: Int, center: UnsafePointer<Scalar>, k: UnsafePointer<Scalar>,
        p: UnsafePointer<Scalar>, q: UnsafePointer<Scalar>, bound: UnsafePointer<Scalar>?, streaming: Bool
    ) -> Bool {
        guard enabled else { return false }
        assert(forwardOutput == nil || (scratch != nil && bound == nil))
        if Scalar.self == Float.self {
            bn_wide_input_gradient_channel_float(
                floats(input), floats(gradient), forwardOutput.map(floats), scratch.map(floats), floats(inputGradient),
                channel, samples, runLength, channelCount, floats(center), floats(k), floats(p), floats(q),
                bound.map(floats), streaming ? 1 : 0)
        } else if Scalar.self == Double.self {
            bn_wide_input_gradient_channel_double(
                doubles(input), doubles(gradient), forwardOutput.map(doubles), scratch.map(doubles),
                doubles(inputGradient), channel, samples, runLength, channelCount, doubles(center), doubles(k),
                doubles(p), doubles(q), bound.map(doubles), streaming ? 1 : 0)
        } else {
            return false
        }
        return true
    }

    /// ``shiftedSumsRuns(_:runs:runLength:channelCount:shift:sums:squares:)`` over the `samples` runs of one
    /// `channel` (`channelCount` runs apart) about `shift.pointee`, added into `sum` and `squares` in sample
    /// order: the same sums in one call (the channel walk's).
    @inline(__always)
    static func shiftedSumsChannel<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, channel: Int, samples: Int, runLength: Int, channelCount: Int,
        shift: UnsafePointer<Scalar>, sum: UnsafeMutablePointer<Double>, squares: UnsafeMutablePointer<Double>
    ) -> Bool {
        guard enabled else { return false }
        if Scalar.self == Float.self {
            bn_wide_shifted_sums_channel_float(
                floats(input), channel, samples, runLength, channelCount, floats(shift), sum, squares)
        } else if Scalar.self == Double.self {
            bn_wide_shifted_sums_channel_double(
                doubles(input), channel, samples, runLength, channelCount, doubles(shift), sum, squares)
        } else {
            return false
        }
        return true
    }

    /// ``normalizeRuns(_:_:runs:runLength:channelCount:center:scale:shift:residual:relu:streaming:)`` over the
    /// `samples` runs of one `channel`, with that channel's `center`, `scale` and `shift`.
    @inline(__always)
    static func normalizeChannel<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ output: UnsafeMutablePointer<Scalar>, channel: Int, samples: Int,
        runLength: Int, channelCount: Int, center: UnsafePointer<Scalar>, scale: UnsafePointer<Scalar>,
        shift: UnsafePointer<Scalar>, residual: UnsafePointer<Scalar>?, relu: Bool, streaming: Bool
    ) -> Bool {
        guard enabled else { return false }
        if Scalar.self == Float.self {
            bn_wide_normalize_channel_float(
                floats(input), floats(output), channel, samples, runLength, channelCount, floats(center),
                floats(scale), floats(shift), residual.map(floats), relu ? 1 : 0, streaming ? 1 : 0)
        } else if Scalar.self == Double.self {
            bn_wide_normalize_channel_double(
                doubles(input), doubles(output), channel, samples, runLength, channelCount, doubles(center),
                doubles(scale), doubles(shift), residual.map(doubles), relu ? 1 : 0, streaming ? 1 : 0)
        } else {
            return false
        }
        return true
    }
}
