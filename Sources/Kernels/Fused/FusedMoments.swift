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
