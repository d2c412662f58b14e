internal import CKernelSupport

/// The per-channel steps of the fused passes written as loops over raw pointers, four channels per
/// `SIMD4<Double>` where they divide or take square roots.
///
/// On a wide `[N, C]` with few rows (`BatchNorm1d` on a batch of 2-64) these steps, not the passes
/// over the data, were most of a training forward: `Array.map` and per-element subscripts compile to
/// scalar code with one `divsd` or `sqrtsd` at a time, and the divider was the bottleneck (2x16384:
/// about 20 ns per channel, against 1 for the passes over the data; docs/BENCHMARK_NOTES.md,
/// "Per-channel steps of a wide [N, C]").
///
/// Every function computes exactly what the one-channel form it names computes: the same IEEE
/// operations in the same order, each lane on its own, so results keep their bits. Where the
/// one-channel form branches on a rare case (a rescaled or overflowing channel), the loop computes
/// the common case for every channel and the few others are then redone by the one-channel form.
/// The divider-bound steps also have AVX builds in C, four lanes per instruction (ChannelLoops+AVX.swift).
enum ChannelLoops {
    /// An array of `count` values, each initialized by `fill` through the pointer it is given
    /// (`count` may be 0: then `fill` is not called).
    @inline(__always)
    static func array<Value>(count: Int, _ fill: (UnsafeMutablePointer<Value>) -> Void) -> [Value] {
        // (No zero-capacity `unsafeUninitializedCapacity`: it would set the count of the shared
        // empty-array storage, which ThreadSanitizer reports as a race between concurrent callers.)
        guard count > 0 else { return [] }
        return [Value](unsafeUninitializedCapacity: count) { buffer, initialized in
            guard let base = buffer.baseAddress else { return }
            fill(base)
            initialized = count
        }
    }

    /// `values.map(transform)` as a loop over pointers: no append per element, so an inlined
    /// `transform` without branches vectorizes.
    @inline(__always)
    static func map<Value, Result>(_ values: [Value], _ transform: (Value) -> Result) -> [Result] {
        values.withUnsafeBufferPointer { values in
            array(count: values.count) { result in
                for index in values.indices { (result + index).initialize(to: transform(values[index])) }
            }
        }
    }

    /// `zip(first, second).map(transform)` as a loop over pointers (the arrays have one count).
    @inline(__always)
    static func map<First, Second, Result>(
        _ first: [First], _ second: [Second], _ transform: (First, Second) -> Result
    ) -> [Result] {
        precondition(first.count == second.count)
        return first.withUnsafeBufferPointer { first in
            second.withUnsafeBufferPointer { second in
                array(count: first.count) { result in
                    for index in first.indices {
                        (result + index).initialize(to: transform(first[index], second[index]))
                    }
                }
            }
        }
    }

    /// `map` of three arrays of one count, element by element.
    @inline(__always)
    static func map<First, Second, Third, Result>(
        _ first: [First], _ second: [Second], _ third: [Third], _ transform: (First, Second, Third) -> Result
    ) -> [Result] {
        precondition(first.count == second.count && first.count == third.count)
        return first.withUnsafeBufferPointer { first in
            second.withUnsafeBufferPointer { second in
                third.withUnsafeBufferPointer { third in
                    array(count: first.count) { result in
                        for index in first.indices {
                            (result + index).initialize(to: transform(first[index], second[index], third[index]))
                        }
                    }
                }
            }
        }
    }

    /// `values[c] / divisor` for every channel, in `Double`.
    static func quotients(_ values: [Double], dividingBy divisor: Double) -> [Double] {
        values.withUnsafeBufferPointer { values in
            array(count: values.count) { result in
                guard let source = values.baseAddress else { return }
                divide(source, by: divisor, into: result, count: values.count)
            }
        }
    }

    /// Four consecutive `Double`s.
    @inline(__always)
    static func load4(_ pointer: UnsafePointer<Double>) -> SIMD4<Double> {
        UnsafeRawPointer(pointer).loadUnaligned(as: SIMD4<Double>.self)
    }

    /// Writes the four lanes to consecutive `Double`s (initializing them).
    @inline(__always)
    static func store4(_ vector: SIMD4<Double>, _ pointer: UnsafeMutablePointer<Double>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: vector, as: SIMD4<Double>.self)
    }
}

// MARK: - Moments

extension ChannelLoops {
    /// ``Fused/momentsFromShiftedSums(count:shift:sum:sumOfSquares:)`` of every channel, and the
    /// channels where that is `nil` (a non-finite sum, or a shift too far from the mean), in increasing
    /// order; their entries in `moments` are placeholders the caller replaces. A rejected channel never
    /// changes what the others get: each keeps its own shifted moments.
    static func momentsFromShiftedSums<Scalar: BatchNormScalar>(
        count: Double, shift: [Scalar], sums: [Double], sumsOfSquares: [Double]
    ) -> (moments: [MomentsAccumulator], rejectedChannels: [Int]) {
        let channelCount = shift.count
        precondition(sums.count == channelCount && sumsOfSquares.count == channelCount)
        var rejectedChannels = [Int]()
        let result: [MomentsAccumulator] = shift.withUnsafeBufferPointer { shift in
        sums.withUnsafeBufferPointer { sums in
        sumsOfSquares.withUnsafeBufferPointer { squares in
            array(count: channelCount) { result in
                guard let sumBase = sums.baseAddress, let squareBase = squares.baseAddress,
                      let shiftBase = shift.baseAddress else { return }
                let countVector = SIMD4<Double>(repeating: count)
                var channel = 0
                while channel + 4 <= channelCount {
                    var rejected = SIMDMask<SIMD4<Int64>>(repeating: false)
                    let (mean, low, m2) = shiftedMoments(
                        shift: shiftBase + channel, sum: load4(sumBase + channel),
                        sumOfSquares: load4(squareBase + channel), count: countVector, rejected: &rejected)
                    for lane in 0..<4 {
                        (result + channel + lane).initialize(to: MomentsAccumulator(
                            count: count, mean: mean[lane], sumOfSquaredDeviations: m2[lane], meanLow: low[lane]))
                    }
                    if any(rejected) {
                        for lane in 0..<4 where rejected[lane] { rejectedChannels.append(channel + lane) }
                    }
                    channel += 4
                }
                while channel < channelCount {
                    let moments = Fused.momentsFromShiftedSums(
                        count: count, shift: Double(shift[channel]), sum: sumBase[channel],
                        sumOfSquares: squareBase[channel])
                    if moments == nil { rejectedChannels.append(channel) }
                    (result + channel).initialize(to: moments ?? MomentsAccumulator())
                    channel += 1
                }
            }
        }}}
        return (result, rejectedChannels)
    }

    /// ``MomentsAccumulator/inverseStandardDeviation(epsilon:)`` of every channel, rounded to `Scalar`.
    /// The loops compute `1 / sqrt(max(M2, 0) / count + epsilon)`, the one-channel form of an unscaled
    /// channel (where that variance is infinite, the one-channel form's branch gives the same 0), the
    /// square roots in C (``inverseSquareRoots(_:epsilon:)``); the channels with a scale
    /// (``ScaledMoments``) are then redone by the one-channel form.
    static func inverseStandardDeviations<Scalar: BatchNormScalar>(
        _ accumulators: [MomentsAccumulator], epsilon: Double
    ) -> [Scalar] {
        let variance: [Double] = accumulators.withUnsafeBufferPointer { source in
            array(count: source.count) { result in
                var channel = 0
                while channel + 4 <= source.count {
                    let first = source[channel], second = source[channel + 1]
                    let third = source[channel + 2], fourth = source[channel + 3]
                    let m2 = SIMD4(first.sumOfSquaredDeviations, second.sumOfSquaredDeviations,
                                   third.sumOfSquaredDeviations, fourth.sumOfSquaredDeviations)
                    let count = SIMD4(first.count, second.count, third.count, fourth.count)
                    // (max(m2, 0) / count: the same as the one-channel form's select, a NaN kept.)
                    let nonNegative = unsafeBitCast(
                        unsafeBitCast(m2, to: SIMD4<Int64>.self) & ~unsafeBitCast(m2 .< 0, to: SIMD4<Int64>.self),
                        to: SIMD4<Double>.self)
                    store4(nonNegative / count, result + channel)
                    channel += 4
                }
                while channel < source.count {
                    let moments = source[channel]
                    let m2 = moments.sumOfSquaredDeviations
                    (result + channel).initialize(to: m2 < 0 ? 0 : m2 / moments.count)
                    channel += 1
                }
            }
        }
        return accumulators.withUnsafeBufferPointer { source in
            var result: [Scalar] = map(inverseSquareRoots(variance, epsilon: epsilon)) { Scalar($0) }
            for channel in source.indices where source[channel].scale != 1 {
                result[channel] = Scalar(source[channel].inverseStandardDeviation(epsilon: epsilon))
            }
            return result
        }
    }

    /// ``StandardDeviation/inverse(variance:epsilon:)`` of every value, the same bits (the C loop's
    /// `sqrtpd` and `divpd` round each lane as `sqrtsd` and `divsd` do).
    static func inverseSquareRoots(_ variance: [Double], epsilon: Double) -> [Double] {
        variance.withUnsafeBufferPointer { variance in
            array(count: variance.count) { result in
                guard let source = variance.baseAddress else { return }
                inverseSquareRoots(source, epsilon: epsilon, into: result, count: variance.count)
            }
        }
    }

    /// ``Fused/momentsFromShiftedSums(count:shift:sum:sumOfSquares:)`` of four channels (shifts at
    /// `shift[0..<4]`): the two-word mean and `M2`, with the lanes the one-channel form would reject
    /// (`nil`) added to `rejected`.
    @inline(__always)
    static func shiftedMoments<Scalar: BatchNormScalar>(
        shift: UnsafePointer<Scalar>, sum: SIMD4<Double>, sumOfSquares: SIMD4<Double>, count: SIMD4<Double>,
        rejected: inout SIMDMask<SIMD4<Int64>>
    ) -> (mean: SIMD4<Double>, low: SIMD4<Double>, m2: SIMD4<Double>) {
        let m2 = sumOfSquares - sum * sum / count
        rejected .|= .!(isFinite(m2) .& isFinite(sumOfSquares))
        rejected .|= (sumOfSquares .> Fused.maximumAmplification * m2) .& (sumOfSquares .> 0)
        let shiftVector = SIMD4<Double>(Double(shift[0]), Double(shift[1]), Double(shift[2]), Double(shift[3]))
        let (mean, low) = twoSum(shiftVector, sum / count)
        return (mean, low, m2)
    }

    /// Each lane rounded to `Scalar` and back (`Double(Scalar(x))`), one `cvtpd2ps` pair for `Float`.
    @inline(__always)
    static func rounded<Scalar: BatchNormScalar>(_ values: SIMD4<Double>, to _: Scalar.Type) -> SIMD4<Double> {
        if Scalar.self == Double.self { return values }
        if Scalar.self == Float.self { return SIMD4<Double>(SIMD4<Float>(values)) }
        return SIMD4(Double(Scalar(values[0])), Double(Scalar(values[1])), Double(Scalar(values[2])),
                     Double(Scalar(values[3])))
    }

    /// Initializes `pointer[0..<4]` with the lanes rounded to `Scalar` (`Scalar(x)` each).
    @inline(__always)
    static func store<Scalar: BatchNormScalar>(_ values: SIMD4<Double>, roundedTo pointer: UnsafeMutablePointer<Scalar>) {
        if Scalar.self == Double.self {
            UnsafeMutableRawPointer(pointer).storeBytes(of: values, as: SIMD4<Double>.self)
        } else if Scalar.self == Float.self {
            UnsafeMutableRawPointer(pointer).storeBytes(of: SIMD4<Float>(values), as: SIMD4<Float>.self)
        } else {
            for lane in 0..<4 { (pointer + lane).initialize(to: Scalar(values[lane])) }
        }
    }

    /// Lanes that are neither infinite nor NaN (`x - x` is 0 exactly for those alone).
    @inline(__always)
    static func isFinite(_ values: SIMD4<Double>) -> SIMDMask<SIMD4<Int64>> {
        values - values .== 0
    }

    /// ``ErrorFreeSums/twoSum(_:_:)`` lane by lane.
    @inline(__always)
    static func twoSum(_ a: SIMD4<Double>, _ b: SIMD4<Double>) -> (sum: SIMD4<Double>, error: SIMD4<Double>) {
        let sum = a + b
        let aPart = sum - b
        let error = (a - aPart) + (b - (sum - aPart))
        return (sum, finiteOrZero(error))
    }

    /// ``ErrorFreeSums/finiteOrZero(_:)`` lane by lane, by masking the bits (`replacing(with:where:)`
    /// compiled to a branch per lane here).
    @inline(__always)
    static func finiteOrZero(_ values: SIMD4<Double>) -> SIMD4<Double> {
        let keep = unsafeBitCast(isFinite(values), to: SIMD4<Int64>.self)
        return unsafeBitCast(unsafeBitCast(values, to: SIMD4<Int64>.self) & keep, to: SIMD4<Double>.self)
    }

}

// MARK: - The training forward's statistics in one loop

extension ChannelLoops {
    /// The batch moments (rounded to `Scalar`) and `invstd` of a training forward, straight from its
    /// shifted sums, or `nil` when some channel is not ordinary; then the caller takes the general
    /// route (``Fused/momentsFromShiftedSums(count:shift:sum:sumOfSquares:)`` per channel, the exact
    /// fallback, the overflow rescue, ``ChannelMoments/init(_:count:)``,
    /// ``inverseStandardDeviations(_:epsilon:)``), which for ordinary channels computes the very same
    /// operations: this is that route fused into one loop over the channels, without the
    /// `MomentsAccumulator` array between its steps.
    ///
    /// Ordinary: the shift was close enough and the sums finite (the one-pass check), a finite mean, and
    /// an `M2` that fits `Scalar`. With `parts > 1` and many channels the channels are split over the
    /// threads (a 16,384-channel `[2, C]` spends more time here than in its passes over the data).
    static func trainingStatistics<Scalar: BatchNormScalar>(
        _ sums: ShiftedSums<Scalar>, epsilon: Double, parts: Int
    ) -> (moments: ChannelMoments<Scalar>, inverseStandardDeviation: [Scalar])? {
        let channelCount = sums.shift.count
        precondition(sums.sums.count == channelCount && sums.squares.count == channelCount)
        let finishParts = channelCount >= minimumChannelsPerPart * 2 ? min(parts, channelCount / minimumChannelsPerPart) : 1
        var rejected = [Bool](repeating: false, count: finishParts)
        var mean = [Scalar](), meanLow = [Scalar](), sumOfSquaredDeviations = [Scalar]()
        var inverseStandardDeviation = [Scalar]()
        sums.shift.withUnsafeBufferPointer { shift in
        sums.sums.withUnsafeBufferPointer { channelSums in
        sums.squares.withUnsafeBufferPointer { channelSquares in
        // (Scratch that finishChannels writes in full before reading: no zero fill.)
        withUnsafeTemporaryAllocation(of: Double.self, capacity: max(channelCount, 1)) { variance in
        rejected.withUnsafeMutableBufferPointer { rejected in
            mean = array(count: channelCount) { mean in
            meanLow = array(count: channelCount) { meanLow in
            sumOfSquaredDeviations = array(count: channelCount) { sumOfSquaredDeviations in
            inverseStandardDeviation = array(count: channelCount) { inverseStandardDeviation in
                guard let shift = shift.baseAddress, let channelSums = channelSums.baseAddress,
                      let channelSquares = channelSquares.baseAddress, let variance = variance.baseAddress,
                      let rejected = rejected.baseAddress else { return }
                let words = ChannelWords(
                    mean: mean, meanLow: meanLow, sumOfSquaredDeviations: sumOfSquaredDeviations,
                    inverseStandardDeviation: inverseStandardDeviation, variance: variance)
                let shared = UncheckedSendableBox((shift, channelSums, channelSquares, words, rejected))
                Fused.forEachPart(finishParts) { part in
                    let (shift, channelSums, channelSquares, words, rejected) = shared.value
                    let channels = Fused.slice(channelCount, part: part, of: finishParts)
                    rejected[part] = !finishChannels(
                        channels, count: sums.count, shift: shift, sums: channelSums, squares: channelSquares,
                        epsilon: epsilon, into: words)
                }
            }}}}
        }}}}}
        guard !rejected.contains(true) else { return nil }
        return (ChannelMoments(count: sums.valueCount, mean: mean, meanLow: meanLow,
                               sumOfSquaredDeviations: sumOfSquaredDeviations),
                inverseStandardDeviation)
    }

    /// Channels per thread below which ``trainingStatistics(_:epsilon:parts:)`` stays on one thread.
    /// Harness medians at 2 threads, split → not split: 2x8192 no difference, 2x16384 0.18 → 0.21 ms,
    /// 2x65536 0.83 → 1.16 ms (docs/BENCHMARK_NOTES.md, "Per-channel steps of a wide [N, C]").
    static let minimumChannelsPerPart = 4096

    /// Where ``finishChannels(_:count:shift:sums:squares:epsilon:into:)`` writes: the moments' words, `invstd`, and a
    /// `Double` scratch row for the variances.
    struct ChannelWords<Scalar: BatchNormScalar> {
        var mean: UnsafeMutablePointer<Scalar>
        var meanLow: UnsafeMutablePointer<Scalar>
        var sumOfSquaredDeviations: UnsafeMutablePointer<Scalar>
        var inverseStandardDeviation: UnsafeMutablePointer<Scalar>
        var variance: UnsafeMutablePointer<Double>
    }

    /// The statistics of `channels`, every word initialized; `false` if some channel is not ordinary.
    /// Per channel, in the general route's order: `M2 = S2 - S1²/n` and the one-pass check
    /// (``Fused/momentsFromShiftedSums(count:shift:sum:sumOfSquares:)``), the two-word mean by TwoSum, its
    /// rounding to `Scalar` words and `M2`'s (``ChannelMoments/rounded(_:)``), then
    /// `invstd = 1 / sqrt(max(M2, 0)/n + epsilon)` (``MomentsAccumulator/inverseStandardDeviation(epsilon:)``).
    @inline(__always)
    static func finishChannels<Scalar: BatchNormScalar>(
        _ channels: Range<Int>, count: Double, shift: UnsafePointer<Scalar>, sums: UnsafePointer<Double>,
        squares: UnsafePointer<Double>, epsilon: Double, into words: ChannelWords<Scalar>
    ) -> Bool {
        let countVector = SIMD4<Double>(repeating: count)
        var rejected = SIMDMask<SIMD4<Int64>>(repeating: false)
        var ordinary = true
        let vectorEnd = channels.upperBound - channels.count % 4
        var channel = channels.lowerBound
        // The channels whose `invstd` the passes below take from `words.variance` (all but the AVX loop's).
        var viaVariance = channels
        // The vector channels in the AVX build of this loop where the CPU has it (ChannelLoops+AVX.swift),
        // `invstd` included.
        if vectorEnd > channel, let vectorOrdinary = finishVectorChannelsAVX(
            channel..<vectorEnd, count: count, shift: shift, sums: sums, squares: squares, epsilon: epsilon,
            into: words) {
            ordinary = vectorOrdinary
            channel = vectorEnd
            viaVariance = vectorEnd..<channels.upperBound
        }
        while channel < vectorEnd {
            let (mean, low, m2) = shiftedMoments(
                shift: shift + channel, sum: load4(sums + channel), sumOfSquares: load4(squares + channel),
                count: countVector, rejected: &rejected)
            rejected .|= .!isFinite(mean)
            let nonNegative = unsafeBitCast(
                unsafeBitCast(m2, to: SIMD4<Int64>.self) & ~unsafeBitCast(m2 .< 0, to: SIMD4<Int64>.self),
                to: SIMD4<Double>.self)
            store4(nonNegative / countVector, words.variance + channel)
            // The words: the mean rounded, the low word of what it leaves, M2 rounded (an M2 beyond
            // Scalar's range is not ordinary: the general route rescales it).
            store(mean, roundedTo: words.mean + channel)
            store(finiteOrZero((mean - rounded(mean, to: Scalar.self)) + low), roundedTo: words.meanLow + channel)
            store(nonNegative, roundedTo: words.sumOfSquaredDeviations + channel)
            rejected .|= .!isFinite(rounded(nonNegative, to: Scalar.self))
            channel += 4
        }
        if any(rejected) { ordinary = false }
        while channel < channels.upperBound {
            // The tail: the general route's one-channel forms themselves.
            let moments = Fused.momentsFromShiftedSums(
                count: count, shift: Double(shift[channel]), sum: sums[channel], sumOfSquares: squares[channel])
            let scalarWords = moments.map { ChannelMoments<Scalar>.rounded($0) }
            (words.mean + channel).initialize(to: scalarWords?.mean ?? 0)
            (words.meanLow + channel).initialize(to: scalarWords?.meanLow ?? 0)
            (words.sumOfSquaredDeviations + channel).initialize(to: scalarWords?.sumOfSquaredDeviations ?? 0)
            let m2 = moments?.sumOfSquaredDeviations ?? 0
            words.variance[channel] = (m2 < 0 ? 0 : m2) / count
            let isOrdinary = moments?.mean.isFinite == true && scalarWords?.deviationScale == 1
                && scalarWords?.sumOfSquaredDeviations.isInfinite == false
            if !isOrdinary { ordinary = false }
            channel += 1
        }
        if !viaVariance.isEmpty {
            let first = viaVariance.lowerBound
            inverseSquareRoots(
                words.variance + first, epsilon: epsilon, into: words.variance + first, count: viaVariance.count)
        }
        channel = viaVariance.lowerBound
        while channel + 4 <= channels.upperBound {
            store(load4(words.variance + channel), roundedTo: words.inverseStandardDeviation + channel)
            channel += 4
        }
        while channel < channels.upperBound {
            (words.inverseStandardDeviation + channel).initialize(to: Scalar(words.variance[channel]))
            channel += 1
        }
        return ordinary
    }
}

extension FusedTuning {
    /// When `true`, the training forward takes the general route from its shifted sums even where
    /// every channel is ordinary (``ChannelLoops/trainingStatistics(_:epsilon:parts:)`` skipped).
    @TaskLocal static var forcedGeneralStatistics: Bool?

    /// Runs `body` with the general route forced (`true`) or the usual choice (`false`, `nil`), so tests
    /// can compare the one-loop statistics with the general route's bit for bit.
    package static func withGeneralStatistics<Result>(_ forced: Bool?, _ body: () throws -> Result) rethrows -> Result {
        try TestSeams.scope { try $forcedGeneralStatistics.withValue(forced, operation: body) }
    }

    /// The forced choice, if a test set one (one relaxed load otherwise).
    @inline(__always)
    static var generalStatisticsOverride: Bool? { TestSeams.anyOpen ? forcedGeneralStatistics : nil }
}
