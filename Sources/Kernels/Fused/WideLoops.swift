internal import CKernelSupport

/// The channels-last loops compiled for AVX2 (`CKernelSupport`'s WideLoops.c), chosen at run time.
///
/// The package builds for the x86-64 baseline (library targets take no `-target-cpu`), so a Swift
/// `SIMD16<Float>` is four SSE registers, and the interleaved loops, which load a coefficient or
/// accumulator vector beside every data vector, are bound by load instructions on cache-resident
/// tensors (docs/BENCHMARK_NOTES.md, issue 12). The C loops do the same IEEE operations on the same
/// 16-lane vectors in the same order, without FMA, so every result is bit-identical to the Swift loop's;
/// the Swift loops stay the reference, the code on other CPUs, and what tests compare against
/// (``FusedTuning/withSwiftLoops(_:_:)``).
///
/// On CPUs with AVX-512 the row reductions (moments and backward sums) of rows of 16 to 128 `Float`
/// values (64 `Double`), a whole number of 16-lane vectors, keep every accumulator in one of its 32
/// registers for a whole call instead of loading and storing two beside every data vector; same
/// additions in the same order, so the same bits (`WideLoopsTemplate.h`, "Register rows"). The
/// elementwise steps of such rows (up to 128 `Float` values for the normalize, 64 for the dx step) keep
/// a row's coefficient vectors in registers likewise ("Register coefficients"). Rows too wide
/// for their per-channel arrays to stay in L1 beside them (2,048 `Float` channels in most loops) are
/// walked four rows at a time, each coefficient or accumulator vector loaded once for the four; again the
/// same operations per value and the same row order per channel (`WideLoopsTemplate.h`, "Row blocks").
/// Streamed elementwise steps take row blocks only on CPUs with AVX-512: elsewhere a block's store and the
/// next row's load, 4 KiB apart, made the 2,048-channel dx step 2.4-4x slower (`WideLoopsTemplate.h`'s
/// `streams_blocks`).
///
/// Each function returns `false`, having done nothing, when the AVX2 loop does not apply (another CPU,
/// the Swift loops forced, a scalar type other than `Float`/`Double`, or a filter it does not have).
extension Fused {
    enum WideLoops {
        /// Whether this CPU runs AVX2 (checked once).
        static let supported = bn_wide_loops_available() != 0

        /// Whether this CPU also runs AVX-512 (checked once; the C loops' register rows use it).
        static let avx512Supported = supported && bn_wide_avx512_available() != 0

        @inline(__always)
        static var enabled: Bool { supported && FusedTuning.swiftLoopsOverride != true }

        /// ``Fused/interleavedShiftedSums(_:rows:channelCount:shift:sums:squares:choices:)``'s rows, added
        /// into working-precision accumulators. `choices`: what prefetches its data ahead.
        @inline(__always)
        static func shiftedSumsRows<Scalar: BatchNormScalar>(
            _ values: UnsafePointer<Scalar>, rows: Int, channelCount: Int, shift: UnsafePointer<Scalar>,
            sums: UnsafeMutablePointer<Scalar>, squares: UnsafeMutablePointer<Scalar>, choices: RowLoopChoices
        ) -> Bool {
            guard enabled else { return false }
            if Scalar.self == Float.self {
                bn_wide_shifted_sums_rows_float(
                    floats(values), rows, channelCount, floats(shift), floats(sums), floats(squares), choices.rawValue)
            } else if Scalar.self == Double.self {
                bn_wide_shifted_sums_rows_double(
                    doubles(values), rows, channelCount, doubles(shift), doubles(sums), doubles(squares),
                    choices.rawValue)
            } else {
                return false
            }
            return true
        }

        /// ``FusedPasses/addHeadRows(_:rows:rowLength:count:into:squares:centers:)``: `sums[j] +=
        /// Double(values[row · rowLength + j])` for `j < count`, the rows in order, and with `squares` the
        /// values' squares likewise, each value less `centers[j]` first where `centers` are given.
        @inline(__always)
        static func addHeadRows<Scalar: BatchNormScalar>(
            _ values: UnsafePointer<Scalar>, rows: Int, rowLength: Int, count: Int, into sums: UnsafeMutablePointer<Double>,
            squares: UnsafeMutablePointer<Double>?, centers: UnsafePointer<Double>?
        ) -> Bool {
            guard enabled else { return false }
            if Scalar.self == Float.self {
                bn_wide_add_head_rows_float(floats(values), rows, rowLength, count, sums, squares, centers)
            } else if Scalar.self == Double.self {
                bn_wide_add_head_rows_double(doubles(values), rows, rowLength, count, sums, squares, centers)
            } else {
                return false
            }
            return true
        }

        /// ``Fused/accumulateRows(_:channelCount:alignedWith:into:_:_:)``'s flush: `first[c] +=
        /// Double(firstAccumulator[c])` and likewise `second`, for `c < count`.
        @inline(__always)
        static func flushAccumulators<Scalar: BatchNormScalar>(
            _ firstAccumulator: UnsafeMutablePointer<Scalar>, _ secondAccumulator: UnsafeMutablePointer<Scalar>,
            into first: UnsafeMutablePointer<Double>, _ second: UnsafeMutablePointer<Double>, count: Int
        ) -> Bool {
            guard enabled else { return false }
            if Scalar.self == Float.self {
                bn_wide_flush_accumulators_float(
                    floats(firstAccumulator), floats(secondAccumulator), first, second, count)
            } else if Scalar.self == Double.self {
                bn_wide_flush_accumulators_double(
                    doubles(firstAccumulator), doubles(secondAccumulator), first, second, count)
            } else {
                return false
            }
            return true
        }

        /// ``Fused/normalizeInterleaved(_:_:count:channelCount:firstChannel:center:scale:shift:residual:relu:streaming:)``,
        /// `head`: the streaming alignment (used only when `streaming`; otherwise the C loop aligns the data itself).
        @inline(__always)
        static func normalizeInterleaved<Scalar: BatchNormScalar>(
            _ input: UnsafePointer<Scalar>, _ output: UnsafeMutablePointer<Scalar>, count: Int, head: Int,
            channelCount: Int, firstChannel: Int, center: UnsafePointer<Scalar>, scale: UnsafePointer<Scalar>,
            shift: UnsafePointer<Scalar>, residual: UnsafePointer<Scalar>?, relu: Bool, streaming: Bool
        ) -> Bool {
            guard enabled else { return false }
            if Scalar.self == Float.self {
                bn_wide_normalize_interleaved_float(
                    floats(input), floats(output), count, head, channelCount, firstChannel, floats(center),
                    floats(scale), floats(shift), residual.map(floats), relu ? 1 : 0, streaming ? 1 : 0)
            } else if Scalar.self == Double.self {
                bn_wide_normalize_interleaved_double(
                    doubles(input), doubles(output), count, head, channelCount, firstChannel, doubles(center),
                    doubles(scale), doubles(shift), residual.map(doubles), relu ? 1 : 0, streaming ? 1 : 0)
            } else {
                return false
            }
            return true
        }

        /// Whether ``normalizeInterleaved(_:_:count:head:channelCount:firstChannel:center:scale:shift:residual:relu:streaming:)``
        /// walks whole rows of `channelCount` values in channel tiles when it does not stream (`false` where
        /// the AVX2 loops do not run: the Swift loops have no tiles).
        static func normalizeTakesTiles<Scalar>(
            channelCount: Int, residual: Bool, _: Scalar.Type
        ) -> Bool {
            guard enabled else { return false }
            if Scalar.self == Float.self {
                return bn_wide_normalize_tiles_float(channelCount, residual ? 1 : 0) != 0
            } else if Scalar.self == Double.self {
                return bn_wide_normalize_tiles_double(channelCount, residual ? 1 : 0) != 0
            }
            return false
        }

        /// ``Fused/reduceRows(_:_:rows:channelCount:center:sumGradient:sumGradientTimesCentered:filter:choices:)``'s
        /// rows, added into working-precision accumulators; `input` and `gradient` start at the filter's
        /// index `firstIndex`. `choices`: what prefetches its data ahead (rows walked one by one, not the
        /// row blocks), and whether rows wider than the register rows take register tiles.
        @inline(__always)
        static func gradientSumsRows<Scalar: BatchNormScalar, Filter: GradientFilter<Scalar>>(
            _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, rows: Int, channelCount: Int,
            center: UnsafePointer<Scalar>, filter: Filter, firstIndex: Int, sumGradient: UnsafeMutablePointer<Scalar>,
            sumProduct: UnsafeMutablePointer<Scalar>, choices: RowLoopChoices
        ) -> Bool {
            guard enabled, Scalar.self == Float.self || Scalar.self == Double.self,
                  let wide = filter.wideFilter?.advanced(by: firstIndex) else { return false }
            guard let deferred = wide.deferredMaskedGradient else {
                return gradientSumsRowsCall(
                    input, gradient, rows: rows, channelCount: channelCount, center: center, filter: wide,
                    sumGradient: sumGradient, sumProduct: sumProduct, choices: choices)
            }
            // The accumulators carry over between calls: the same sums.
            withStreamedMaskedGradient(units: 0..<rows, unitLength: channelCount, gradient, deferred) { chunk in
                let offset = chunk.lowerBound * channelCount
                _ = gradientSumsRowsCall(
                    input + offset, gradient + offset, rows: chunk.count, channelCount: channelCount, center: center,
                    filter: deferred.unstored.advanced(by: offset), sumGradient: sumGradient, sumProduct: sumProduct,
                    choices: choices)
            }
            return true
        }

        /// Values of `dy` and `y` a deferred masked-gradient store follows its sums by: 32 KiB of `Float`,
        /// so the chunk's `dy` and `y` are still in L2 when the store reads them again.
        static let maskedGradientChunkValues = 8_192

        /// The sums of a filter whose masked gradient is streamed (``WideFilter/deferredMaskedGradient``):
        /// `sums(chunk)` over consecutive chunks of `units` (rows or runs of `unitLength` values, about
        /// ``maskedGradientChunkValues`` each), each followed by that chunk's masked gradient, streamed while
        /// its `dy` and `y` are still in cache. Unit `u` starts `u · unitLength` values after the pointers.
        @inline(__always)
        static func withStreamedMaskedGradient<Scalar: BatchNormScalar>(
            units: Range<Int>, unitLength: Int, _ gradient: UnsafePointer<Scalar>,
            _ deferred: WideFilter<Scalar>.DeferredMaskedGradient, _ sums: (Range<Int>) -> Void
        ) {
            let unitsPerChunk = max(1, maskedGradientChunkValues / max(1, unitLength))
            var unit = units.lowerBound
            while unit < units.upperBound {
                let chunk = unit..<min(unit + unitsPerChunk, units.upperBound)
                sums(chunk)
                let offset = chunk.lowerBound * unitLength
                storeMaskedGradient(gradient + offset, deferred.forwardOutput + offset,
                                    deferred.maskedGradient + offset, count: chunk.count * unitLength, streaming: true)
                unit = chunk.upperBound
            }
        }

        /// `maskedGradient = y <= 0 ? 0 : dy` over `count` values, with streaming stores (the caller fences
        /// them) or plain ones that stay in cache. `Float` and `Double` only, after `enabled`.
        @inline(__always)
        static func storeMaskedGradient<Scalar: BatchNormScalar>(
            _ gradient: UnsafePointer<Scalar>, _ forwardOutput: UnsafePointer<Scalar>,
            _ maskedGradient: UnsafeMutablePointer<Scalar>, count: Int, streaming: Bool
        ) {
            if Scalar.self == Float.self {
                bn_wide_masked_gradient_float(
                    floats(gradient), floats(forwardOutput), floats(maskedGradient), count, streaming ? 1 : 0)
            } else if Scalar.self == Double.self {
                bn_wide_masked_gradient_double(
                    doubles(gradient), doubles(forwardOutput), doubles(maskedGradient), count, streaming ? 1 : 0)
            }
        }

        /// One call of the C row sums with `filter` as it is (a `maskedGradient` stored in the loop).
        @inline(__always)
        private static func gradientSumsRowsCall<Scalar: BatchNormScalar>(
            _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, rows: Int, channelCount: Int,
            center: UnsafePointer<Scalar>, filter wide: WideFilter<Scalar>, sumGradient: UnsafeMutablePointer<Scalar>,
            sumProduct: UnsafeMutablePointer<Scalar>, choices: RowLoopChoices
        ) -> Bool {
            if Scalar.self == Float.self {
                bn_wide_gradient_sums_rows_float(
                    floats(input), floats(gradient), rows, channelCount, floats(center),
                    wide.forwardOutput.map(floats), wide.maskedGradient.map(floats), wide.bound.map(floats),
                    floats(sumGradient), floats(sumProduct), choices.rawValue)
            } else if Scalar.self == Double.self {
                bn_wide_gradient_sums_rows_double(
                    doubles(input), doubles(gradient), rows, channelCount, doubles(center),
                    wide.forwardOutput.map(doubles), wide.maskedGradient.map(doubles), wide.bound.map(doubles),
                    doubles(sumGradient), doubles(sumProduct), choices.rawValue)
            } else {
                return false
            }
            return true
        }

        /// ``Fused/gradientInterleaved(_:_:_:count:channelCount:firstChannel:center:gradientScale:centeredScale:bias:filter:streaming:)``,
        /// `head`: the streaming alignment (used only when `streaming`; otherwise the C loop aligns the data itself).
        @inline(__always)
        static func gradientInterleaved<Scalar: BatchNormScalar, Filter: GradientFilter<Scalar>>(
            _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>,
            count: Int, head: Int, channelCount: Int, firstChannel: Int, center: UnsafePointer<Scalar>,
            gradientScale k: UnsafePointer<Scalar>, centeredScale p: UnsafePointer<Scalar>?, bias q: UnsafePointer<Scalar>,
            filter: Filter, streaming: Bool
        ) -> Bool {
            // Without `p` the filter is not used; otherwise only filters that read no forward output.
            let wide = p == nil ? WideFilter<Scalar>() : filter.wideFilter
            guard enabled, let wide, wide.forwardOutput == nil else { return false }
            if Scalar.self == Float.self {
                bn_wide_input_gradient_interleaved_float(
                    floats(input), floats(gradient), floats(inputGradient), count, head, channelCount, firstChannel,
                    floats(center), floats(k), p.map(floats), floats(q), wide.bound.map(floats), streaming ? 1 : 0)
            } else if Scalar.self == Double.self {
                bn_wide_input_gradient_interleaved_double(
                    doubles(input), doubles(gradient), doubles(inputGradient), count, head, channelCount, firstChannel,
                    doubles(center), doubles(k), p.map(doubles), doubles(q), wide.bound.map(doubles), streaming ? 1 : 0)
            } else {
                return false
            }
            return true
        }

        // The same memory seen as C's element type; only called once `Scalar` is known to be that type.
        @inline(__always)
        static func floats<Scalar>(_ pointer: UnsafePointer<Scalar>) -> UnsafePointer<Float> {
            UnsafeRawPointer(pointer).assumingMemoryBound(to: Float.self)
        }

        @inline(__always)
        static func floats<Scalar>(_ pointer: UnsafeMutablePointer<Scalar>) -> UnsafeMutablePointer<Float> {
            UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: Float.self)
        }

        @inline(__always)
        static func doubles<Scalar>(_ pointer: UnsafePointer<Scalar>) -> UnsafePointer<Double> {
            UnsafeRawPointer(pointer).assumingMemoryBound(to: Double.self)
        }

        @inline(__always)
        static func doubles<Scalar>(_ pointer: UnsafeMutablePointer<Scalar>) -> UnsafeMutablePointer<Double> {
            UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: Double.self)
        }
    }

    /// A gradient filter as the AVX2 loops take it: `dy` masked by `forwardOutput <= 0` (the masked
    /// values stored to `maskedGradient`, if given), or by `x - center <= bound[c]`, or neither (`dy` itself).
    struct WideFilter<Scalar: BatchNormScalar> {
        var forwardOutput: UnsafePointer<Scalar>?
        var maskedGradient: UnsafeMutablePointer<Scalar>?
        var bound: UnsafePointer<Scalar>?
        /// Whether the sums' callers store `maskedGradient` with streaming stores after each chunk's sums
        /// (``Fused/WideLoops/withStreamedMaskedGradient(units:unitLength:_:_:_:)``) instead of the loop.
        var streamsMaskedGradient = false

        /// The pointers of a masked gradient stored after the sums, and the filter the sums then take
        /// (the same mask, no store).
        struct DeferredMaskedGradient {
            let forwardOutput: UnsafePointer<Scalar>
            let maskedGradient: UnsafeMutablePointer<Scalar>
            var unstored: WideFilter { WideFilter(forwardOutput: forwardOutput) }
        }

        /// This filter's masked gradient, when it is streamed after the sums.
        var deferredMaskedGradient: DeferredMaskedGradient? {
            guard streamsMaskedGradient, let forwardOutput, let maskedGradient else { return nil }
            return DeferredMaskedGradient(forwardOutput: forwardOutput, maskedGradient: maskedGradient)
        }

        /// The filter for values from `offset` on (the bound is per channel and stays).
        @inline(__always)
        func advanced(by offset: Int) -> Self {
            Self(forwardOutput: forwardOutput.map { $0 + offset }, maskedGradient: maskedGradient.map { $0 + offset },
                 bound: bound, streamsMaskedGradient: streamsMaskedGradient)
        }
    }
}

extension FusedTuning {
    /// When `true`, the fused passes run their Swift loops even where the AVX2 loops would run.
    @TaskLocal static var forcedSwiftLoops: Bool?

    /// Runs `body` with the Swift loops forced (`true`) or the CPU's choice (`false`, `nil`), so tests can
    /// compare the AVX2 loops with the Swift ones bit for bit.
    package static func withSwiftLoops<Result>(_ forced: Bool?, _ body: () throws -> Result) rethrows -> Result {
        try TestSeams.scope { try $forcedSwiftLoops.withValue(forced, operation: body) }
    }

    /// The forced Swift-loop choice, if a test set one (one relaxed load otherwise).
    @inline(__always)
    static var swiftLoopsOverride: Bool? { TestSeams.anyOpen ? forcedSwiftLoops : nil }

    /// Whether this CPU runs the AVX2 loops (for tests that compare them with the Swift loops).
    package static var wideLoopsSupported: Bool { Fused.WideLoops.supported }
}
