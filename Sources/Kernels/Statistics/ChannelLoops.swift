internal import CKernelSupport

/// The per-channel steps of the fused passes written as loops over raw pointers, four channels per
/// `SIMD4<Double>` where they divide or take square roots.
///
/// On a wide `[N, C]` with few rows (`BatchNorm1d` on a batch of 2-64) these steps, not the passes
/// over the data, were most of a training forward: `Array.map` and per-element subscripts compile to
/// scalar code with one `divsd` or `sqrtsd` at a time, and the divider was the bottleneck (2x16384:
/// about 85 ns per channel; docs/BENCHMARK_NOTES.md, "Per-channel steps of a wide [N, C]").
///
/// Every function computes exactly what the one-channel form it names computes: the same IEEE
/// operations in the same order, each lane on its own, so results keep their bits. Where the
/// one-channel form branches on a rare case (a rescaled or overflowing channel), the loop computes
/// the common case for every channel and the few others are then redone by the one-channel form.
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
                let divisorVector = SIMD4<Double>(repeating: divisor)
                var channel = 0
                while channel + 4 <= values.count {
                    let quotient = load4(source + channel) / divisorVector
                    store4(quotient, result + channel)
                    channel += 4
                }
                while channel < values.count {
                    (result + channel).initialize(to: source[channel] / divisor)
                    channel += 1
                }
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
    /// ``Fused/momentsFromShiftedSums(count:shift:sum:sumOfSquares:)`` of every channel, or `nil` if
    /// that of any channel is `nil` (a non-finite sum, or a shift too far from the mean).
    static func momentsFromShiftedSums<Scalar: BatchNormScalar>(
        count: Double, shift: [Scalar], sums: [Double], sumsOfSquares: [Double]
    ) -> [MomentsAccumulator]? {
        let channelCount = shift.count
        precondition(sums.count == channelCount && sumsOfSquares.count == channelCount)
        var rejected = false
        let result: [MomentsAccumulator] = shift.withUnsafeBufferPointer { shift in
        sums.withUnsafeBufferPointer { sums in
        sumsOfSquares.withUnsafeBufferPointer { squares in
            array(count: channelCount) { result in
                guard let sumBase = sums.baseAddress, let squareBase = squares.baseAddress else { return }
                let countVector = SIMD4<Double>(repeating: count)
                var anyRejected = SIMDMask<SIMD4<Int64>>(repeating: false)
                var channel = 0
                while channel + 4 <= channelCount {
                    let sum = load4(sumBase + channel), sumOfSquares = load4(squareBase + channel)
                    let m2 = sumOfSquares - sum * sum / countVector
                    anyRejected .|= .!(isFinite(m2) .& isFinite(sumOfSquares))
                    anyRejected .|= (sumOfSquares .> Fused.maximumAmplification * m2) .& (sumOfSquares .> 0)
                    let shiftVector = SIMD4<Double>(
                        Double(shift[channel]), Double(shift[channel + 1]), Double(shift[channel + 2]),
                        Double(shift[channel + 3]))
                    let (mean, low) = twoSum(shiftVector, sum / countVector)
                    for lane in 0..<4 {
                        (result + channel + lane).initialize(to: MomentsAccumulator(
                            count: count, mean: mean[lane], sumOfSquaredDeviations: m2[lane], meanLow: low[lane]))
                    }
                    channel += 4
                }
                rejected = any(anyRejected)
                while channel < channelCount {
                    let moments = Fused.momentsFromShiftedSums(
                        count: count, shift: Double(shift[channel]), sum: sumBase[channel],
                        sumOfSquares: squareBase[channel])
                    if moments == nil { rejected = true }
                    (result + channel).initialize(to: moments ?? MomentsAccumulator())
                    channel += 1
                }
            }
        }}}
        return rejected ? nil : result
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
                bn_inverse_square_roots(source, epsilon, result, variance.count)
            }
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

    /// Each lane if it is finite, else +0, by masking its bits (`replacing(with:where:)` compiled to a
    /// branch per lane here).
    @inline(__always)
    static func finiteOrZero(_ values: SIMD4<Double>) -> SIMD4<Double> {
        let keep = unsafeBitCast(isFinite(values), to: SIMD4<Int64>.self)
        return unsafeBitCast(unsafeBitCast(values, to: SIMD4<Int64>.self) & keep, to: SIMD4<Double>.self)
    }

    /// `value` if it is finite, else +0, without a branch.
    @inline(__always)
    static func finiteOrZero(_ value: Double) -> Double {
        let keep: UInt64 = value - value == 0 ? ~0 : 0
        return Double(bitPattern: value.bitPattern & keep)
    }
}
