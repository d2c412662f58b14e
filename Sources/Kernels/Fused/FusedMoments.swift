/// Moments of contiguous data in one read from memory: each block (≤ `Fused.blockLength` values,
/// in L1) gets an exact two-pass treatment in SIMD lanes, and blocks are merged in `Double` with Chan's
/// formula. Accurate like a global two-pass, but `x` streams from memory once.
extension Fused {
    /// Count, mean and `M2` of `values[0..<count]` (all one channel), `count <= blockLength`.
    @inline(__always)
    static func blockMoments<Scalar: BatchNormScalar>(
        _ values: UnsafePointer<Scalar>, _ count: Int
    ) -> MomentsAccumulator {
        var sum0 = Vector<Scalar>(), sum1 = Vector<Scalar>()
        var index = 0
        while index + 2 * width <= count {
            sum0 += load(values + index)
            sum1 += load(values + index + width)
            index += 2 * width
        }
        if index + width <= count {
            sum0 += load(values + index)
            index += width
        }
        var sum = laneSum(sum0 + sum1)
        for tail in index..<count { sum += Double(values[tail]) }
        let shift = Scalar(sum / Double(count))

        // Second pass over the (L1-resident) block: centered sums about its own mean.
        let (centered, squares) = shiftedSums(values, count, shift: shift, overlapsTail: false)
        let n = Double(count)
        return MomentsAccumulator(
            count: n, mean: Double(shift) + centered / n, sumOfSquaredDeviations: squares - centered * centered / n)
    }

    /// Moments of one contiguous run of a single channel, any length.
    @inline(__always)
    static func runMoments<Scalar: BatchNormScalar>(
        _ values: UnsafePointer<Scalar>, _ count: Int, into moments: inout MomentsAccumulator
    ) {
        var start = 0
        while start < count {
            let length = min(blockLength, count - start)
            moments.merge(blockMoments(values + start, length))
            start += length
        }
    }

    /// `exact` (the moments of `channels`, in that order, from the exact path: Chan's merges of blocks, which
    /// rejected shifted sums fall back to) refined, for `Double` data, by one more read of those channels
    /// about their rounded means, with the loops of the accepted channels' sums: the rows of a channels-last tensor in one pass
    /// (``interleavedShiftedSums(_:rows:channelCount:shift:sums:squares:choices:)``, whatever the number of
    /// channels), a channels-first channel's runs one by one (``shiftedSums(_:_:shift:overlapsTail:)``). The
    /// sums give each mean in two words (``momentsFromShiftedSums(count:shift:sum:sumOfSquares:)``), as an
    /// accepted channel has it; Chan's merges round the mean at each merge and keep no low word: a `Double`
    /// channel of 76 values about 50 (spread 0.05) came out 2.8 units in the last place off, and its `dγ` 368
    /// `u` of its terms' absolute sum (docs/BENCHMARK_NOTES.md, "The exact path's mean in two words"). A
    /// channel keeps `exact` where that is not finite, or where the read rejects its shift too (a spread of a
    /// few units in the last place).
    static func refinedMoments<Scalar: BatchNormScalar>(
        _ exact: [MomentsAccumulator], _ input: UnsafePointer<Scalar>, geometry: ChannelGeometry, channels: [Int]
    ) -> [MomentsAccumulator] {
        precondition(exact.count == channels.count)
        // A `Float` mean from the exact path's `Double` sums splits into two words with room to spare; the
        // read's `Float` lanes would do worse there (their error scales with the spread: 3 ulps off on a trend
        // whose spread is the mean's size, where the `Double` merges were correctly rounded).
        guard Scalar.significandBitCount >= Double.significandBitCount else { return exact }
        let channelCount = geometry.channelCount, runLength = geometry.innerCount
        let shifts = exact.map { Scalar($0.mean) }
        let refines = channels.indices.map { slot in
            exact[slot].mean.isFinite && exact[slot].sumOfSquaredDeviations.isFinite && shifts[slot].isFinite
        }
        // (Non-finite channels alone, a NaN's: nothing to read.)
        guard refines.contains(true) else { return exact }
        var sums = [Double](repeating: 0, count: channels.count), squares = sums
        if runLength == 1 {
            var shiftRow = [Scalar](repeating: 0, count: channelCount)
            for (slot, channel) in channels.enumerated() where refines[slot] { shiftRow[channel] = shifts[slot] }
            var rowSums = [Double](repeating: 0, count: channelCount), rowSquares = rowSums
            shiftRow.withUnsafeBufferPointer { shift in
            rowSums.withUnsafeMutableBufferPointer { rowSums in
            rowSquares.withUnsafeMutableBufferPointer { rowSquares in
                guard let shift = shift.baseAddress, let rowSums = rowSums.baseAddress,
                      let rowSquares = rowSquares.baseAddress else { return }
                interleavedShiftedSums(
                    input, rows: geometry.outerCount, channelCount: channelCount, shift: shift, sums: rowSums,
                    squares: rowSquares, choices: rowLoopChoices(geometry, Scalar.self))
            }}}
            for (slot, channel) in channels.enumerated() {
                sums[slot] = rowSums[channel]
                squares[slot] = rowSquares[channel]
            }
        } else {
            for (slot, channel) in channels.enumerated() where refines[slot] {
                for outer in 0..<geometry.outerCount {
                    let run = shiftedSums(input + (outer * channelCount + channel) * runLength, runLength, shift: shifts[slot])
                    sums[slot] += run.sum
                    squares[slot] += run.sumOfSquares
                }
            }
        }
        return channels.indices.map { slot in
            guard refines[slot] else { return exact[slot] }
            return momentsFromShiftedSums(
                count: Double(geometry.valuesPerChannel), shift: Double(shifts[slot]), sum: sums[slot],
                sumOfSquares: squares[slot]) ?? exact[slot]
        }
    }

    /// Per-channel moments of `rows` rows of `channelCount` interleaved channels (channels-last), merged
    /// into `moments[c]`. Rows are taken in blocks that fit L1; within a block each group of 16 channels
    /// is accumulated in registers, two passes (sum, then centered sums) over the cached block.
    static func interleavedMoments<Scalar: BatchNormScalar>(
        _ values: UnsafePointer<Scalar>, rows: Int, channelCount: Int,
        into moments: UnsafeMutablePointer<MomentsAccumulator>
    ) {
        let rowsPerBlock = max(32, blockLength / max(channelCount, 1))
        var firstRow = 0
        while firstRow < rows {
            let blockRows = min(rowsPerBlock, rows - firstRow)
            let block = values + firstRow * channelCount
            let n = Double(blockRows)
            var channel = 0
            while channel + width <= channelCount {
                var sum = Vector<Scalar>()
                for row in 0..<blockRows { sum += load(block + row * channelCount + channel) }
                let shift = sum / Vector<Scalar>(repeating: Scalar(blockRows))
                var centered = Vector<Scalar>(), squares = Vector<Scalar>()
                for row in 0..<blockRows {
                    let d = load(block + row * channelCount + channel) - shift
                    centered += d
                    squares += d * d
                }
                for lane in 0..<width {
                    let c = Double(centered[lane])
                    moments[channel + lane].merge(
                        count: n, mean: Double(shift[lane]) + c / n,
                        sumOfSquaredDeviations: Double(squares[lane]) - c * c / n)
                }
                channel += width
            }
            while channel < channelCount {
                var sum = 0.0
                for row in 0..<blockRows { sum += Double(block[row * channelCount + channel]) }
                let shift = Scalar(sum / n)
                var centered = 0.0, squares = 0.0
                for row in 0..<blockRows {
                    let d = Double(block[row * channelCount + channel] - shift)
                    centered += d
                    squares += d * d
                }
                moments[channel].merge(count: n, mean: Double(shift) + centered / n,
                                       sumOfSquaredDeviations: squares - centered * centered / n)
                channel += 1
            }
            firstRow += blockRows
        }
    }
}
