/// The fused path: whole passes in Swift SIMD, reading the tensor from memory as few times as the
/// layout allows and using `Fused.threadCount` threads.
///
/// - Channels-first: the `outer × channel` runs are split into consecutive ranges, one per thread, and
///   read in memory order; each thread keeps its own per-channel partial sums, merged afterwards.
///   Training reads `x` twice (moments, then the elementwise step) and writes `y` once.
/// - Channels-last: work is split by rows; every thread merges per-channel moments of its rows, the
///   partial moments are merged (Chan), then the elementwise step streams the rows again.
///
/// Per-channel folding runs in `Double`; the mean is split into a rounded value and its residual,
/// which the elementwise step subtracts (`(x - high) * scale + (shift - low * scale)`).
enum FusedPasses {
    // MARK: - Moments

    /// Per-channel moments in `Double`: one pass about a shift (see `Fused.momentsFromShiftedSums`),
    /// falling back to the block two-pass with Chan merging where the shift was poor.
    static func moments<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, geometry: ChannelGeometry, shiftedSums: ShiftedSums<Scalar>? = nil
    ) -> [MomentsAccumulator] {
        var result = unscaledMoments(input, geometry: geometry, shiftedSums: shiftedSums)
        // Overflow (or NaN/infinity in the data) leaves a non-finite mean or M2: recompute those
        // channels exactly scaled.
        for channel in result.indices where !(result[channel].mean.isFinite && result[channel].sumOfSquaredDeviations.isFinite) {
            result[channel] = ScaledMoments.channel(input, geometry: geometry, channel: channel)
        }
        return result
    }

    /// ``moments(_:geometry:shiftedSums:)`` before the overflow check. `shiftedSums`, when given, are
    /// ``shiftedSums(_:geometry:)`` of `input`, already taken.
    static func unscaledMoments<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, geometry: ChannelGeometry, shiftedSums: ShiftedSums<Scalar>? = nil
    ) -> [MomentsAccumulator] {
        let parts = Fused.threadCount(for: geometry, Scalar.self, reduces: true)
        guard let grouping = Fused.RowGrouping(geometry: geometry, scalar: Scalar.self, parts: parts) else {
            return runOrderMoments(input, geometry: geometry, parts: parts)
        }
        let sums = shiftedSums ?? interleavedShiftedSums(input, geometry: geometry, grouping: grouping, parts: parts)
        var (result, rejectedChannels) = ChannelLoops.momentsFromShiftedSums(
            count: sums.count, shift: sums.shift, sums: sums.sums, sumsOfSquares: sums.squares)
        guard !rejectedChannels.isEmpty else { return result }
        // Channels whose shift was poor (or whose sums are not finite) take an exact fallback; every
        // other channel keeps its shifted moments, so a NaN or a far-off channel cannot move the
        // rounding of its neighbours (a mean of exactly 0, and so a ReLU's mask, would shift).
        // (Channels-last rows refined to a two-word mean here; short channels-first runs in `runOrderMoments`.)
        if geometry.innerCount == 1 {
            let exact = interleavedBlockMoments(input, geometry: geometry, parts: parts)
            let refined = Fused.refinedMoments(
                rejectedChannels.map { exact[$0] }, input, geometry: geometry, channels: rejectedChannels)
            for (channel, moments) in zip(rejectedChannels, refined) { result[channel] = moments }
        } else {
            let exact = runOrderMoments(input, geometry: geometry, parts: parts)  // short channels-first runs
            for channel in rejectedChannels { result[channel] = exact[channel] }
        }
        return result
    }

    /// Moments of a tensor read as rows of `channelCount` values (`innerCount == 1`): each thread's rows
    /// in blocks merged by Chan's formula, then the threads' partials merged; the fallback of
    /// ``unscaledMoments(_:geometry:shiftedSums:)`` where a channel's shift was poor.
    static func interleavedBlockMoments<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, geometry: ChannelGeometry, parts: Int
    ) -> [MomentsAccumulator] {
        let channelCount = geometry.channelCount
        var partials = [MomentsAccumulator](repeating: .init(), count: channelCount * parts)
        partials.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let shared = Fused.SharedPointer(base: base)
            Fused.forEachPart(parts) { part in
                let rows = Fused.slice(geometry.outerCount, part: part, of: parts)
                Fused.interleavedMoments(
                    input + rows.lowerBound * channelCount, rows: rows.count, channelCount: channelCount,
                    into: shared.base + part * channelCount)
            }
        }
        var result = [MomentsAccumulator](repeating: .init(), count: channelCount)
        for part in 0..<parts {
            for channel in 0..<channelCount { result[channel].merge(partials[part * channelCount + channel]) }
        }
        return result
    }

    /// Channels-first moments with the runs read in memory order: one pass about each channel's
    /// first-block mean, partial sums per thread, the exact per-channel path where the shift was poor.
    static func runOrderMoments<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, geometry: ChannelGeometry, parts: Int
    ) -> [MomentsAccumulator] {
        let channelCount = geometry.channelCount, runLength = geometry.innerCount
        let shift = (0..<channelCount).map { channel in
            Scalar(Fused.blockMoments(input + channel * runLength, min(runLength, Fused.blockLength)).mean)
        }
        var sums = [Double](repeating: 0, count: channelCount * parts)
        var squares = [Double](repeating: 0, count: channelCount * parts)
        sums.withUnsafeMutableBufferPointer { sumsBuffer in
        squares.withUnsafeMutableBufferPointer { squaresBuffer in
            guard let sumsBase = sumsBuffer.baseAddress, let squaresBase = squaresBuffer.baseAddress else { return }
            let shared = UncheckedSendableBox((sumsBase, squaresBase))
            Fused.forEachPart(parts) { part in
                let partSums = shared.value.0 + part * channelCount
                let partSquares = shared.value.1 + part * channelCount
                let runs = Fused.slice(geometry.outerCount * channelCount, part: part, of: parts)
                guard !runs.isEmpty else { return }
                shift.withUnsafeBufferPointer { shift in
                    if let shiftBase = shift.baseAddress, Fused.WideLoops.shiftedSumsRuns(
                        input, runs: runs, runLength: runLength, channelCount: channelCount, shift: shiftBase,
                        sums: partSums, squares: partSquares) { return }
                    var channel = runs.lowerBound % channelCount
                    for run in runs {
                        let runSums = Fused.shiftedSums(input + run * runLength, runLength, shift: shift[channel])
                        partSums[channel] += runSums.sum
                        partSquares[channel] += runSums.sumOfSquares
                        channel = channel + 1 == channelCount ? 0 : channel + 1
                    }
                }
            }
        }}
        let count = Double(geometry.valuesPerChannel)
        return (0..<channelCount).map { channel in
            var sum = 0.0, sumOfSquares = 0.0
            for part in 0..<parts {
                sum += sums[part * channelCount + channel]
                sumOfSquares += squares[part * channelCount + channel]
            }
            if let moments = Fused.momentsFromShiftedSums(
                count: count, shift: Double(shift[channel]), sum: sum, sumOfSquares: sumOfSquares) {
                return moments
            }
            var moments = MomentsAccumulator()
            for outer in 0..<geometry.outerCount {
                Fused.runMoments(input + (outer * channelCount + channel) * runLength, runLength, into: &moments)
            }
            return Fused.refinedMoments([moments], input, geometry: geometry, channels: [channel])[0]
        }
    }

    /// The per-channel sums of a tensor read as rows (`grouping`: channels-last, or short channels-first
    /// runs) about the mean of the first rows, in one pass after those rows'; ``ChannelLoops`` turns them
    /// into moments, or finds some channel ill-conditioned for that shift (or non-finite). A `Float` tensor
    /// whose rows are all first rows (at most 64 rows of channels, or the samples that give a channel 32
    /// values) is read once (``centeredShiftedSums(_:geometry:grouping:parts:)``): 2-D `[32...64, C]`
    /// training forwards 4-15% faster, short runs of 2-4 samples 7-22% (docs/BENCHMARK_NOTES.md, "Moments
    /// of few rows in one read"), and rows far off zero no slower (entry "Moments of few rows about their
    /// first values").
    static func interleavedShiftedSums<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, geometry: ChannelGeometry, grouping: Fused.RowGrouping, parts: Int
    ) -> ShiftedSums<Scalar> {
        // The shift from the first rows: 64 channels-last rows; of short channels-first runs the fewest
        // samples that give each channel 32 values, as the run loops' first block does. Fewer values put
        // the shift more than a standard deviation from the mean too often: with 9 values (one 3x3 run)
        // 0.3% of the channels, so a 2,048-channel tensor fell back to the exact two-pass on most calls.
        let headRows = grouping.runLength == 1 ? min(geometry.outerCount, 64)
            : min(geometry.outerCount, (32 + grouping.runLength - 1) / grouping.runLength)
        if headRows == geometry.outerCount && Scalar.self == Float.self {
            return centeredShiftedSums(input, geometry: geometry, grouping: grouping, parts: parts)
        }
        let head = headRowSums(input, rows: headRows, rowLength: grouping.rowLength, parts: parts)
        let shift = ChannelLoops.map(grouping.channelMeans(ofRowSums: head.sums, rows: headRows)) { Scalar($0) }
        // Rows are summed as group rows of `width` positions, then folded back to channels.
        let width = grouping.width
        let choices = Fused.rowLoopChoices(geometry, Scalar.self)
        var sums = Fused.partialSums(width: width, parts: parts)
        var squares = Fused.partialSums(width: width, parts: parts)
        grouping.tiled(shift).withUnsafeBufferPointer { shiftBuffer in
        sums.withUnsafeMutableBufferPointer { sumsBuffer in
        squares.withUnsafeMutableBufferPointer { squaresBuffer in
            guard let shiftBase = shiftBuffer.baseAddress, let sumsBase = sumsBuffer.baseAddress,
                  let squaresBase = squaresBuffer.baseAddress else { return }
            let shared = UncheckedSendableBox((shiftBase, sumsBase, squaresBase))
            Fused.forEachPart(parts) { part in
                let rows = Fused.slice(geometry.outerCount, part: part, of: parts)
                let (shiftPointer, sumsPointer, squaresPointer) = shared.value
                (sumsPointer + part * width).initialize(repeating: 0, count: width)
                (squaresPointer + part * width).initialize(repeating: 0, count: width)
                // The leftover rows add into the first row of the group's sums (the shift's first
                // `channelCount` values are the per-channel ones).
                grouping.forEachBlock(of: rows) { firstValue, rowCount, rowLength in
                    Fused.interleavedShiftedSums(
                        input + firstValue, rows: rowCount, channelCount: rowLength,
                        shift: shiftPointer, sums: sumsPointer + part * width, squares: squaresPointer + part * width,
                        choices: choices)
                }
            }
        }}}
        let totals = grouping.channelTotals(sums, squares, parts: parts)
        return ShiftedSums(
            valueCount: geometry.valuesPerChannel, shift: shift, sums: totals.first, squares: totals.second)
    }

    /// The shifted sums of a `Float` tensor whose rows are all the shift's first rows, in one read: each
    /// value's `d = Double(x) - c` about a center `c` of its channel, and `d·d`, added in `Double` (the head
    /// rows' loop); the shift is `Float(c + Σd/M)`, and the sums about it come from `Σd` and `Σd²`
    /// (``Fused/shiftedSums(fromCenteredSums:squares:centers:shift:count:)``). `c` is +0 (the raw `Σx`,
    /// `Σx²`) unless the tensor is rows of channels (channels-last, `[N, C]`) and the channel's first value
    /// looks far from zero against its spread (``centersOnFirstValue(_:_:_:)``); then it is that value. A
    /// channel the sums do not suit (a first value far out among its others, NaN or infinity, `S2` beyond
    /// `Float`'s range, or a far-off mean on +0) sums its deviations from the shift in `Double`
    /// (``exactShiftedSums``). Each channel's center, and so its sums, depend on its own values alone.
    static func centeredShiftedSums<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, geometry: ChannelGeometry, grouping: Fused.RowGrouping, parts: Int
    ) -> ShiftedSums<Scalar> {
        let channelCount = geometry.channelCount, rows = geometry.outerCount
        let count = Double(geometry.valuesPerChannel)
        // Three rows to test a channel by. Short channels-first runs keep the raw sums: a version that tested
        // them read 2x256x4x4 and 8x128x2x2 (8-20 µs calls) about 5% slower, near the host's noise but in
        // every run.
        let (centers, centeredPositions) = geometry.innerCount == 1 && rows > 2
            ? rowCenters(UnsafeRawPointer(input).assumingMemoryBound(to: Float.self), channelCount: channelCount)
            : (nil, nil)
        let head = headRowSums(
            input, rows: rows, rowLength: grouping.rowLength, parts: parts, withSquares: true, centers: centers,
            centeredPositions: centeredPositions)
        guard let headSquares = head.squares else { preconditionFailure("squares were asked for") }
        var sums = grouping.channelTotals(ofRowSums: head.sums)
        var squares = grouping.channelTotals(ofRowSums: headSquares)
        // The shift: `Float(c + Σd/M)`; `Float(Σx/M)` where no channel is centered.
        let means = ChannelLoops.quotients(sums, dividingBy: count)
        let shift: [Scalar]
        if let centers {
            shift = ChannelLoops.array(count: channelCount) { shift in
                for channel in 0..<channelCount { shift[channel] = Scalar(centers[channel] + means[channel]) }
            }
        } else {
            shift = ChannelLoops.map(means) { Scalar($0) }
        }
        let rejected = Fused.shiftedSums(
            fromCenteredSums: &sums, squares: &squares, centers: centers, shift: shift, count: count)
        if !rejected.isEmpty {
            exactShiftedSums(
                input, geometry: geometry, grouping: grouping, shift: shift, channels: rejected, parts: parts,
                sums: &sums, squares: &squares)
        }
        return ShiftedSums(valueCount: geometry.valuesPerChannel, shift: shift, sums: sums, squares: squares)
    }

    /// The centers of ``centeredShiftedSums(_:geometry:grouping:parts:)`` for rows of `channelCount` `Float`
    /// channels from `rows` (at least three): `nil` where every center is +0 (data about zero: the raw sums,
    /// as they were), else each channel's (``centersOnFirstValue(_:_:_:)``) and, for up to a 64th of the
    /// channels centered, the ranges of those channels (the loop subtracts only there: the same bits). Out of
    /// line, so the moments of data about zero carry only its first test.
    @inline(never)
    static func rowCenters(
        _ rows: UnsafePointer<Float>, channelCount: Int
    ) -> (centers: [Double]?, centeredPositions: [Range<Int>]?) {
        guard anyCentersOnFirstValue(rows, channelCount: channelCount) else { return (nil, nil) }
        // Eight channels a step, lane by lane the test of `centersOnFirstValue` (the same operations): one
        // channel at a time this loop took 2.7 ns a channel, a quarter of a `[8, 65536]` training forward
        // whose data met the test somewhere (docs/BENCHMARK_NOTES.md, "Per-call scratch memory for few-row
        // tensors"). Over the threads for many channels (`ChannelLoops.mapChannelSlices`), each slice counting its
        // own centered channels; a channel's center is its own, so the same values.
        var centeredBySlice = [Int]()
        let centers: [Double] = ChannelLoops.array(count: channelCount) { centers in
            let shared = UncheckedSendableBox(centers)
            centeredBySlice = ChannelLoops.mapChannelSlices(channelCount) { channels in
                let centers = shared.value
                var centeredCount = 0, channel = channels.lowerBound
                while channel + 8 <= channels.upperBound {
                    let (first, centered) = centersOnFirstValues(rows, channelCount: channelCount, from: channel)
                    let chosen = SIMD8<Float>(repeating: 0).replacing(with: first, where: centered)
                    for lane in 0..<8 { centers[channel + lane] = Double(chosen[lane]) }
                    centeredCount += Int(SIMD8<Int32>(repeating: 0).replacing(with: 1, where: centered).wrappedSum())
                    channel += 8
                }
                for channel in channel..<channels.upperBound {
                    let centered = centersOnFirstValue(
                        rows[channel], rows[channelCount + channel], rows[2 * channelCount + channel])
                    centers[channel] = centered ? Double(rows[channel]) : 0
                    centeredCount += centered ? 1 : 0
                }
                return centeredCount
            }
        }
        let centeredCount = centeredBySlice.reduce(0, +)
        guard centeredCount * 64 <= channelCount else { return (centers, nil) }
        var ranges = [Range<Int>]()
        for channel in 0..<channelCount where centers[channel] != 0 {
            if let last = ranges.last, last.upperBound == channel {
                ranges[ranges.count - 1] = last.lowerBound..<channel + 1
            } else {
                ranges.append(channel..<channel + 1)
            }
        }
        return (centers, ranges)
    }

    /// Whether a channel's one-read sums (``centeredShiftedSums(_:geometry:grouping:parts:)``) are taken about
    /// its first value rather than +0, from its first three values: where both others lie within 1/256 of
    /// the first's magnitude from it (a mean perhaps hundreds of deviations off zero, or a constant channel).
    /// About +0 the sums are the raw `Σx`, `Σx²`, which keep `M2` only for means within about `2^13/√M`
    /// deviations of zero (1,000 for `M = 64`); about the first value a far-off mean costs nothing. Data
    /// about zero meets the test by chance in about one channel in 10^5 (two distances, each under 1/256 of
    /// the value, about 0.2% apiece), so its sums stay raw and the loop subtracts nothing. A wrong guess
    /// costs speed only: a far-off channel left on +0 is rejected and summed again (docs/BENCHMARK_NOTES.md,
    /// "Moments of few rows about their first values"). Squares in `Float`: one overflowing to infinity, or
    /// a NaN, says +0.
    @inline(__always)
    static func centersOnFirstValue(_ first: Float, _ second: Float, _ third: Float) -> Bool {
        let bound = first * (1 / 256), toSecond = second - first, toThird = third - first
        return toSecond * toSecond < bound * bound && toThird * toThird < bound * bound
    }

    /// ``centersOnFirstValue(_:_:_:)`` for the eight channels from `channel` of the three rows of
    /// `channelCount` `Float` channels from `rows`, the same operations lane by lane: the channels' first
    /// values and the lanes that center on them.
    @inline(__always)
    static func centersOnFirstValues(
        _ rows: UnsafePointer<Float>, channelCount: Int, from channel: Int
    ) -> (first: SIMD8<Float>, centered: SIMDMask<SIMD8<Int32>>) {
        @inline(__always) func load(_ pointer: UnsafePointer<Float>) -> SIMD8<Float> {
            UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self)
        }
        let first = load(rows + channel)
        let bound = first * SIMD8(repeating: 1 / 256)
        let toSecond = load(rows + channelCount + channel) - first
        let toThird = load(rows + 2 * channelCount + channel) - first
        return (first, (toSecond * toSecond .< bound * bound) .& (toThird * toThird .< bound * bound))
    }

    /// Whether ``centersOnFirstValue(_:_:_:)`` holds for any channel of the three rows of `channelCount`
    /// `Float` channels from `rows`: eight channels a step, the same operations lane by lane (generic `SIMD8`
    /// arithmetic here ran 14 ns a channel).
    static func anyCentersOnFirstValue(_ rows: UnsafePointer<Float>, channelCount: Int) -> Bool {
        var any = SIMDMask<SIMD8<Int32>>(repeating: false)
        var channel = 0
        while channel + 8 <= channelCount {
            any .|= centersOnFirstValues(rows, channelCount: channelCount, from: channel).centered
            channel += 8
        }
        var anyInTail: UInt8 = 0  // (no `||`: a branch a channel)
        for channel in channel..<channelCount {
            anyInTail |= centersOnFirstValue(rows[channel], rows[channelCount + channel], rows[2 * channelCount + channel])
                ? 1 : 0
        }
        return Swift.any(any) || anyInTail != 0
    }

    /// `sums[c] = Σ(x - shift)`, `squares[c] = Σ(x - shift)²` in `Double` for each `c` of `channels` (of a
    /// tensor read as rows: `geometry`, `innerCount` values a run, one run a row): the shifted sums of the
    /// channels whose raw sums were not accepted (``interleavedShiftedSums(_:geometry:grouping:parts:)``).
    /// Each position of a channel (a value of its run) adds its rows in order, `d = Double(x) -
    /// Double(shift)`, `sum += d`, `squares += d·d`, and the channel adds its positions in order: the same
    /// operations whether one channel is walked alone (few channels: a column of the tensor each) or every
    /// position in one pass over the tensor (from an eighth of the channels; with a large offset all are
    /// rejected, where walking each alone ran 2.4-5x the time of the shifted pass it stands for). So a
    /// channel's sums depend on its values alone, not on how many others were rejected. `Σ(x - shift)²`
    /// beyond `Scalar`'s range reads as infinite, as the `Scalar` loops' sums would: the caller then takes
    /// the channel's exact, scaled route (``Fused/shiftedSums(fromCenteredSums:squares:centers:shift:count:)``).
    static func exactShiftedSums<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, geometry: ChannelGeometry, grouping: Fused.RowGrouping, shift: [Scalar],
        channels: [Int], parts: Int, sums: inout [Double], squares: inout [Double]
    ) {
        let runLength = geometry.innerCount, rowLength = geometry.channelCount * runLength
        let rows = geometry.outerCount
        let largest = Double(Scalar.greatestFiniteMagnitude)
        if channels.count * 8 < geometry.channelCount {
            for channel in channels {
                var sum = 0.0, sumOfSquares = 0.0
                let center = Double(shift[channel])
                for index in 0..<runLength {
                    var positionSum = 0.0, positionSquares = 0.0
                    let column = input + channel * runLength + index
                    for row in 0..<rows {
                        let deviation = Double(column[row * rowLength]) - center
                        positionSum += deviation
                        positionSquares += deviation * deviation
                    }
                    sum += positionSum
                    sumOfSquares += positionSquares
                }
                sums[channel] = sum
                squares[channel] = sumOfSquares <= largest ? sumOfSquares : .infinity
            }
            return
        }
        // Every position at once, in the head rows' loop with centers (the positions split over the threads,
        // each adding its own rows in order).
        // Per position: a channel's own center, or its run's (short runs are never grouped, so their tiling
        // is a tensor row's positions).
        let channelCenters = ChannelLoops.map(shift) { Double($0) }
        let centers = runLength == 1 ? channelCenters : grouping.tiled(channelCenters)
        let (positionSums, positionSquares) = headRowSums(
            input, rows: rows, rowLength: rowLength, parts: parts, withSquares: true, centers: centers)
        guard let positionSquares else { preconditionFailure("squares were asked for") }
        positionSums.withUnsafeBufferPointer { positionSums in
        positionSquares.withUnsafeBufferPointer { positionSquares in
        sums.withUnsafeMutableBufferPointer { sums in
        squares.withUnsafeMutableBufferPointer { squares in
            for channel in channels {
                // A channel's positions in order, as the walk's `0 + s_0 + s_1 ...`: position sums start at +0
                // and so are never -0, and 0 + x = x for every other x.
                var sum = positionSums[channel * runLength], sumOfSquares = positionSquares[channel * runLength]
                for position in channel * runLength + 1..<(channel + 1) * runLength {
                    sum += positionSums[position]
                    sumOfSquares += positionSquares[position]
                }
                sums[channel] = sum
                squares[channel] = sumOfSquares <= largest ? sumOfSquares : .infinity
            }
        }}}}
    }

    /// The sums of each value of the first `rows` rows (`rowLength` values each), added in `Double` in
    /// row order: the shift of ``interleavedShiftedMoments(_:geometry:grouping:parts:)``, once divided
    /// (``Fused/RowGrouping/channelMeans(ofRowSums:rows:)``), and `withSquares` the sums of their squares
    /// likewise. The values of a row are split over `parts` threads (each value's rows stay in order, so
    /// the sums do not depend on the split): for short channels-first runs these rows are whole samples, a
    /// quarter of a 16-sample 3x3 tensor. With `centers` (only with squares) each value is first less its
    /// position's center; `centeredPositions`, sorted ranges outside which every center is +0, lets the
    /// loop skip the subtraction there (the same bits).
    ///
    /// Row by row, four rows per visit of the sums (a column walk would read rows 4-8 KB apart for
    /// 1-2k channels), written to vectorize: as a subscripted array loop it took a sixth of the
    /// moments' time on 32x7x7x2048 (docs/BENCHMARK_NOTES.md, "Serial per-channel work").
    static func headRowSums<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, rows: Int, rowLength: Int, parts: Int, withSquares: Bool = false,
        centers: [Double]? = nil, centeredPositions: [Range<Int>]? = nil
    ) -> (sums: [Double], squares: [Double]?) {
        precondition(centers == nil || (withSquares && centers?.count == rowLength))
        precondition(centeredPositions == nil || centers != nil)
        var sums = [Double](repeating: 0, count: rowLength)
        var squares = [Double](repeating: 0, count: withSquares ? rowLength : 0)
        let centerValues = centers ?? []
        sums.withUnsafeMutableBufferPointer { buffer in
        squares.withUnsafeMutableBufferPointer { squaresBuffer in
        centerValues.withUnsafeBufferPointer { centersBuffer in
            guard let base = buffer.baseAddress else { return }
            let shared = Fused.SharedPointer(base: base)
            // An empty array may still have a base address: the squares' and centers' only where asked for.
            let sharedSquares = withSquares ? squaresBuffer.baseAddress.map { Fused.SharedPointer(base: $0) } : nil
            let sharedCenters = UncheckedSendableBox((centers == nil ? nil : centersBuffer.baseAddress, centeredPositions))
            // One thread below the fork-join threshold, as for whole tensors.
            let headParts = min(parts, Fused.threadCount(elementCount: rows * rowLength))
            Fused.forEachPart(headParts) { part in
                let (centers, centeredPositions) = sharedCenters.value
                func add(_ positions: Range<Int>, centered: Bool) {
                    addHeadRows(input + positions.lowerBound, rows: rows, rowLength: rowLength,
                                count: positions.count, into: shared.base + positions.lowerBound,
                                squares: sharedSquares.map { $0.base + positions.lowerBound },
                                centers: centered ? centers.map { $0 + positions.lowerBound } : nil)
                }
                let positions = Fused.slice(rowLength, part: part, of: headParts)
                guard let centeredPositions else { return add(positions, centered: centers != nil) }
                // Between the centered ranges every center is +0, and `v - (+0)` is `v`: those positions add
                // their values as they are, the same bits without the subtraction. Each position still adds
                // its rows in order, so the split changes nothing.
                var position = positions.lowerBound
                for range in centeredPositions where range.upperBound > position && range.lowerBound < positions.upperBound {
                    let start = max(range.lowerBound, position), end = min(range.upperBound, positions.upperBound)
                    if start > position { add(position..<start, centered: false) }
                    add(start..<end, centered: true)
                    position = end
                }
                if position < positions.upperBound { add(position..<positions.upperBound, centered: false) }
            }
        }}}
        return (sums, withSquares ? squares : nil)
    }

    /// `sums[j] += Σ_row input[row · rowLength + j]` for `j < count`, rows in order, four per visit, and
    /// with `squares` `squares[j] += Σ_row input[row · rowLength + j]²` likewise (each square in `Double`);
    /// with `centers` (only with `squares`) each value is `Double(value) - centers[j]` first.
    /// Where the CPU has AVX2, the C loop (``Fused/WideLoops/addHeadRows(_:rows:rowLength:count:into:squares:centers:)``)
    /// does the same operations eight positions a step: 5-10% of the training forward of `[64...128, C]`
    /// tensors, whose head is half or all of the tensor (docs/BENCHMARK_NOTES.md, "The shift's head rows").
    private static func addHeadRows<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, rows: Int, rowLength: Int, count: Int, into sums: UnsafeMutablePointer<Double>,
        squares: UnsafeMutablePointer<Double>?, centers: UnsafePointer<Double>?
    ) {
        if Fused.WideLoops.addHeadRows(
            input, rows: rows, rowLength: rowLength, count: count, into: sums, squares: squares, centers: centers) {
            return
        }
        @inline(__always) func value(_ values: UnsafePointer<Scalar>, _ position: Int) -> Double {
            if let centers { return Double(values[position]) - centers[position] }
            return Double(values[position])
        }
        var row = 0
        while row + 4 <= rows {
            let first = input + row * rowLength, second = first + rowLength
            let third = second + rowLength, fourth = third + rowLength
            for position in 0..<count {
                let a = value(first, position), b = value(second, position)
                let c = value(third, position), d = value(fourth, position)
                var sum = sums[position]
                sum += a
                sum += b
                sum += c
                sum += d
                sums[position] = sum
                if let squares {
                    var square = squares[position]
                    square += a * a
                    square += b * b
                    square += c * c
                    square += d * d
                    squares[position] = square
                }
            }
            row += 4
        }
        while row < rows {
            let values = input + row * rowLength
            for position in 0..<count {
                let a = value(values, position)
                sums[position] += a
                if let squares { squares[position] += a * a }
            }
            row += 1
        }
    }

    // MARK: - Training forward

    /// Moments (one read of `input`), the per-channel folding in `Double`, then the elementwise step
    /// (a second read of `input` and the write of `output`), both in memory order.
    ///
    /// Both reads stream in memory order rather than revisiting a channel's runs from cache: a
    /// channel's runs are `C·H·W` elements apart, so a per-channel walk defeats the prefetchers and,
    /// when the stride is a multiple of the L2 way size, piles the runs onto a few cache sets (the
    /// channel-blocked and channel-tiled variants and their measurements: docs/BENCHMARK_NOTES.md).
    /// Except on CPUs without AVX-512, for long runs of tensors beyond the cache, where the C run loops'
    /// walk a channel at a time measured faster (``channelWalkTrainingForward(_:_:geometry:gamma:beta:epsilon:epilogue:)``).
    ///
    /// A tensor read as rows whose channels are all ordinary takes its statistics from the shifted sums
    /// in one loop (``ChannelLoops/trainingStatistics(_:epsilon:parts:)``); any other tensor, or a
    /// channel that is not ordinary, takes the general route below (the same bits where both apply).
    static func trainingForward<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ output: UnsafeMutablePointer<Scalar>, geometry: ChannelGeometry,
        gamma: [Scalar]?, beta: [Scalar]?, epsilon: Scalar, epilogue: Fused.ForwardEpilogue<Scalar> = .none
    ) -> (moments: ChannelMoments<Scalar>, inverseStandardDeviation: [Scalar]) {
        if Fused.walksChannels(geometry, Scalar.self, cachedTensors: 1) {
            // Channels-first tensors beyond the cache: a channel's moments, then its y from the cache.
            return channelWalkTrainingForward(
                input, output, geometry: geometry, gamma: gamma, beta: beta, epsilon: epsilon, epilogue: epilogue)
        }
        let channelCount = geometry.channelCount
        var shiftedSums: ShiftedSums<Scalar>?
        let parts = Fused.threadCount(for: geometry, Scalar.self, reduces: true)
        if let grouping = Fused.RowGrouping(geometry: geometry, scalar: Scalar.self, parts: parts) {
            let sums = interleavedShiftedSums(input, geometry: geometry, grouping: grouping, parts: parts)
            // Every channel ordinary (the common case): the statistics straight from the sums.
            if FusedTuning.generalStatisticsOverride != true,
               let statistics: (moments: ChannelMoments<Scalar>, inverseStandardDeviation: [Scalar])
                = ChannelLoops.trainingStatistics(sums, epsilon: Double(epsilon), parts: Fused.threadLimit) {
                let coefficients = trainingCoefficients(
                    center: statistics.moments.center, inverseStandardDeviation: statistics.inverseStandardDeviation,
                    gamma: gamma, beta: beta)
                normalize(input, output, geometry: geometry, center: statistics.moments.mean,
                          scale: coefficients.scale, foldedShift: coefficients.foldedShift, epilogue: epilogue,
                          training: true)
                return statistics
            }
            shiftedSums = sums
        }
        let perChannel = moments(input, geometry: geometry, shiftedSums: shiftedSums)
        // invstd from the Double variance (finite where the variance itself overflows), rounded once.
        let inverseStandardDeviation: [Scalar] = ChannelLoops.inverseStandardDeviations(
            perChannel, epsilon: Double(epsilon))
        let moments = ChannelMoments<Scalar>(perChannel, count: geometry.valuesPerChannel)
        let coefficients = trainingCoefficients(
            center: moments.center, inverseStandardDeviation: inverseStandardDeviation, gamma: gamma, beta: beta)
        // A channel whose x - mean could overflow is scaled first: x·s + (b - mean·s).
        var center = moments.mean, foldedShift = coefficients.foldedShift
        for channel in 0..<channelCount where perChannel[channel].centersAtZero {
            center[channel] = 0
            foldedShift[channel] = ChannelCenter.foldedShift(
                beta?[channel] ?? 0, center: perChannel[channel].mean, scale: coefficients.scale[channel])
        }
        normalize(input, output, geometry: geometry, center: center, scale: coefficients.scale,
                  foldedShift: foldedShift, epilogue: epilogue, training: true)
        return (moments, inverseStandardDeviation)
    }

    /// The training forward's per-channel `scale = γ·invstd` and `foldedShift = β - low·scale` (the
    /// low word of the two-word mean folded in: `(x - high - low)·s + β = (x - high)·s + (β - low·s)`),
    /// in `Double`, each rounded once. The one place these are computed: the ReLU backward recomputes
    /// the forward's pre-activation `(x - high)·scale + foldedShift` with them, bit for bit.
    static func trainingCoefficients<Scalar: BatchNormScalar>(
        center: ChannelCenter<Scalar>, inverseStandardDeviation: [Scalar], gamma: [Scalar]?, beta: [Scalar]?
    ) -> (scale: [Scalar], foldedShift: [Scalar]) {
        // In one C loop where the AVX build runs (the same operations, so the same bits).
        if let coefficients = ChannelLoops.trainingCoefficients(
            inverseStandardDeviation: inverseStandardDeviation, low: center.low, gamma: gamma, beta: beta) {
            return coefficients
        }
        let scale = BatchNormKernels.foldedScale(inverseStandardDeviation: inverseStandardDeviation, gamma: gamma)
        let shift = beta ?? [Scalar](repeating: 0, count: scale.count)
        return (scale, center.foldingLowWord(into: shift, scale: scale))
    }

    // MARK: - Elementwise forward

    /// `output = (input - center) * scale + shift` with the two-word center.
    static func normalize<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ output: UnsafeMutablePointer<Scalar>, geometry: ChannelGeometry,
        center: ChannelCenter<Scalar>, scale: [Scalar], shift: [Scalar], epilogue: Fused.ForwardEpilogue<Scalar> = .none
    ) {
        normalize(input, output, geometry: geometry, center: center.high, scale: scale,
                  foldedShift: center.foldingLowWord(into: shift, scale: scale), epilogue: epilogue)
    }

    /// `output = epilogue((input - center) * scale + foldedShift)`, split over `Fused.threadCount`
    /// threads in memory order (rows for channels-last, runs for channels-first). `training`: the
    /// moments pass of the same call has just read `input` (``Fused/streamsTrainingOutput(_:_:residual:)``).
    static func normalize<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ output: UnsafeMutablePointer<Scalar>, geometry: ChannelGeometry,
        center: [Scalar], scale: [Scalar], foldedShift: [Scalar], epilogue: Fused.ForwardEpilogue<Scalar> = .none,
        training: Bool = false
    ) {
        let channelCount = geometry.channelCount
        let parts = Fused.threadCount(for: geometry, Scalar.self)
        let sharedOutput = Fused.SharedPointer(base: output)
        let streaming = training
            ? Fused.streamsTrainingOutput(geometry, Scalar.self, residual: epilogue.residual != nil, parts: parts)
            : Fused.streamsOutput(geometry, Scalar.self)
        // (Any sample count: the elementwise steps split values, not rows.)
        if let grouping = Fused.RowGrouping(geometry: geometry, scalar: Scalar.self, parts: 1) {
            // One consecutive range of the interleaved values per thread, periodic coefficients (narrow
            // rows as group rows, short channels-first runs as rows of samples), so the loop's position
            // wraps by a subtraction, never a division.
            guard channelCount > 0 else { return }
            if PeriodicCoefficients<Scalar>.inScratch(grouping) {
                ScratchMemory.withScratch(Scalar.self, count: PeriodicCoefficients<Scalar>.count(grouping)) { scratch in
                    let coefficients = PeriodicCoefficients(base: scratch, grouping: grouping)
                    grouping.initializePeriodic(center, at: coefficients.center)
                    grouping.initializePeriodic(scale, at: coefficients.scale)
                    grouping.initializePeriodic(foldedShift, at: coefficients.shift)
                    normalizeRows(input, output, geometry: geometry, period: grouping.width, center: coefficients.center,
                                  scale: coefficients.scale, shift: coefficients.shift, epilogue: epilogue,
                                  streaming: streaming)
                }
                return
            }
            let periodicCenter = grouping.periodic(center)
            let periodicScale = grouping.periodic(scale)
            let periodicShift = grouping.periodic(foldedShift)
            periodicCenter.withUnsafeBufferPointer { centerBuffer in
            periodicScale.withUnsafeBufferPointer { scaleBuffer in
            periodicShift.withUnsafeBufferPointer { shiftBuffer in
                guard let centerBase = centerBuffer.baseAddress, let scaleBase = scaleBuffer.baseAddress,
                      let shiftBase = shiftBuffer.baseAddress else { return }
                normalizeRows(input, output, geometry: geometry, period: grouping.width, center: centerBase,
                              scale: scaleBase, shift: shiftBase, epilogue: epilogue, streaming: streaming)
            }}}
        } else {
            // Runs in memory order (outer-major), so the prefetchers see one stream per thread.
            center.withUnsafeBufferPointer { centerBuffer in
            scale.withUnsafeBufferPointer { scaleBuffer in
            foldedShift.withUnsafeBufferPointer { shiftBuffer in
            let coefficients = UncheckedSendableBox((centerBuffer.baseAddress, scaleBuffer.baseAddress,
                                                     shiftBuffer.baseAddress))
            Fused.forEachSlice(geometry.outerCount * channelCount, parts: parts, streaming: streaming) { runs in
                if let centerBase = coefficients.value.0, let scaleBase = coefficients.value.1,
                   let shiftBase = coefficients.value.2,
                   Fused.WideLoops.normalizeRuns(
                       input, sharedOutput.base, runs: runs, runLength: geometry.innerCount, channelCount: channelCount,
                       center: centerBase, scale: scaleBase, shift: shiftBase, residual: epilogue.residual,
                       relu: epilogue.relu, streaming: streaming) { return }
                for run in runs {
                    let channel = run % channelCount
                    let offset = run * geometry.innerCount
                    Fused.normalizeRun(input + offset, sharedOutput.base + offset, geometry.innerCount,
                                       center: center[channel], scale: scale[channel],
                                       shift: foldedShift[channel], residual: epilogue.residual.map { $0 + offset },
                                       relu: epilogue.relu, streaming: streaming)
                }
            }
            }}}
        }
    }

    /// The periodic `center`, `scale` and `shift` of the row view's normalize in scratch memory
    /// (``ScratchMemory``), where they are large enough that arrays of their own would be mapped fresh
    /// and faulted in on every call (``inScratch(_:)``): for few rows they are about as large as the
    /// tensor. Three arrays of `grouping.periodicCount` values from `base`, each starting a page and a
    /// quarter after the last: packed one after the other (64 bytes apart modulo 4 KiB), the inference
    /// normalize of `[32, 16384]` ran 0.104 → 0.128 ms; staggered, 0.109 (docs/BENCHMARK_NOTES.md,
    /// "Per-call scratch memory for few-row tensors").
    struct PeriodicCoefficients<Scalar> {
        let base: UnsafeMutablePointer<Scalar>
        let grouping: Fused.RowGrouping
        var center: UnsafeMutablePointer<Scalar> { base }
        var scale: UnsafeMutablePointer<Scalar> { base + Self.stride(grouping) }
        var shift: UnsafeMutablePointer<Scalar> { base + 2 * Self.stride(grouping) }

        /// Whether a periodic array of `grouping` takes at least 128 KiB, glibc's mmap threshold at the
        /// start of a process: smaller arrays come from the heap's free memory, and arrays of their own
        /// measured faster there (the scratch layout was 5-15% slower on `[32, 16384]`).
        static func inScratch(_ grouping: Fused.RowGrouping) -> Bool {
            grouping.periodicCount * MemoryLayout<Scalar>.stride >= 128 << 10
        }

        /// Values from one array's start to the next's: a whole number of pages, and a quarter page more.
        static func stride(_ grouping: Fused.RowGrouping) -> Int {
            let pageBytes = 4096
            let bytes = grouping.periodicCount * MemoryLayout<Scalar>.stride
            return ((bytes + pageBytes - 1) / pageBytes * pageBytes + pageBytes / 4) / MemoryLayout<Scalar>.stride
        }

        /// The scratch values the three arrays take.
        static func count(_ grouping: Fused.RowGrouping) -> Int { 3 * stride(grouping) }
    }

    /// The row view's normalize: `output = epilogue((input - center) * scale + shift)` with periodic
    /// coefficients (`period` positions), one consecutive range of the interleaved values per thread, so
    /// the loop's position wraps by a subtraction, never a division.
    private static func normalizeRows<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ output: UnsafeMutablePointer<Scalar>, geometry: ChannelGeometry,
        period: Int, center: UnsafePointer<Scalar>, scale: UnsafePointer<Scalar>, shift: UnsafePointer<Scalar>,
        epilogue: Fused.ForwardEpilogue<Scalar>, streaming: Bool
    ) {
        let parts = Fused.threadCount(for: geometry, Scalar.self)
        let sharedOutput = Fused.SharedPointer(base: output)
        let pointers = UncheckedSendableBox((center, scale, shift))
        Fused.forEachSlice(geometry.elementCount, parts: parts, streaming: streaming) { range in
            Fused.normalizeInterleaved(
                input + range.lowerBound, sharedOutput.base + range.lowerBound, count: range.count,
                channelCount: period, firstChannel: range.lowerBound % period,
                center: pointers.value.0, scale: pointers.value.1, shift: pointers.value.2,
                residual: epilogue.residual.map { $0 + range.lowerBound }, relu: epilogue.relu,
                streaming: streaming)
        }
    }

    /// The inference forward's `output = epilogue((input - mean) * scale + foldedShift)` with
    /// ``BatchNormKernels/fusedInferenceCoefficients(mean:variance:gamma:beta:epsilon:)``. Whole tensor rows
    /// (`[N, C]`, channels-last rows of 64 channels or more) with periodic arrays in scratch memory
    /// (``PeriodicCoefficients/inScratch(_:)``) compute the coefficients straight into them, where the AVX
    /// build runs: a call then allocates nothing per channel (docs/BENCHMARK_NOTES.md, "Per-call scratch
    /// memory for few-row tensors"). The same bits either way.
    static func inferenceNormalize<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ output: UnsafeMutablePointer<Scalar>, geometry: ChannelGeometry,
        mean: [Scalar], variance: [Scalar], gamma: [Scalar]?, beta: [Scalar]?, epsilon: Scalar,
        epilogue: Fused.ForwardEpilogue<Scalar>
    ) {
        let channelCount = geometry.channelCount
        if let grouping = Fused.RowGrouping(geometry: geometry, scalar: Scalar.self, parts: 1),
           grouping.width == channelCount, PeriodicCoefficients<Scalar>.inScratch(grouping),
           ChannelLoops.inferenceCoefficientsRun(Scalar.self, channelCount: channelCount) {
            precondition(mean.count == channelCount && variance.count == channelCount)
            ScratchMemory.withScratch(Scalar.self, count: PeriodicCoefficients<Scalar>.count(grouping)) { scratch in
                let coefficients = PeriodicCoefficients(base: scratch, grouping: grouping)
                grouping.initializePeriodic(mean, at: coefficients.center)
                _ = ChannelLoops.inferenceCoefficients(
                    variance: variance, gamma: gamma, beta: beta, epsilon: Double(epsilon), scale: coefficients.scale,
                    foldedShift: coefficients.shift)
                grouping.initializePeriodicTail(at: coefficients.scale)
                grouping.initializePeriodicTail(at: coefficients.shift)
                normalizeRows(input, output, geometry: geometry, period: grouping.width, center: coefficients.center,
                              scale: coefficients.scale, shift: coefficients.shift, epilogue: epilogue,
                              streaming: Fused.streamsOutput(geometry, Scalar.self))
            }
            return
        }
        let coefficients = BatchNormKernels.fusedInferenceCoefficients(
            mean: mean, variance: variance, gamma: gamma, beta: beta, epsilon: epsilon)
        normalize(input, output, geometry: geometry, center: mean, scale: coefficients.scale,
                  foldedShift: coefficients.foldedShift, epilogue: epilogue)
    }

    // MARK: - Backward

    /// `Σ dy` and `Σ dy · (x - center)` per channel, accumulated in `Double`.
    static func backwardReductions<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, geometry: ChannelGeometry,
        center: ChannelCenter<Scalar>, mask: Fused.GradientMask<Scalar>? = nil,
        recomputed: ReLUCoefficients<Scalar>? = nil
    ) -> BackwardReductions<Scalar> {
        let (sumGradient, sumProduct) = reductionsInDouble(
            input, gradient, geometry: geometry, center: center, mask: mask, recomputed: recomputed)
        // Both rounded in one loop, over the threads for many channels (each channel its own: the same bits).
        var gradientOut = [Scalar](), productOut = [Scalar]()
        sumGradient.withUnsafeBufferPointer { sumGradient in
        sumProduct.withUnsafeBufferPointer { sumProduct in
            guard let sumGradient = sumGradient.baseAddress, let sumProduct = sumProduct.baseAddress else { return }
            gradientOut = ChannelLoops.array(count: geometry.channelCount) { gradientOut in
            productOut = ChannelLoops.array(count: geometry.channelCount) { productOut in
                let shared = UncheckedSendableBox((sumGradient, sumProduct, gradientOut, productOut))
                ChannelLoops.forEachChannelSlice(geometry.channelCount) { channels in
                    let (sumGradient, sumProduct, gradientOut, productOut) = shared.value
                    for channel in channels {
                        (gradientOut + channel).initialize(to: Scalar(sumGradient[channel]))
                        (productOut + channel).initialize(to: Scalar(sumProduct[channel]))
                    }
                }
            }}
        }}
        return BackwardReductions(sumGradient: gradientOut, sumGradientTimesCentered: productOut)
    }

    /// With a `mask`, the sums are of the masked gradient `dz = [y > 0] · dy`, which is also written
    /// to `mask.maskedGradient` (each thread its own range; with streaming stores, after each chunk's
    /// sums, when the tensor streams and the AVX2 loops run); with `recomputed`, of `dz` from the
    /// recomputed pre-activation (at most one of the two).
    ///
    /// `chunkOf`: `geometry` is a chunk of that tensor, summed by the calling thread alone
    /// (``frozenBackwardInChunks(_:_:_:geometry:mean:gradientScale:mask:)``); the row loops prefetch as for
    /// the whole tensor, and a masked gradient is stored through the cache, for the chunk's next step to read.
    static func reductionsInDouble<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, geometry: ChannelGeometry,
        center: ChannelCenter<Scalar>, mask: Fused.GradientMask<Scalar>? = nil,
        recomputed: ReLUCoefficients<Scalar>? = nil, chunkOf wholeGeometry: ChannelGeometry? = nil
    ) -> (sumGradient: [Double], sumGradientTimesCentered: [Double]) {
        assert(mask == nil || recomputed == nil)
        let channelCount = geometry.channelCount
        let parts = wholeGeometry == nil ? Fused.threadCount(for: geometry, Scalar.self, reduces: true) : 1
        // Channels-last rows (narrow ones grouped) and short channels-first runs are summed as rows of
        // `width` positions, then folded back to channels; longer channels-first runs per channel.
        let rowGrouping = Fused.RowGrouping(geometry: geometry, scalar: Scalar.self, parts: parts)
        let grouping = rowGrouping ?? .ungrouped(channelCount: channelCount)
        let width = grouping.width
        let choices = Fused.rowLoopChoices(wholeGeometry ?? geometry, Scalar.self)
        var sumGradient = Fused.partialSums(width: width, parts: parts)
        var sumProduct = Fused.partialSums(width: width, parts: parts)
        sumGradient.withUnsafeMutableBufferPointer { gradientBuffer in
        sumProduct.withUnsafeMutableBufferPointer { productBuffer in
        grouping.tiled(center.high).withUnsafeBufferPointer { centerBuffer in
        (recomputed.map { grouping.tiled($0.scale) } ?? []).withUnsafeBufferPointer { recomputedScaleBuffer in
        (recomputed.map { grouping.tiled($0.foldedShift) } ?? []).withUnsafeBufferPointer { recomputedShiftBuffer in
        (recomputed?.maskBound.map(grouping.tiled) ?? []).withUnsafeBufferPointer { maskBoundBuffer in
            guard let gradientBase = gradientBuffer.baseAddress, let productBase = productBuffer.baseAddress,
                  let centerBase = centerBuffer.baseAddress else { return }
            let sharedGradient = Fused.SharedPointer(base: gradientBase)
            let sharedProduct = Fused.SharedPointer(base: productBase)
            let sharedCenter = UncheckedSendableBox(centerBase)
            // A masked gradient as large as a streamed output skips its read for ownership too.
            let streamsMaskedGradient = mask != nil && wholeGeometry == nil && Fused.streamsOutput(geometry, Scalar.self)
            var streamedMask = mask
            streamedMask?.streamsMaskedGradient = streamsMaskedGradient
            let sharedMask = UncheckedSendableBox(streamedMask)
            // (An empty array may still have a base address: no recomputed mask unless one was given.)
            let sharedRecomputed = UncheckedSendableBox(
                recomputed == nil ? nil : recomputedScaleBuffer.baseAddress.flatMap { scale in
                    recomputedShiftBuffer.baseAddress.map { (scale, $0) }
                })
            let sharedMaskBound = UncheckedSendableBox(recomputed?.maskBound == nil ? nil : maskBoundBuffer.baseAddress)
            Fused.forEachPart(parts) { part in
                // (Each thread fences its own streaming stores before the next pass reads them.)
                defer { if streamsMaskedGradient { Fused.streamingFence() } }
                let partGradient = sharedGradient.base + part * width
                let partProduct = sharedProduct.base + part * width
                partGradient.initialize(repeating: 0, count: width)
                partProduct.initialize(repeating: 0, count: width)
                let center = sharedCenter.value
                // One loop per filter: the plain backward's loop tests no mask.
                if rowGrouping != nil {
                    let rows = Fused.slice(geometry.outerCount, part: part, of: parts)
                    // The leftover rows add into the first row of the group's sums (every per-channel
                    // array starts with the `channelCount` per-channel values).
                    grouping.forEachBlock(of: rows) { offset, rowCount, rowLength in
                        func reduce<Filter: GradientFilter<Scalar>>(_ filter: Filter) {
                            Fused.reduceRows(
                                input + offset, gradient + offset, rows: rowCount, channelCount: rowLength,
                                center: center, sumGradient: partGradient, sumGradientTimesCentered: partProduct,
                                filter: filter, choices: choices)
                        }
                        if let mask = sharedMask.value {
                            reduce(mask.advanced(by: offset))
                        } else if let bound = sharedMaskBound.value {
                            reduce(Fused.InterleavedBoundedMask(bound: bound))
                        } else if let (scale, shift) = sharedRecomputed.value {
                            reduce(Fused.InterleavedRecomputedMask(scale: scale, shift: shift))
                        } else {
                            reduce(Fused.UnfilteredGradient<Scalar>())
                        }
                    }
                } else {
                    // Runs in memory order; each part adds into its own row of partial sums. The AVX2
                    // loops have no mask evaluated from the pre-activation's coefficients (only its bounds).
                    let runs = Fused.slice(geometry.outerCount * channelCount, part: part, of: parts)
                    if sharedRecomputed.value == nil || sharedMaskBound.value != nil,
                       Fused.WideLoops.gradientSumsRuns(
                           input, gradient, runs: runs, runLength: geometry.innerCount, channelCount: channelCount,
                           center: center, filter: sharedMask.value?.wideFilter ?? .init(bound: sharedMaskBound.value),
                           sumGradient: partGradient, sumProduct: partProduct) { return }
                    if let mask = sharedMask.value {
                        Fused.reduceRuns(
                            input, gradient, runs: runs, runLength: geometry.innerCount, channelCount: channelCount,
                            center: center, sumGradient: partGradient, sumGradientTimesCentered: partProduct
                        ) { offset, _ in mask.advanced(by: offset) }
                    } else if let bound = sharedMaskBound.value {
                        Fused.reduceRuns(
                            input, gradient, runs: runs, runLength: geometry.innerCount, channelCount: channelCount,
                            center: center, sumGradient: partGradient, sumGradientTimesCentered: partProduct
                        ) { _, channel in Fused.BoundedMask(bound: bound[channel]) }
                    } else if let (scale, shift) = sharedRecomputed.value {
                        Fused.reduceRuns(
                            input, gradient, runs: runs, runLength: geometry.innerCount, channelCount: channelCount,
                            center: center, sumGradient: partGradient, sumGradientTimesCentered: partProduct
                        ) { _, channel in Fused.RecomputedMask(scale: scale[channel], shift: shift[channel]) }
                    } else {
                        Fused.reduceRuns(
                            input, gradient, runs: runs, runLength: geometry.innerCount, channelCount: channelCount,
                            center: center, sumGradient: partGradient, sumGradientTimesCentered: partProduct
                        ) { _, _ in Fused.UnfilteredGradient<Scalar>() }
                    }
                }
            }
        }}}}}}
        let (totalGradient, totalProduct) = grouping.channelTotals(sumGradient, sumProduct, parts: parts)
        // Σ dy·(x - high - low) = Σ dy·(x - high) - low·Σ dy (through pointers: subscripted stores
        // checked uniqueness per channel, a sixth of a 2x16384 backward).
        guard let low = center.low else { return (totalGradient, totalProduct) }
        return (totalGradient, ChannelLoops.map(totalProduct, low, totalGradient) { product, low, gradient in
            ChannelCenter<Scalar>.foldedShift(product, center: Double(low), scale: gradient)
        })
    }

    /// The `dx` step's periodic `k`, center (its high word), `p` and `q` with the low word folded in
    /// (`ChannelCenter.foldingLowWord(into:scale:)`) for rows of many channels: ungrouped rows whose channels
    /// ``ChannelLoops/channelParts(_:)`` splits over the threads (8,192 or more), built in one pass over the
    /// channel slices and then the arrays' tails. The same values as ``Fused/RowGrouping/periodic(_:)`` of
    /// each, where the calling thread built them one after another while the others waited
    /// (docs/BENCHMARK_NOTES.md, "The backward's periodic coefficients on the threads"). `nil` elsewhere.
    static func periodicGradientCoefficients<Scalar: BatchNormScalar>(
        _ grouping: Fused.RowGrouping, gradientScale: [Scalar], centered: InputGradientCoefficients<Scalar>.CenteredTerm
    ) -> (k: [Scalar], center: [Scalar], p: [Scalar], q: [Scalar])? {
        let channelCount = grouping.channelCount
        guard grouping.rowsPerGroup == 1, grouping.runLength == 1, ChannelLoops.channelParts(channelCount) > 1
        else { return nil }
        precondition(gradientScale.count == channelCount && centered.scale.count == channelCount
                     && centered.bias.count == channelCount && centered.center.channelCount == channelCount)
        let count = grouping.periodicCount
        var k = [Scalar](), center = [Scalar](), p = [Scalar](), q = [Scalar]()
        gradientScale.withUnsafeBufferPointer { gradientScale in
        centered.center.high.withUnsafeBufferPointer { high in
        (centered.center.low ?? []).withUnsafeBufferPointer { low in
        centered.scale.withUnsafeBufferPointer { scale in
        centered.bias.withUnsafeBufferPointer { bias in
            guard let gradientScale = gradientScale.baseAddress, let high = high.baseAddress,
                  let scale = scale.baseAddress, let bias = bias.baseAddress else { return }
            // (An empty array may still have a base address: a low word only where the center has one.)
            let low = centered.center.low == nil ? nil : low.baseAddress
            k = ChannelLoops.array(count: count) { kOut in
            center = ChannelLoops.array(count: count) { centerOut in
            p = ChannelLoops.array(count: count) { pOut in
            q = ChannelLoops.array(count: count) { qOut in
                let shared = UncheckedSendableBox((gradientScale, high, low, scale, bias, kOut, centerOut, pOut, qOut))
                ChannelLoops.forEachChannelSlice(channelCount) { channels in
                    let (gradientScale, high, low, scale, bias, kOut, centerOut, pOut, qOut) = shared.value
                    let first = channels.lowerBound
                    (kOut + first).initialize(from: gradientScale + first, count: channels.count)
                    (centerOut + first).initialize(from: high + first, count: channels.count)
                    (pOut + first).initialize(from: scale + first, count: channels.count)
                    // As `foldingLowWord`: the low word, or a center of 0 where there is none.
                    for channel in channels {
                        (qOut + channel).initialize(to: ChannelCenter<Scalar>.foldedShift(
                            bias[channel], center: low.map { Double($0[channel]) } ?? 0, scale: scale[channel]))
                    }
                }
                for array in [kOut, centerOut, pOut, qOut] { grouping.initializePeriodicTail(at: array) }
            }}}}
        }}}}}
        return (k, center, p, q)
    }

    /// `dx = k·dy + p·(x - center) + q` (or `k·dy` without a centered term); with `recomputed` (which
    /// needs the centered term), the recomputed ReLU mask's `dz` in place of `dy`.
    /// `chunkStreaming`: `geometry` is a chunk of a larger tensor, stepped by the calling thread alone, with
    /// streaming stores or not as given (`nil`: split over the threads, streaming by the size-based rule).
    static func inputGradient<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>,
        geometry: ChannelGeometry, coefficients: InputGradientCoefficients<Scalar>,
        recomputed: ReLUCoefficients<Scalar>? = nil, chunkStreaming: Bool? = nil
    ) {
        assert(recomputed == nil || coefficients.centered != nil)
        let channelCount = geometry.channelCount
        let parts = chunkStreaming == nil ? Fused.threadCount(for: geometry, Scalar.self) : 1
        let shared = Fused.SharedPointer(base: inputGradient)
        // (Any sample count: the elementwise steps split values, not rows.)
        let rowGrouping = Fused.RowGrouping(geometry: geometry, scalar: Scalar.self, parts: 1)
        let streaming = chunkStreaming ?? Fused.streamsInputGradient(
            geometry, Scalar.self, centered: coefficients.centered != nil,
            inPlace: gradient == UnsafePointer(inputGradient), parts: parts)
        let k = coefficients.gradientScale
        let center = coefficients.centered?.center.high ?? .init(repeating: 0, count: channelCount)
        let p = coefficients.centered?.scale
        // The low word of the center folded into the bias: p·(x - high - low) + q = p·(x - high) + (q - low·p).
        func foldedBias() -> [Scalar] {
            coefficients.centered.map { centered in
                centered.center.foldingLowWord(into: centered.bias, scale: centered.scale)
            } ?? [Scalar](repeating: 0, count: channelCount)
        }
        if let grouping = rowGrouping {
            // One consecutive range of the interleaved values per thread, periodic coefficients (as in
            // `normalize`), so the loop's position wraps by a subtraction, never a division.
            let period = grouping.width
            let periodicK: [Scalar], periodicCenter: [Scalar], periodicP: [Scalar]?, periodicQ: [Scalar]
            if let centered = coefficients.centered,
               let built = periodicGradientCoefficients(grouping, gradientScale: k, centered: centered) {
                (periodicK, periodicCenter, periodicP, periodicQ) = (built.k, built.center, built.p, built.q)
            } else {
                periodicK = grouping.periodic(k)
                periodicCenter = grouping.periodic(center)
                periodicP = p.map(grouping.periodic)
                periodicQ = grouping.periodic(foldedBias())
            }
            // The mask as bounds when the coefficients allow it, else the pre-activation's coefficients.
            let periodicMaskBound = recomputed?.maskBound.map(grouping.periodic)
            let evaluated = periodicMaskBound == nil ? recomputed : nil
            let periodicScale = evaluated.map { grouping.periodic($0.scale) }
            let periodicShift = evaluated.map { grouping.periodic($0.foldedShift) }
            (periodicMaskBound ?? []).withUnsafeBufferPointer { maskBoundBuffer in
            (periodicScale ?? []).withUnsafeBufferPointer { recomputedScaleBuffer in
            (periodicShift ?? []).withUnsafeBufferPointer { recomputedShiftBuffer in
            periodicK.withUnsafeBufferPointer { kBuffer in
            periodicCenter.withUnsafeBufferPointer { centerBuffer in
            (periodicP ?? []).withUnsafeBufferPointer { pBuffer in
            periodicQ.withUnsafeBufferPointer { qBuffer in
                guard let kBase = kBuffer.baseAddress, let centerBase = centerBuffer.baseAddress,
                      let qBase = qBuffer.baseAddress else { return }
                let pBase = periodicP == nil ? nil : pBuffer.baseAddress
                let coefficientPointers = UncheckedSendableBox((kBase, centerBase, pBase, qBase))
                // (An empty array may still have a base address: no recomputed mask unless one was given.)
                let recomputedPointers = UncheckedSendableBox(
                    evaluated == nil ? nil : recomputedScaleBuffer.baseAddress.flatMap { scale in
                        recomputedShiftBuffer.baseAddress.map { (scale, $0) }
                    })
                let maskBoundPointer = UncheckedSendableBox(periodicMaskBound == nil ? nil : maskBoundBuffer.baseAddress)
                Fused.forEachSlice(geometry.elementCount, parts: parts, streaming: streaming) { range in
                    let (kPointer, centerPointer, pPointer, qPointer) = coefficientPointers.value
                    // One loop per filter: the plain backward's loop tests no mask.
                    func step<Filter: GradientFilter<Scalar>>(_ filter: Filter) {
                        Fused.gradientInterleaved(
                            input + range.lowerBound, gradient + range.lowerBound, shared.base + range.lowerBound,
                            count: range.count, channelCount: period, firstChannel: range.lowerBound % period,
                            center: centerPointer, gradientScale: kPointer, centeredScale: pPointer, bias: qPointer,
                            filter: filter, streaming: streaming)
                    }
                    if let bound = maskBoundPointer.value {
                        step(Fused.InterleavedBoundedMask(bound: bound))
                    } else if let (scale, shift) = recomputedPointers.value {
                        step(Fused.InterleavedRecomputedMask(scale: scale, shift: shift))
                    } else {
                        step(Fused.UnfilteredGradient<Scalar>())
                    }
                }
            }}}}}}}
        } else {
            // Runs in memory order, so the prefetchers see one stream per operand and thread; one loop
            // per filter: the plain backward's loop tests no mask. The AVX2 loops have no mask evaluated
            // from the pre-activation's coefficients (only its bounds).
            let q = foldedBias()
            let maskBound = recomputed?.maskBound
            let wide = recomputed == nil || maskBound != nil
            center.withUnsafeBufferPointer { centerBuffer in
            k.withUnsafeBufferPointer { kBuffer in
            (p ?? []).withUnsafeBufferPointer { pBuffer in
            q.withUnsafeBufferPointer { qBuffer in
            (maskBound ?? []).withUnsafeBufferPointer { boundBuffer in
            let pointers = UncheckedSendableBox((
                centerBuffer.baseAddress, kBuffer.baseAddress, p == nil ? nil : pBuffer.baseAddress, qBuffer.baseAddress,
                maskBound == nil ? nil : boundBuffer.baseAddress))
            Fused.forEachSlice(geometry.outerCount * channelCount, parts: parts, streaming: streaming) { runs in
                let (centerBase, kBase, pBase, qBase, boundBase) = pointers.value
                if wide, let centerBase, let kBase, let qBase,
                   Fused.WideLoops.inputGradientRuns(
                       input, gradient, shared.base, runs: runs, runLength: geometry.innerCount, channelCount: channelCount,
                       center: centerBase, k: kBase, p: pBase, q: qBase, bound: boundBase, streaming: streaming) { return }
                if let p, let bound = maskBound {
                    Fused.gradientRuns(
                        input, gradient, shared.base, runs: runs, runLength: geometry.innerCount, channelCount: channelCount,
                        center: center, gradientScale: k, centeredScale: p, bias: q, streaming: streaming
                    ) { channel in Fused.BoundedMask(bound: bound[channel]) }
                } else if let p, let recomputed {
                    Fused.gradientRuns(
                        input, gradient, shared.base, runs: runs, runLength: geometry.innerCount, channelCount: channelCount,
                        center: center, gradientScale: k, centeredScale: p, bias: q, streaming: streaming
                    ) { channel in Fused.RecomputedMask(scale: recomputed.scale[channel], shift: recomputed.foldedShift[channel]) }
                } else if let p {
                    Fused.gradientRuns(
                        input, gradient, shared.base, runs: runs, runLength: geometry.innerCount, channelCount: channelCount,
                        center: center, gradientScale: k, centeredScale: p, bias: q, streaming: streaming
                    ) { _ in Fused.UnfilteredGradient<Scalar>() }
                } else {
                    for run in runs {
                        let offset = run * geometry.innerCount
                        Fused.scaleRun(gradient + offset, shared.base + offset, geometry.innerCount,
                                       scale: k[run % channelCount], streaming: streaming)
                    }
                }
            }
            }}}}}
        }
    }
}
