/// A tensor seen as rows for the interleaved loops: channels-last rows (narrow ones grouped), or a
/// channels-first tensor with short runs seen as rows of whole samples.
///
/// **Narrow channels-last rows.** A channels-last tensor with few channels (3 for an image's colours, 16
/// or 32 in a small network) has rows shorter than one 16-lane vector, or a few vectors long: the row
/// loops then spend their time in per-row scalar heads and tails, and their in-memory accumulators are
/// reloaded a few instructions after they were stored. `rowsPerGroup` consecutive rows are one "group
/// row" of `width` values, a multiple of the vector width (so every group row starts at the same
/// alignment as the first) and of the channel count (so value `j` of every group row belongs to channel
/// `j % channelCount`).
///
/// **Short channels-first runs.** A channels-first tensor `[N, C, *spatial]` whose spatial size `S` is
/// small (3x3, 5x5, a short sequence) is `N` rows of `C·S` values, value `j` of a row belonging to channel
/// `j / S`. The run loops pay a per-run cost (the coefficients, the reduction's lane sums and its tail in
/// `Double`) that dominates runs of a few values: 3x3 runs took 10x the time of the same tensor in
/// channels-last (docs/BENCHMARK_NOTES.md, "Short channels-first runs"). As rows, the interleaved loops
/// stream them with per-value coefficient arrays (``tiled(_:)``, ``periodic(_:)``).
///
/// The loops run over group rows as if the tensor had `width` channels ("positions"), with the
/// per-channel arrays expanded to positions; the reductions' `width` sums are folded back into
/// `channelCount` sums (``channelTotals(_:parts:)``). Each output value is computed by the same operations
/// as without grouping; only the order in which a channel's values are summed changes (each position
/// accumulates its rows, then the positions are added), which keeps the same per-lane error bound.
extension Fused {
    struct RowGrouping {
        let channelCount: Int
        /// Tensor rows per group row (1 for short channels-first runs).
        let rowsPerGroup: Int
        /// Consecutive values of one channel in a row: the spatial size of short channels-first runs,
        /// else 1.
        let runLength: Int

        /// Values per group row: the loops' number of positions.
        var width: Int { channelCount * rowsPerGroup * runLength }

        /// Values per tensor row (one sample of short channels-first runs).
        var rowLength: Int { channelCount * runLength }

        /// Group rows at least this many values long (256 bytes of `Float`): shorter row loops measured
        /// up to 3x slower per value, and 128-value groups of 64-channel rows slowed the 32x56x56x64
        /// training forward by 14% (docs/BENCHMARK_NOTES.md, "Narrow channels-last rows").
        static let minimumWidth = 64

        /// The row view of `geometry`, or `nil` for channels-first runs that the run loops take.
        ///
        /// - Channels-last (`innerCount == 1`): rows of `channelCount` values, grouped when narrow.
        /// - Channels-first: rows of samples when the runs are short and a row's per-position arrays
        ///   (the loops read three to five beside the data) stay in cache. A run shorter than one 16-lane
        ///   vector has no vector step in the run loops, so rows win while each array is up to 128 KiB
        ///   (L2); a run of one to three vectors costs the run loops little, so rows win only while each
        ///   array is up to 16 KiB (L1 and its neighbour). Beyond those the coefficient loads from L2 and
        ///   L3 cost more than the runs' overhead: 7x7 runs of 256 channels (12,544 positions) took
        ///   twice as long as rows (docs/BENCHMARK_NOTES.md, "Short channels-first runs"). The reductions
        ///   split rows over the `parts`: a tensor with fewer samples than parts stays in runs there, which
        ///   the threads share (the elementwise steps split values and ask with one part).
        init?<Scalar>(geometry: ChannelGeometry, scalar: Scalar.Type, parts: Int) {
            let runLength = geometry.innerCount
            if runLength == 1 {
                self.init(channelCount: geometry.channelCount)
                return
            }
            let arrayBytes = geometry.channelCount * runLength * MemoryLayout<Scalar>.stride
            let fitsCache = runLength < Fused.width ? arrayBytes <= Self.shortRunArrayBytes
                : runLength < Self.longestRowRun && arrayBytes <= Self.vectorRunArrayBytes
            guard fitsCache, geometry.outerCount >= parts else { return nil }
            self.init(channelCount: geometry.channelCount, rowsPerGroup: 1, runLength: runLength)
        }

        /// Per-position array bytes up to which runs shorter than a vector are read as rows.
        static let shortRunArrayBytes = 128 << 10
        /// Per-position array bytes up to which runs of one to three vectors are read as rows.
        static let vectorRunArrayBytes = 16 << 10
        /// Channels-first runs this long or longer always go to the run loops.
        static let longestRowRun = 64

        /// The grouping for rows of `channelCount` values: none (one row per group) when a row is
        /// already `minimumWidth` values or longer.
        init(channelCount: Int) {
            self.channelCount = channelCount
            runLength = 1
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
            Self(channelCount: channelCount, rowsPerGroup: 1, runLength: 1)
        }

        private init(channelCount: Int, rowsPerGroup: Int, runLength: Int) {
            self.channelCount = channelCount
            self.rowsPerGroup = rowsPerGroup
            self.runLength = runLength
        }

        /// Calls `body(firstValue, rowCount, rowLength)` for the group rows of the tensor rows `rows`
        /// (`rowLength == width`), then for the rows left over, fewer than a group (`rowLength ==
        /// channelCount`); `firstValue` is the offset of the first of them. Blocks of no rows are skipped.
        func forEachBlock(of rows: Range<Int>, _ body: (_ firstValue: Int, _ rowCount: Int, _ rowLength: Int) -> Void) {
            let groups = rows.count / rowsPerGroup
            let first = rows.lowerBound * rowLength
            if groups > 0 { body(first, groups, width) }
            let rest = rows.count - groups * rowsPerGroup
            if rest > 0 { body(first + groups * width, rest, channelCount) }
        }

        /// `perChannel` (`channelCount` values) expanded to positions: `width` values.
        func tiled<Scalar>(_ perChannel: [Scalar]) -> [Scalar] {
            precondition(perChannel.count == channelCount)
            guard width != channelCount else { return perChannel }
            return [Scalar](unsafeUninitializedCapacity: width) { positions, initialized in
                guard let base = positions.baseAddress else { return }
                initializeTiled(perChannel, at: base, vectorCopy: false)
                initialized = width
            }
        }

        /// The value of position `j % width` for `j` in `0..<width + Fused.width`: what the interleaved
        /// elementwise loops load, with `width` as their period, so that a vector starting at any
        /// position reads `Fused.width` consecutive positions, wrapping at the end of the group row.
        /// Built in place, a run's value repeated and the row's start copied after it: for tensors of few
        /// samples these arrays are about as large as the tensor, and built by appending slices they took
        /// as long as reading it (docs/BENCHMARK_NOTES.md, "The per-call arrays of few-sample tensors").
        func periodic<Scalar>(_ perChannel: [Scalar]) -> [Scalar] {
            precondition(perChannel.count == channelCount)
            guard channelCount > 0 else { return [] }
            return [Scalar](unsafeUninitializedCapacity: periodicCount) { positions, initialized in
                guard let base = positions.baseAddress else { return }
                initializePeriodic(perChannel, at: base)
                initialized = periodicCount
            }
        }

        /// The length of a ``periodic(_:)`` array: `width + Fused.width`.
        var periodicCount: Int { width + Fused.width }

        /// Initializes ``periodicCount`` values from `base` as ``periodic(_:)`` of `perChannel` (scratch
        /// memory instead of an array: ``ScratchMemory``). `channelCount` must be at least 1.
        func initializePeriodic<Scalar>(_ perChannel: [Scalar], at base: UnsafeMutablePointer<Scalar>) {
            precondition(perChannel.count == channelCount && channelCount > 0)
            initializeTiled(perChannel, at: base, vectorCopy: true)
            initializePeriodicTail(at: base)
        }

        /// Initializes the positions of a periodic array from `width` on, after its first `width` (the
        /// per-channel values tiled) are in place.
        func initializePeriodicTail<Scalar>(at base: UnsafeMutablePointer<Scalar>) {
            let count = periodicCount
            // Whole copies of the row, then the start of one more (a row may be narrower than a vector).
            var position = width
            while position < count {
                let copied = min(width, count - position)
                (base + position).initialize(from: base, count: copied)
                position += copied
            }
        }

        /// Initializes `width` positions from `base` with their channels' values of `perChannel`; the rows of
        /// channels copied by `memmove`, or with `vectorCopy` by ``copyBytes(from:to:count:)``.
        private func initializeTiled<Scalar>(
            _ perChannel: [Scalar], at base: UnsafeMutablePointer<Scalar>, vectorCopy: Bool
        ) {
            perChannel.withUnsafeBufferPointer { values in
                guard let first = values.baseAddress else { return }
                if runLength > 1 {
                    for channel in 0..<channelCount {
                        (base + channel * runLength).initialize(repeating: values[channel], count: runLength)
                    }
                } else {
                    for group in 0..<rowsPerGroup {
                        if vectorCopy {
                            Self.copyBytes(from: UnsafeRawPointer(first), to: UnsafeMutableRawPointer(base + group * channelCount),
                                           count: channelCount * MemoryLayout<Scalar>.stride)
                        } else {
                            (base + group * channelCount).initialize(from: first, count: channelCount)
                        }
                    }
                }
            }
        }

        /// The `channelCount` per-channel totals of `grouped`: `parts` consecutive blocks of `width`
        /// position sums, added part by part and, within a part, position by position in order.
        func channelTotals(_ grouped: [Double], parts: Int) -> [Double] {
            precondition(grouped.count == parts * width)
            var totals = [Double](repeating: 0, count: channelCount)
            totals.withUnsafeMutableBufferPointer { totals in
                grouped.withUnsafeBufferPointer { grouped in
                    for part in 0..<parts { addPositions(grouped, from: part * width, into: totals) }
                }
            }
            return totals
        }

        /// ``channelTotals(_:parts:)`` of two arrays of partial sums. Rows of many channels (ungrouped, `width` at
        /// least ``parallelTotalsWidth``) merge their channels on the threads, each its own channels: every
        /// channel's additions are the same, in the same order, so the same bits as one thread.
        func channelTotals(_ first: [Double], _ second: [Double], parts: Int) -> (first: [Double], second: [Double]) {
            let threads = min(parts, Fused.threadLimit)
            guard threads > 1, rowsPerGroup == 1, runLength == 1, width >= Self.parallelTotalsWidth else {
                return (channelTotals(first, parts: parts), channelTotals(second, parts: parts))
            }
            precondition(first.count == parts * width && second.count == parts * width)
            let width = width, channelCount = channelCount
            var firstTotals = [Double](), secondTotals = [Double]()
            first.withUnsafeBufferPointer { first in
            second.withUnsafeBufferPointer { second in
                guard let firstBase = first.baseAddress, let secondBase = second.baseAddress else { return }
                firstTotals = ChannelLoops.array(count: channelCount) { firstOut in
                secondTotals = ChannelLoops.array(count: channelCount) { secondOut in
                    let shared = UncheckedSendableBox((firstBase, secondBase, firstOut, secondOut))
                    Fused.forEachPart(threads) { thread in
                        let (first, second, firstOut, secondOut) = shared.value
                        let channels = Fused.slice(channelCount, part: thread, of: threads)
                        // Four channels a step, each total kept in a register over the parts: `0 + p0 + p1 ...`
                        // in part order, the serial loop's additions.
                        var channel = channels.lowerBound
                        while channel + 4 <= channels.upperBound {
                            var firstTotal = SIMD4<Double>(repeating: 0), secondTotal = SIMD4<Double>(repeating: 0)
                            for part in 0..<parts {
                                firstTotal += UnsafeRawPointer(first + part * width + channel)
                                    .loadUnaligned(as: SIMD4<Double>.self)
                                secondTotal += UnsafeRawPointer(second + part * width + channel)
                                    .loadUnaligned(as: SIMD4<Double>.self)
                            }
                            UnsafeMutableRawPointer(firstOut + channel).storeBytes(of: firstTotal, as: SIMD4<Double>.self)
                            UnsafeMutableRawPointer(secondOut + channel).storeBytes(of: secondTotal, as: SIMD4<Double>.self)
                            channel += 4
                        }
                        for channel in channel..<channels.upperBound {
                            var firstTotal = 0.0, secondTotal = 0.0
                            for part in 0..<parts {
                                firstTotal += first[part * width + channel]
                                secondTotal += second[part * width + channel]
                            }
                            (firstOut + channel).initialize(to: firstTotal)
                            (secondOut + channel).initialize(to: secondTotal)
                        }
                    }
                }}
            }}
            return (firstTotals, secondTotals)
        }

        /// Positions from which ``channelTotals(_:_:parts:)`` merges on the threads (256 KiB of `Double` partial
        /// sums a part): the merge of `[8, 65536]`'s two parts took a sixth of its backward at 2 threads, on
        /// the calling thread (docs/BENCHMARK_NOTES.md, "The merge and zeroing of few rows' partial sums").
        static let parallelTotalsWidth = 1 << 15

        /// Per-channel means from the sums of each value of a tensor row over `rows` rows (`rowLength`
        /// sums): added by channel in row order, then divided once by the channel's value count.
        func channelMeans(ofRowSums sums: [Double], rows: Int) -> [Double] {
            ChannelLoops.quotients(channelTotals(ofRowSums: sums), dividingBy: Double(rows * runLength))
        }

        /// Per-channel totals of the sums of each value of a tensor row (`rowLength` sums), added by channel
        /// in position order.
        func channelTotals(ofRowSums sums: [Double]) -> [Double] {
            precondition(sums.count == rowLength)
            guard runLength > 1 else { return sums }
            // Short runs are never grouped: a tensor row is a group row.
            var totals = [Double](repeating: 0, count: channelCount)
            totals.withUnsafeMutableBufferPointer { totals in
                sums.withUnsafeBufferPointer { sums in addPositions(sums, from: 0, into: totals) }
            }
            return totals
        }

        /// Adds the `width` position values from `values[first]` into their channels' `totals`, in
        /// position order (no division per position: a channel's positions are consecutive, or the
        /// group's rows are).
        private func addPositions(
            _ values: UnsafeBufferPointer<Double>, from first: Int, into totals: UnsafeMutableBufferPointer<Double>
        ) {
            var position = first
            if runLength > 1 {
                // Four channels at once: four chains of additions side by side, each channel's positions
                // still in order (so the same bits), where one channel at a time waited on each addition.
                var channel = 0
                while channel + 4 <= channelCount {
                    var total = SIMD4(totals[channel], totals[channel + 1], totals[channel + 2], totals[channel + 3])
                    for offset in 0..<runLength {
                        let at = position + offset
                        total += SIMD4(values[at], values[at + runLength], values[at + 2 * runLength],
                                       values[at + 3 * runLength])
                    }
                    for lane in 0..<4 { totals[channel + lane] = total[lane] }
                    channel += 4
                    position += 4 * runLength
                }
                for channel in channel..<channelCount {
                    var total = totals[channel]
                    for _ in 0..<runLength {
                        total += values[position]
                        position += 1
                    }
                    totals[channel] = total
                }
            } else {
                for _ in 0..<rowsPerGroup {
                    for channel in 0..<channelCount {
                        totals[channel] += values[position]
                        position += 1
                    }
                }
            }
        }

        /// Copies `count` bytes in 32-byte vectors: the scratch arrays' copy (``initializePeriodic(_:at:)``,
        /// 128 KiB and more). glibc's (2.36) `memmove` copies such sizes with `rep movsb`, which on the Zen 3
        /// host took 80 µs for the 256 KiB of a 65,536-channel array inside an inference call (7 µs in a
        /// loop of its own); this loop made the call of `[2, 65536]` 0.23 → 0.13 ms. The arrays below 128
        /// KiB keep `memmove`, which was the faster there (`[32, 16384]` 0.104 against 0.133 ms)
        /// (docs/BENCHMARK_NOTES.md, "Per-call scratch memory for few-row tensors"). Out of line, so that
        /// the loop is not recognized as a `memcpy` where it is inlined.
        @inline(never)
        private static func copyBytes(from source: UnsafeRawPointer, to destination: UnsafeMutableRawPointer, count: Int) {
            var offset = 0
            while offset + 32 <= count {
                destination.storeBytes(of: source.loadUnaligned(fromByteOffset: offset, as: SIMD32<UInt8>.self),
                                       toByteOffset: offset, as: SIMD32<UInt8>.self)
                offset += 32
            }
            while offset < count {
                destination.storeBytes(of: source.load(fromByteOffset: offset, as: UInt8.self), toByteOffset: offset, as: UInt8.self)
                offset += 1
            }
        }

        private static func greatestCommonDivisor(_ a: Int, _ b: Int) -> Int {
            var (a, b) = (a, b)
            while b != 0 { (a, b) = (b, a % b) }
            return a
        }
    }
}

extension FusedTuning {
    /// Whether the fused passes read a tensor of `geometry` as rows (channels-last, or short
    /// channels-first runs as rows of samples) when split into `parts` parts, rather than as runs: the
    /// choice `ShortRunTests` pins.
    package static func readsRows<Scalar: BatchNormScalar>(
        _ geometry: ChannelGeometry, _: Scalar.Type, parts: Int
    ) -> Bool {
        Fused.RowGrouping(geometry: geometry, scalar: Scalar.self, parts: parts) != nil
    }
}
