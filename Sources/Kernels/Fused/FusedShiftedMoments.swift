internal import CKernelSupport

/// One-pass moments about a fixed per-channel shift `K`, with a conditioning check.
///
/// With `S1 = Σ(x - K)` and `S2 = Σ(x - K)²`: `mean = K + S1/M`, `M2 = S2 - S1²/M`. The rounding
/// error of `M2` is about `u·S2`, i.e. amplified by `S2 / M2 = 1 + (mean - K)² / variance` over an
/// exact two-pass. `K` is the mean of the channel's first block (≥ 32 values), so for data without a
/// trend the amplification is `1 + O(1/32)`. When it exceeds ``maximumAmplification`` the caller falls
/// back to the block two-pass with Chan merging (`Fused.blockMoments`, `Fused.interleavedMoments`).
/// Sums run in working-precision SIMD lanes over at most `Fused.blockLength` values, then in `Double`.
/// What a one-pass moments computation ends with, per channel: the shift `K` (in `Scalar`, as the
/// loops subtract it), `S1 = Σ(x - K)` and `S2 = Σ(x - K)²` in `Double`, over `valueCount` values each.
struct ShiftedSums<Scalar: BatchNormScalar> {
    var valueCount: Int
    var shift: [Scalar]
    var sums: [Double]
    var squares: [Double]

    var count: Double { Double(valueCount) }
}

extension Fused {
    /// Largest accepted `S2 / M2` (one bit).
    static let maximumAmplification = 2.0

    /// Largest accepted `M·Σd² / M2` of ``shiftedSums(fromCenteredSums:squares:centers:shift:count:)``: 2^26.
    static let maximumRawAmplification = Double(1 << 26)

    /// Shifted sums about `shift` (`K`) derived in place from each channel's sums about a center `c`
    /// (`centers`; `nil`: +0 for all): `Σd` (`sums`) and `Σd²` (`squares`) with `d = Double(x) - c`, over
    /// `count` (`M`) values, added in `Double` (``FusedPasses/centeredShiftedSums(_:geometry:grouping:parts:)``,
    /// where `c` is +0 or the channel's first value; `Float` values only): `M2 = Σd² - (Σd)²/M`, `S1 = Σd - M·(K - c)`,
    /// `S2 = M2 + S1²/M`, so that ``momentsFromShiftedSums(count:shift:sum:sumOfSquares:)`` gives back `M2`.
    /// Returns the channels not accepted (their sums are left as they were), in order.
    ///
    /// `d` is exact unless `x` and `c` lie more than 2^29 apart in magnitude, and `d·d` then too where
    /// `x` is within a factor of two of `c`; otherwise each rounds by at most `u = 2^-53` of itself. With
    /// the `M - 1` additions of each sum, `Σd²` and `(Σd)²/M` are off by at most about `3M·u·Σd²` together
    /// (`|Σd|·Σ|d| ≤ M·Σd²`), and `M2`'s cancellation multiplies that by `Σd² / M2`, so a channel is accepted
    /// only where `M·Σd² ≤ 2^26·M2`
    /// (``maximumRawAmplification``; every value finite): `M2` then within `3·2^-27` of itself, finer than
    /// the shifted loops' `Float` squares, each rounded by up to `2^-24`. About its first value a channel
    /// passes unless that value lies about `2^13/√M` standard deviations (1,000 for `M = 64`) from the mean;
    /// a large offset of the whole channel costs nothing, and a constant channel has `Σd = Σd² = 0`, `M2 = 0`
    /// exactly. A non-finite value is rejected, and so is a channel whose `S2` passes `Scalar`'s range (there
    /// the shifted loops' sums overflow, and the moments' exact route, which scales a channel whose
    /// `x - mean` could overflow, must take it; `M2` in `Double` alone would not say so). The caller sums
    /// the rejected channels' deviations in `Double` (`FusedPasses.exactShiftedSums`). One reciprocal for
    /// every channel: `(Σd)²·(1/M)` is off `(Σd)²/M` by at most `u·Σd²`, inside that bound, and `S1²/M` is
    /// far below `M2` (`K` is the rounded mean). `K - c` is exact in `Double` unless the two lie more than
    /// 2^29 apart; then it rounds by `u` of itself, and `S1` by about `2u·M·|mean - c|`, which moves the mean
    /// by `2^-39` standard deviations at most (`(mean - c)² ≤ Σd²/M`).
    static func shiftedSums<Scalar: BatchNormScalar>(
        fromCenteredSums sums: inout [Double], squares: inout [Double], centers: [Double]?, shift: [Scalar],
        count: Double
    ) -> [Int] {
        precondition(sums.count == shift.count && squares.count == shift.count)
        precondition(centers == nil || centers?.count == shift.count)
        let reciprocal = 1 / count, limit = maximumRawAmplification
        let largest = Double(Scalar.greatestFiniteMagnitude)
        var rejected = [Int]()
        sums.withUnsafeMutableBufferPointer { sums in
        squares.withUnsafeMutableBufferPointer { squares in
        (centers ?? []).withUnsafeBufferPointer { centers in
        shift.withUnsafeBufferPointer { shift in
            guard let sumBase = sums.baseAddress, let squareBase = squares.baseAddress,
                  let shiftBase = shift.baseAddress else { return }
            // No centers: every center +0, `K - 0` is `K`.
            let centerBase = centers.isEmpty ? nil : centers.baseAddress
            if deriveCenteredSumsAVX(
                sums: sumBase, squares: squareBase, centers: centerBase, shift: shiftBase, count: count,
                reciprocal: reciprocal, largest: largest, channelCount: shift.count, rejected: &rejected) {
                return
            }
            // Four channels a step (a few hundred thousand channels of a `[2, C]` tensor make this loop a
            // visible part of the training forward); a step with a rejected lane, and the last channels, take
            // the same operations a channel at a time (`derive`), so the same bits.
            let countVector = SIMD4<Double>(repeating: count), reciprocalVector = SIMD4<Double>(repeating: reciprocal)
            let limitVector = SIMD4<Double>(repeating: limit), infinity = SIMD4<Double>(repeating: .infinity)
            let largestVector = SIMD4<Double>(repeating: largest)
            var channel = 0
            while channel + 4 <= shift.count {
                let sum = UnsafeRawPointer(sumBase + channel).loadUnaligned(as: SIMD4<Double>.self)
                let sumOfSquares = UnsafeRawPointer(squareBase + channel).loadUnaligned(as: SIMD4<Double>.self)
                let center = centerBase.map { UnsafeRawPointer($0 + channel).loadUnaligned(as: SIMD4<Double>.self) } ?? .zero
                let m2 = sumOfSquares - sum * sum * reciprocalVector
                let channelShift = SIMD4<Double>(
                    Double(shiftBase[channel]), Double(shiftBase[channel + 1]), Double(shiftBase[channel + 2]),
                    Double(shiftBase[channel + 3]))
                let shiftedSum = sum - countVector * (channelShift - center)
                let shiftedSquares = m2 + shiftedSum * shiftedSum * reciprocalVector
                // `Σd²` finite, the bound met and `S2` in range (NaN fails each): then `M2`, `S1`, `S2` are finite.
                let accepted = (sumOfSquares .< infinity) .& (countVector * sumOfSquares .<= limitVector * m2)
                    .& (shiftedSquares .<= largestVector)
                if all(accepted) {
                    UnsafeMutableRawPointer(sumBase + channel).storeBytes(of: shiftedSum, as: SIMD4<Double>.self)
                    UnsafeMutableRawPointer(squareBase + channel).storeBytes(of: shiftedSquares, as: SIMD4<Double>.self)
                } else {
                    // Rejections come one in thousands or in most channels: room for the rest.
                    if rejected.isEmpty { rejected.reserveCapacity(shift.count - channel) }
                    for lane in channel..<channel + 4 where !derive(
                        lane, sums: sumBase, squares: squareBase, centers: centerBase, shift: shiftBase, count: count,
                        reciprocal: reciprocal, largest: largest) {
                        rejected.append(lane)
                    }
                }
                channel += 4
            }
            for last in channel..<shift.count where !derive(
                last, sums: sumBase, squares: squareBase, centers: centerBase, shift: shiftBase, count: count,
                reciprocal: reciprocal, largest: largest) {
                rejected.append(last)
            }
        }}}}
        return rejected
    }

    /// ``shiftedSums(fromCenteredSums:squares:centers:shift:count:)``'s derivation in its AVX build
    /// (ChannelMath.c: the same operations lane by lane, so the same bits), 1,024 channels a call, the
    /// rejected channels appended to `rejected`; `false` (nothing done) where it does not run (another CPU,
    /// the Swift loops forced, `Double` shifts). In the x86-64 baseline build the vector loop is two-lane
    /// SSE2 with a scalar reduction of the mask: on `[8, 16384]` it took more time than the one read itself
    /// (docs/BENCHMARK_NOTES.md, "The derivation of the one read's sums in AVX").
    @inline(__always)
    private static func deriveCenteredSumsAVX<Scalar: BatchNormScalar>(
        sums: UnsafeMutablePointer<Double>, squares: UnsafeMutablePointer<Double>, centers: UnsafePointer<Double>?,
        shift: UnsafePointer<Scalar>, count: Double, reciprocal: Double, largest: Double, channelCount: Int,
        rejected: inout [Int]
    ) -> Bool {
        guard Scalar.self == Float.self, WideLoops.enabled else { return false }
        // Over the threads for many channels (each channel its own: the same bits), each slice's rejected
        // channels in a list of its own, joined in slice order.
        let shared = UncheckedSendableBox((sums, squares, centers, WideLoops.floats(shift)))
        let rejectedBySlice = ChannelLoops.mapChannelSlices(channelCount) { mine in
            let (sums, squares, centers, shift) = shared.value
            let chunk = 1024
            var found = [Int]()
            withUnsafeTemporaryAllocation(of: Int.self, capacity: chunk) { chunkRejected in
                guard let chunkBase = chunkRejected.baseAddress else { return }
                var first = mine.lowerBound
                while first < mine.upperBound {
                    let channels = min(chunk, mine.upperBound - first)
                    let rejectedCount = bn_centered_sums_derive_avx_float(
                        sums, squares, centers, shift, count, reciprocal, maximumRawAmplification, largest, first,
                        channels, chunkBase)
                    if rejectedCount > 0 {
                        found.append(contentsOf: UnsafeBufferPointer(start: chunkBase, count: rejectedCount))
                    }
                    first += channels
                }
            }
            return found
        }
        for slice in rejectedBySlice where !slice.isEmpty { rejected.append(contentsOf: slice) }
        return true
    }

    /// One channel of ``shiftedSums(fromCenteredSums:squares:centers:shift:count:)``, in place: `(S1, S2)`
    /// over the centered sums and `true`, or `false` (the sums left as they were) where they are rejected.
    /// The operations of a lane of its vector loop, so the same bits.
    @inline(__always)
    private static func derive<Scalar: BatchNormScalar>(
        _ channel: Int, sums: UnsafeMutablePointer<Double>, squares: UnsafeMutablePointer<Double>,
        centers: UnsafePointer<Double>?, shift: UnsafePointer<Scalar>, count: Double, reciprocal: Double,
        largest: Double
    ) -> Bool {
        let sum = sums[channel], sumOfSquares = squares[channel]
        let m2 = sumOfSquares - sum * sum * reciprocal
        let shiftedSum = sum - count * (Double(shift[channel]) - (centers?[channel] ?? 0))
        let shiftedSquares = m2 + shiftedSum * shiftedSum * reciprocal
        guard sumOfSquares < .infinity, count * sumOfSquares <= maximumRawAmplification * m2,
              shiftedSquares <= largest else { return false }
        sums[channel] = shiftedSum
        squares[channel] = shiftedSquares
        return true
    }

    /// Moments from shifted sums, or `nil` when the shift was too far from the mean.
    @inline(__always)
    static func momentsFromShiftedSums(
        count: Double, shift: Double, sum: Double, sumOfSquares: Double
    ) -> MomentsAccumulator? {
        let m2 = sumOfSquares - sum * sum / count
        guard m2.isFinite, sumOfSquares.isFinite else {
            // NaN or infinity in the data: the result is non-finite either way; the exact path keeps
            // IEEE semantics identical to the other paths.
            return nil
        }
        if sumOfSquares > maximumAmplification * m2, sumOfSquares > 0 { return nil }
        // mean = shift + correction, kept in two words (TwoSum, exact): for Double data the low word
        // carries what a single Double mean would round away.
        let (mean, low) = ErrorFreeSums.twoSum(shift, sum / count)
        return MomentsAccumulator(count: count, mean: mean, sumOfSquaredDeviations: m2, meanLow: low)
    }

    /// `(Σ(x - shift), Σ(x - shift)²)` over one contiguous run: each block of `blockLength` values in two
    /// pairs of working-precision lanes; the values after the vector steps, when there are
    /// ``overlappedTailLength`` or more of them in a block of a vector or more, as one more vector
    /// (``overlappedTail(_:tail:)``), else one by one in `Double`. `overlapsTail: false` takes every tail
    /// one by one: ``blockMoments(_:_:)`` (the exact path and the run loops' shifts), whose sums no AVX2
    /// loop stands in for, keeps its bits.
    @inline(__always)
    static func shiftedSums<Scalar: BatchNormScalar>(
        _ values: UnsafePointer<Scalar>, _ count: Int, shift: Scalar, overlapsTail: Bool = true
    ) -> (sum: Double, sumOfSquares: Double) {
        let shiftVector = Vector<Scalar>(repeating: shift)
        var sum = 0.0, sumOfSquares = 0.0
        var start = 0
        while start < count {
            let end = min(start + blockLength, count)
            var s0 = Vector<Scalar>(), s1 = Vector<Scalar>(), q0 = Vector<Scalar>(), q1 = Vector<Scalar>()
            var index = start
            while index + 2 * width <= end {
                let d0 = load(values + index) - shiftVector
                let d1 = load(values + index + width) - shiftVector
                s0 += d0
                s1 += d1
                q0 += d0 * d0
                q1 += d1 * d1
                index += 2 * width
            }
            if index + width <= end {
                let d0 = load(values + index) - shiftVector
                s0 += d0
                q0 += d0 * d0
                index += width
            }
            // A block of a vector or more: its last few values as one more vector (`overlappedTail`).
            if overlapsTail && end - index >= overlappedTailLength && end - start >= width {
                let d1 = overlappedTail(load(values + end - width) - shiftVector, tail: end - index)
                s1 += d1
                q1 += d1 * d1
                index = end
            }
            sum += laneSum(s0 + s1)
            sumOfSquares += laneSum(q0 + q1)
            while index < end {
                let d = Double(values[index] - shift)
                sum += d
                sumOfSquares += d * d
                index += 1
            }
            start = end
        }
        return (sum, sumOfSquares)
    }

    /// Adds `Σ(x - shift[c])` and `Σ(x - shift[c])²` over `rows` interleaved rows into `sums`/`squares`.
    /// `choices`: what of the AVX2 loops prefetches the data ahead (``rowLoopChoices(_:_:)``; the sums are
    /// the same either way).
    static func interleavedShiftedSums<Scalar: BatchNormScalar>(
        _ values: UnsafePointer<Scalar>, rows: Int, channelCount: Int, shift: UnsafePointer<Scalar>,
        sums: UnsafeMutablePointer<Double>, squares: UnsafeMutablePointer<Double>, choices: RowLoopChoices
    ) {
        let vectorEnd = channelCount - channelCount % width
        accumulateRows(rows, channelCount: channelCount, alignedWith: values, into: sums, squares) { rows, sumAccumulator, squareAccumulator in
            let values = values + rows.lowerBound * channelCount
            if WideLoops.shiftedSumsRows(values, rows: rows.count, channelCount: channelCount, shift: shift,
                                         sums: sumAccumulator, squares: squareAccumulator, choices: choices) { return }
            for row in 0..<rows.count {
                let values = values + row * channelCount
                var channel = 0
                while channel < vectorEnd {
                    let d = load(values + channel) - load(shift + channel)
                    store(load(sumAccumulator + channel) + d, sumAccumulator + channel)
                    store(load(squareAccumulator + channel) + d * d, squareAccumulator + channel)
                    channel += width
                }
                while channel < channelCount {
                    let d = values[channel] - shift[channel]
                    sumAccumulator[channel] += d
                    squareAccumulator[channel] += d * d
                    channel += 1
                }
            }
        }
    }
}

// MARK: - Row accumulation

extension Fused {
    /// Runs `addRows(block, first, second)` over `0..<rows` of an interleaved tensor, block by block
    /// in memory order, with two per-channel working-precision accumulators (`channelCount` values each, L1-resident
    /// for up to a few thousand channels); every `rowsPerFlush` rows they are added into the `Double`
    /// sums `first` and `second` and cleared, which bounds a lane's rounding error to 64 additions.
    /// Walking a block column by column instead would read rows `channelCount` apart, which for 1024 or
    /// 2048 channels (4 or 8 KB rows) maps every row of a block onto the same L1 sets.
    ///
    /// The accumulators start at the same offset from a 32-byte boundary as `rowStart` (the first row),
    /// so a loop that aligns its data loads aligns its accumulator loads too whenever rows are a
    /// multiple of 32 bytes long.
    @inline(__always)
    static func accumulateRows<Scalar: BatchNormScalar>(
        _ rows: Int, channelCount: Int, alignedWith rowStart: UnsafePointer<Scalar>,
        into first: UnsafeMutablePointer<Double>, _ second: UnsafeMutablePointer<Double>,
        _ addRows: (_ rows: Range<Int>, _ first: UnsafeMutablePointer<Scalar>, _ second: UnsafeMutablePointer<Scalar>) -> Void
    ) {
        let rowsPerFlush = 64
        let size = MemoryLayout<Scalar>.stride
        let lanes = max(1, accumulatorAlignment / size)
        // The second accumulator a whole number of 32-byte blocks after the first: the same alignment.
        let accumulatorStride = (channelCount + lanes - 1) / lanes * lanes
        let offset = Int(bitPattern: UInt(bitPattern: rowStart)) % accumulatorAlignment / size
        withUnsafeTemporaryAllocation(
            byteCount: (2 * accumulatorStride + lanes) * size, alignment: accumulatorAlignment
        ) { scratch in
            guard let base = scratch.baseAddress else { return }
            let firstAccumulator = base.bindMemory(to: Scalar.self, capacity: 2 * accumulatorStride + lanes) + offset
            let secondAccumulator = firstAccumulator + accumulatorStride
            var firstRow = 0
            while firstRow < rows {
                let blockEnd = min(firstRow + rowsPerFlush, rows)
                firstAccumulator.initialize(repeating: 0, count: channelCount)
                secondAccumulator.initialize(repeating: 0, count: channelCount)
                addRows(firstRow..<blockEnd, firstAccumulator, secondAccumulator)
                // (The AVX2 flush: this loop compiles to two conversions per SSE2 instruction, a twentieth
                // of a 256-channel reduction.)
                if !WideLoops.flushAccumulators(
                    firstAccumulator, secondAccumulator, into: first, second, count: channelCount) {
                    for channel in 0..<channelCount {
                        first[channel] += Double(firstAccumulator[channel])
                        second[channel] += Double(secondAccumulator[channel])
                    }
                }
                firstRow = blockEnd
            }
        }
    }

    /// The boundary the AVX2 loops align their loads to (`WideLoopsTemplate.h`'s alignment head).
    static let accumulatorAlignment = 32
}
