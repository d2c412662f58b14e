/// Narrow channels-last rows seen as wider ones, so the interleaved loops stay vector loops.
///
/// A channels-last tensor with few channels (3 for an image's colours, 16 or 32 in a small network)
/// has rows shorter than one 16-lane vector, or a few vectors long: the row loops then spend their time
/// in per-row scalar heads and tails, and their in-memory accumulators are reloaded a few instructions
/// after they were stored. `rowsPerGroup` consecutive rows are one "group row" of `width` values,
/// a multiple of the vector width (so every group row starts at the same alignment as the first) and of
/// the channel count (so value `j` of every group row belongs to channel `j % channelCount`).
///
/// The loops run over group rows as if the tensor had `width` channels, with the per-channel arrays
/// repeated (``tiled(_:)``); the reductions' `width` sums are folded back into `channelCount` sums
/// (``channelTotals(_:parts:)``). The elementwise steps take `width` as their period (``periodic(_:)``).
/// Each output value is computed by the same operations as without grouping; only the order in which a
/// channel's rows are summed changes (each group position accumulates every `rowsPerGroup`-th row, then
/// the positions are added), which keeps the same per-lane error bound.
extension Fused {
    struct RowGrouping {
        let channelCount: Int
        let rowsPerGroup: Int

        /// Values per group row.
        var width: Int { channelCount * rowsPerGroup }

        /// Group rows at least this many values long (256 bytes of `Float`): shorter row loops measured
        /// up to 3x slower per value, and 128-value groups of 64-channel rows slowed the 32x56x56x64
        /// training forward by 14% (docs/BENCHMARK_NOTES.md, "Narrow channels-last rows").
        static let minimumWidth = 64

        /// The grouping for rows of `channelCount` values: none (one row per group) when a row is
        /// already `minimumWidth` values or longer.
        init(channelCount: Int) {
            self.channelCount = channelCount
            guard channelCount > 0, channelCount < Self.minimumWidth else {
                rowsPerGroup = 1
                return
            }
            // The fewest rows whose values are a whole number of vectors, repeated up to the minimum.
            let aligned = Fused.width / Self.greatestCommonDivisor(channelCount, Fused.width)
            let repeats = (Self.minimumWidth + aligned * channelCount - 1) / (aligned * channelCount)
            rowsPerGroup = aligned * repeats
        }

        /// No grouping: one row per group (channels-first runs, or rows already long).
        static func ungrouped(channelCount: Int) -> Self {
            Self(channelCount: channelCount, rowsPerGroup: 1)
        }

        private init(channelCount: Int, rowsPerGroup: Int) {
            self.channelCount = channelCount
            self.rowsPerGroup = rowsPerGroup
        }

        /// Calls `body(firstValue, rowCount, rowLength)` for the group rows of the tensor rows `rows`
        /// (`rowLength == width`), then for the rows left over, fewer than a group (`rowLength ==
        /// channelCount`); `firstValue` is the offset of the first of them. Blocks of no rows are skipped.
        func forEachBlock(of rows: Range<Int>, _ body: (_ firstValue: Int, _ rowCount: Int, _ rowLength: Int) -> Void) {
            let groups = rows.count / rowsPerGroup
            let first = rows.lowerBound * channelCount
            if groups > 0 { body(first, groups, width) }
            let rest = rows.count - groups * rowsPerGroup
            if rest > 0 { body(first + groups * width, rest, channelCount) }
        }

        /// `perChannel` (`channelCount` values) repeated for every row of a group: `width` values.
        func tiled<Scalar>(_ perChannel: [Scalar]) -> [Scalar] {
            precondition(perChannel.count == channelCount)
            guard rowsPerGroup > 1 else { return perChannel }
            return (0..<width).map { perChannel[$0 % channelCount] }
        }

        /// `perChannel[j % channelCount]` for `j` in `0..<width + Fused.width`: what the interleaved
        /// elementwise loops load, with `width` as their period, so that a vector starting at any group
        /// position reads `Fused.width` consecutive positions, wrapping at the end of the group row.
        func periodic<Scalar>(_ perChannel: [Scalar]) -> [Scalar] {
            precondition(perChannel.count == channelCount)
            guard channelCount > 0 else { return [] }
            // Whole copies of `perChannel`, then the start of one more (no division per value).
            let count = width + Fused.width
            var result = [Scalar]()
            result.reserveCapacity(count)
            while result.count < count { result.append(contentsOf: perChannel.prefix(count - result.count)) }
            return result
        }

        /// The `channelCount` per-channel totals of `grouped`: `parts` consecutive blocks of `width`
        /// group-position sums, added part by part and, within a part, position by position in order.
        func channelTotals(_ grouped: [Double], parts: Int) -> [Double] {
            precondition(grouped.count == parts * width)
            var totals = [Double](repeating: 0, count: channelCount)
            for position in 0..<(parts * rowsPerGroup) {
                for channel in 0..<channelCount { totals[channel] += grouped[position * channelCount + channel] }
            }
            return totals
        }

        private static func greatestCommonDivisor(_ a: Int, _ b: Int) -> Int {
            var (a, b) = (a, b)
            while b != 0 { (a, b) = (b, a % b) }
            return a
        }
    }
}
