import Testing
import BatchNormKit
import Kernels
import BatchNormTestSupport

/// A `Float` tensor whose rows are all among the moments' first rows (at most 64 rows of channels) takes
/// each channel's shifted sums from `Σd` and `Σd²` of one read, `d = x - c` about a center `c` (+0, the raw
/// sums; or, for rows of channels whose first value looks far from zero, that value), where they keep `M2`
/// to `3·2^-27`; a channel whose sums do not suit it takes its deviations' sums in `Double`
/// (`Fused.shiftedSums(fromCenteredSums:squares:centers:shift:count:)`, `FusedPasses.rowCenters`,
/// `FusedPasses.exactShiftedSums`).
/// The rule decides speed and which arithmetic a channel gets; the nasty-data suites' few-rows walk checks
/// the results of both branches against the reference.
@Suite("Moments of few rows from raw or centered sums")
struct RawSumsTests {
    /// The raw sums of `channels` (each `count` values) and the shift the kernels take: the `Float`-rounded mean.
    func rawSums(_ channels: [[Float]]) -> (sums: [Double], squares: [Double], shift: [Float]) {
        let sums = channels.map { $0.reduce(0.0) { $0 + Double($1) } }
        let squares = channels.map { $0.reduce(0.0) { $0 + Double($1) * Double($1) } }
        return (sums, squares, zip(sums, channels).map { Float($0 / Double($1.count)) })
    }

    func zeros(_ count: Int) -> [Double] { [Double](repeating: 0, count: count) }

    @Test("data about zero and offsets up to hundreds of deviations take the raw sums, M2 to 3·2^-27")
    func accepted() {
        var generator = SeededGenerator.fresh()
        let count = 40
        // Spread uniform on [-1, 1] (deviation 0.58): offsets 0, 3 and 870 deviations (amplification 7.5e5,
        // count · amplification 3e7 against the bound 2^26 = 6.7e7); all zeros (M2 = 0).
        let offsets: [Float] = [0, 1.7, 500]
        var channels = offsets.map { offset in
            (0..<count).map { _ in offset + Float.random(in: -1...1, using: &generator) }
        }
        channels.append([Float](repeating: 0, count: count))
        let raw = rawSums(channels)
        let derived = FusedTuning.shiftedSumsFromCenteredSums(
            raw.sums, squares: raw.squares, centers: zeros(raw.sums.count), shift: raw.shift, count: count)
        #expect(derived.rejected.isEmpty, "seed \(generator.seed)")
        for (channel, values) in channels.enumerated() {
            // M2 back from the shifted sums, as the moments take it, against a two-pass in Double about the
            // exact mean (Float values: the deviations and their squares are nearly exact there).
            let m2 = derived.squares[channel] - derived.sums[channel] * derived.sums[channel] / Double(count)
            let mean = raw.sums[channel] / Double(count)
            let exact = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) }
            #expect(abs(m2 - exact) <= 3 * 0x1p-27 * exact, "channel \(channel): \(m2) against \(exact)")
            #expect(derived.sums[channel] == raw.sums[channel] - Double(count) * Double(raw.shift[channel]))
        }
    }

    @Test("about +0, far offsets, constant channels, values beyond the range and NaN are rejected")
    func rejected() {
        var generator = SeededGenerator.fresh()
        let count = 40
        let channels: [[Float]] = [
            (0..<count).map { _ in 1e4 + Float.random(in: -0.017...0.017, using: &generator) },  // 1e6 deviations
            (0..<count).map { _ in 2_000 + Float.random(in: -1...1, using: &generator) },  // count · amp 4.8e8
            [Float](repeating: 0.1, count: count),  // constant: M2 is rounding alone
            (0..<count).map { _ in Float.random(in: -1...1, using: &generator) * .greatestFiniteMagnitude },
            (0..<count).map { $0 == 7 ? .nan : Float($0) },
            (0..<count).map { _ in Float.random(in: -1...1, using: &generator) },  // accepted beside them
        ]
        let raw = rawSums(channels)
        let derived = FusedTuning.shiftedSumsFromCenteredSums(
            raw.sums, squares: raw.squares, centers: zeros(raw.sums.count), shift: raw.shift, count: count)
        #expect(derived.rejected == [0, 1, 2, 3, 4], "seed \(generator.seed)")
        // A rejected channel's entries stay as given, for the caller to replace.
        for channel in derived.rejected {
            #expect(derived.sums[channel].bitPattern == raw.sums[channel].bitPattern)
            #expect(derived.squares[channel].bitPattern == raw.squares[channel].bitPattern)
        }
    }

    /// From 8,192 channels the derivation splits its channels over the threads (`ChannelLoops.forEachChannelSlice`'s
    /// rule), each slice listing its own rejected channels: the same sums, bit for bit, and the same rejected
    /// channels in the same (ascending) order as one slice. The six channels of the test above, repeated over
    /// 20,004 channels, at 3 parts against 1.
    @Test("many channels derive alike over the threads")
    func manyChannelsOverThreads() {
        var generator = SeededGenerator.fresh()
        let count = 40
        let channels: [[Float]] = [
            (0..<count).map { _ in 1e4 + Float.random(in: -0.017...0.017, using: &generator) },
            (0..<count).map { _ in 2_000 + Float.random(in: -1...1, using: &generator) },
            [Float](repeating: 0.1, count: count),
            (0..<count).map { _ in Float.random(in: -1...1, using: &generator) * .greatestFiniteMagnitude },
            (0..<count).map { $0 == 7 ? .nan : Float($0) },
            (0..<count).map { _ in Float.random(in: -1...1, using: &generator) },
        ]
        let raw = rawSums(channels)
        let repeats = 3_334
        func repeated<Value>(_ values: [Value]) -> [Value] { Array((0..<repeats).map { _ in values }.joined()) }
        let sums = repeated(raw.sums), squares = repeated(raw.squares), shift = repeated(raw.shift)
        func derived(parts: Int) -> (sums: [Double], squares: [Double], rejected: [Int]) {
            FusedTuning.withForcedPartCount(parts) {
                FusedTuning.shiftedSumsFromCenteredSums(
                    sums, squares: squares, centers: zeros(sums.count), shift: shift, count: count)
            }
        }
        let one = derived(parts: 1), three = derived(parts: 3)
        #expect(one.rejected == (0..<repeats).flatMap { copy in (0..<5).map { copy * 6 + $0 } })
        #expect(three.rejected == one.rejected)
        #expect(zip(one.sums, three.sums).allSatisfy { $0.bitPattern == $1.bitPattern })
        #expect(zip(one.squares, three.squares).allSatisfy { $0.bitPattern == $1.bitPattern })
    }

    @Test("the vector loop and the one-channel tail decide and derive alike")
    func lanesAndTail() {
        // Seven channels: one vector of four and a tail of three. Channel 6 (tail) repeats channel 2 (a lane),
        // and each part holds a rejected constant channel.
        let count = 16
        var channels = (0..<7).map { channel in (0..<count).map { Float(channel) + Float($0) / 8 } }
        channels[1] = [Float](repeating: 0.1, count: count)
        channels[5] = [Float](repeating: -7.3, count: count)
        channels[6] = channels[2]
        let raw = rawSums(channels)
        let derived = FusedTuning.shiftedSumsFromCenteredSums(
            raw.sums, squares: raw.squares, centers: zeros(raw.sums.count), shift: raw.shift, count: count)
        #expect(derived.rejected == [1, 5])
        #expect(derived.sums[6].bitPattern == derived.sums[2].bitPattern)
        #expect(derived.squares[6].bitPattern == derived.squares[2].bitPattern)
        #expect(derived.squares[2].bitPattern != raw.squares[2].bitPattern, "channel 2 was not derived")
    }

    /// About its first value, a channel far off zero or constant keeps `M2` as data about zero does.
    @Test("about their first values, far offsets and constant channels are accepted, M2 to 3·2^-27")
    func centeredAccepted() {
        var generator = SeededGenerator.fresh()
        let count = 40
        let channels: [[Float]] = [
            (0..<count).map { _ in 1e4 + Float.random(in: -0.017...0.017, using: &generator) },  // 1e6 deviations
            (0..<count).map { _ in -3e7 + Float.random(in: -4...4, using: &generator) },  // the ulp is 2
            [Float](repeating: 0.1, count: count),
            (0..<count).map { _ in Float.random(in: -1...1, using: &generator) },
        ]
        let centers = channels.map { Double($0[0]) }
        let sums = channels.map { values in values.reduce(0.0) { $0 + (Double($1) - Double(values[0])) } }
        let squares = channels.map { values in
            values.reduce(0.0) { $0 + (Double($1) - Double(values[0])) * (Double($1) - Double(values[0])) }
        }
        let shift = zip(centers, sums).map { Float($0 + $1 / Double(count)) }
        let derived = FusedTuning.shiftedSumsFromCenteredSums(
            sums, squares: squares, centers: centers, shift: shift, count: count)
        #expect(derived.rejected.isEmpty, "seed \(generator.seed)")
        for (channel, values) in channels.enumerated() {
            let m2 = derived.squares[channel] - derived.sums[channel] * derived.sums[channel] / Double(count)
            let mean = values.reduce(0.0) { $0 + Double($1) } / Double(count)
            let exact = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) }
            #expect(abs(m2 - exact) <= 3 * 0x1p-27 * exact, "channel \(channel): \(m2) against \(exact)")
        }
        #expect(derived.sums[2] == 0 && derived.squares[2] == 0, "a constant channel: M2 = 0 exactly")
        // The same channels about +0: the first two are rejected, as is the constant one.
        let raw = rawSums(channels)
        let aboutZero = FusedTuning.shiftedSumsFromCenteredSums(
            raw.sums, squares: raw.squares, centers: zeros(channels.count), shift: raw.shift, count: count)
        #expect(aboutZero.rejected == [0, 1, 2])
    }

    /// Which channels of rows are centered on their first value: those whose next two values lie within
    /// 1/256 of its magnitude; none for data about zero; the vector steps and the last channels alike.
    @Test("the first-value centers: far-off and constant channels, not data about zero")
    func firstValueCenters() throws {
        var generator = SeededGenerator.fresh()
        let channelCount = 21  // two vector steps of eight and a tail of five
        // Data about zero: each channel's first value in [-0.5, 0.5], its next two 1 and 2 above it, so
        // no channel meets the test (random rows about zero meet it by chance in one channel in 10^5).
        var rows = Self.rowsAboutZero(rows: 3, channelCount: channelCount, using: &generator)
        // Nothing to center: the raw sums as they were.
        let none = FusedTuning.rowCenters(rows, channelCount: channelCount)
        #expect(none.centers == nil && none.centeredPositions == nil, "seed \(generator.seed)")
        // Channel 3 (a vector lane) far off, 17 and 18 (the tail) constant and far off: centered on their
        // first values. Channel 9 has one close value and one far: +0.
        for (channel, values) in [(3, [1e4, 1e4 + 0.01, 1e4 - 0.02]), (17, [0.1, 0.1, 0.1]),
                                  (18, [-300, -300.5, -299.5]), (9, [100, 100.1, 101])] as [(Int, [Float])] {
            for row in 0..<3 { rows[row * channelCount + channel] = values[row] }
        }
        let few = FusedTuning.rowCenters(rows, channelCount: channelCount)
        let centers = try #require(few.centers)
        for channel in 0..<channelCount {
            let expected: Double = [3, 17, 18].contains(channel) ? Double(rows[channel]) : 0
            #expect(centers[channel].bitPattern == expected.bitPattern, "channel \(channel)")
        }
        // Three of 21 is more than a 64th: every position subtracts its center (+0 for most).
        #expect(few.centeredPositions == nil)
        var wide = [Float](repeating: 0.5, count: 3 * 256)
        for row in 0..<3 { for channel in 0..<256 { wide[row * 256 + channel] += Float(row + channel % 7) } }
        for row in 0..<3 { wide[row * 256 + 200] = 5e3 + Float(row) / 1000 }
        for row in 0..<3 { wide[row * 256 + 201] = -7e3 }
        let ranged = FusedTuning.rowCenters(wide, channelCount: 256)
        #expect(ranged.centeredPositions == [200..<202])
    }

    /// `rows` rows of `channelCount` channels about zero that no channel's first value centers: row `r` of
    /// channel `c` is `u_c + r` with `u_c` drawn from [-0.5, 0.5], so the next values lie 1 and 2 from the
    /// first, far beyond 1/256 of its magnitude.
    static func rowsAboutZero(rows: Int, channelCount: Int, using generator: inout SeededGenerator) -> [Float] {
        let firstValues = (0..<channelCount).map { _ in Float.random(in: -0.5...0.5, using: &generator) }
        return (0..<rows * channelCount).map { index in firstValues[index % channelCount] + Float(index / channelCount) }
    }

    /// From 8,192 channels the first-value centers split their channels over the threads, each slice counting
    /// its own centered channels: the same centers, bit for bit, and the same decision on the ranges (few
    /// centered: their ranges; more than a 64th: none) as one slice. 20,003 channels (slices that end mid-vector)
    /// at 3 parts against 1, with a few centered channels spread over the slices, then with many.
    @Test("the first-value centers over the threads")
    func firstValueCentersOverThreads() throws {
        var generator = SeededGenerator.fresh()
        let channelCount = 20_003
        // About zero, so that only the channels made far-off below are centered (random rows about zero
        // would center one channel in 10^5 by chance: a fifth of the draws of 20,003 channels).
        var rows = Self.rowsAboutZero(rows: 3, channelCount: channelCount, using: &generator)
        func centered(_ channels: [Int]) {
            for channel in channels {
                for row in 0..<3 { rows[row * channelCount + channel] = 4e3 + Float(channel) + Float(row) / 100 }
            }
        }
        func compare(_ expectedRanges: [Range<Int>]?) throws {
            let one = FusedTuning.withForcedPartCount(1) { FusedTuning.rowCenters(rows, channelCount: channelCount) }
            let three = FusedTuning.withForcedPartCount(3) { FusedTuning.rowCenters(rows, channelCount: channelCount) }
            let oneCenters = try #require(one.centers), threeCenters = try #require(three.centers)
            #expect(zip(oneCenters, threeCenters).allSatisfy { $0.bitPattern == $1.bitPattern })
            #expect(one.centeredPositions == expectedRanges && three.centeredPositions == expectedRanges)
        }
        centered([5, 6, 6_667, 13_335, 20_002])
        try compare([5..<7, 6_667..<6_668, 13_335..<13_336, 20_002..<20_003])
        centered(Array(stride(from: 1, to: channelCount, by: 50)))
        try compare(nil)
    }

    /// A centered channel's sums take the subtraction only where it is centered; whether it is among a
    /// few (the loop splits at its positions) or many (every position subtracts, most of them +0), its
    /// shift and sums are the same bits, and they are the formula's over its own values.
    @Test("a centered channel's sums are the same bits among few or many centered channels")
    func centeredSumsEitherWay() throws {
        var generator = SeededGenerator.fresh()
        let geometry = ChannelGeometry(outerCount: 48, channelCount: 128, innerCount: 1)
        let farOff = (0..<48).map { _ in 2.5e4 + Float.random(in: -0.02...0.02, using: &generator) }
        // The other channels about zero and never centered (`rowsAboutZero`), so that channel 70 alone is.
        var few = Self.rowsAboutZero(rows: 48, channelCount: 128, using: &generator)
        var many = few
        for row in 0..<48 {
            few[row * 128 + 70] = farOff[row]
            for channel in stride(from: 0, to: 128, by: 2) where channel != 70 {
                many[row * 128 + channel] = farOff[row] + Float(channel)
            }
            many[row * 128 + 70] = farOff[row]
        }
        let alone = try #require(FusedTuning.rowShiftedSums(few, geometry: geometry))
        let among = try #require(FusedTuning.rowShiftedSums(many, geometry: geometry))
        #expect(FusedTuning.rowCenters(few, channelCount: 128).centeredPositions == [70..<71])
        #expect(FusedTuning.rowCenters(many, channelCount: 128).centeredPositions == nil)
        #expect(alone.shift[70].bitPattern == among.shift[70].bitPattern, "seed \(generator.seed)")
        #expect(alone.sums[70].bitPattern == among.sums[70].bitPattern)
        #expect(alone.squares[70].bitPattern == among.squares[70].bitPattern)
        // The formula over channel 70's values about its first: `Σd`, `Σd²` in row order, then the derivation.
        let center = Double(farOff[0]), count = 48.0
        var sum = 0.0, squares = 0.0
        for value in farOff {
            let d = Double(value) - center
            sum += d
            squares += d * d
        }
        let shift = Float(center + sum / count)
        let m2 = squares - sum * sum * (1 / count)
        let shiftedSum = sum - count * (Double(shift) - center)
        #expect(alone.shift[70] == shift)
        #expect(alone.sums[70].bitPattern == shiftedSum.bitPattern)
        #expect(alone.squares[70].bitPattern == (m2 + shiftedSum * shiftedSum * (1 / count)).bitPattern)
    }

    /// A rejected channel's `Double` sums are the same bits whether its column is walked alone (few rejected
    /// channels) or every position is summed in one pass (many): which one runs depends on the other
    /// channels, its result must not.
    @Test("a rejected channel's sums do not depend on how many others were rejected", arguments: [1, 3])
    func exactSumsEitherWay(runLength: Int) {
        var generator = SeededGenerator.fresh()
        let geometry = ChannelGeometry(outerCount: 24, channelCount: 64, innerCount: runLength)
        // Magnitudes over 2^-12...1 about a shift of other bits: the deviations and their squares carry more
        // bits than a Double keeps, so another order of additions would round otherwise.
        let values = (0..<geometry.elementCount).map { _ in
            let exponent = Int.random(in: -12...0, using: &generator)
            return Float.random(in: -1...1, using: &generator) * Float(sign: .plus, exponent: exponent, significand: 1)
        }
        let shift = (0..<geometry.channelCount).map { _ in Float.random(in: -0.01...0.01, using: &generator) }
        let every = FusedTuning.exactShiftedSums(values, geometry: geometry, shift: shift, channels: Array(0..<64))
        for channel in [0, 17, 63] {
            let alone = FusedTuning.exactShiftedSums(values, geometry: geometry, shift: shift, channels: [channel])
            #expect(alone[0].sum.bitPattern == every[channel].sum.bitPattern, "channel \(channel) seed \(generator.seed)")
            #expect(alone[0].sumOfSquares.bitPattern == every[channel].sumOfSquares.bitPattern, "channel \(channel)")
            // And the sums are the channel's: against a plain Double loop over its values, in its order.
            var sum = 0.0, squares = 0.0
            for index in 0..<runLength {
                var positionSum = 0.0, positionSquares = 0.0
                for row in 0..<geometry.outerCount {
                    let d = Double(values[(row * 64 + channel) * runLength + index]) - Double(shift[channel])
                    positionSum += d
                    positionSquares += d * d
                }
                sum += positionSum
                squares += positionSquares
            }
            #expect(alone[0].sum == sum && alone[0].sumOfSquares == squares, "channel \(channel)")
        }
    }
    /// Whichever way a channel's sums come (raw, or its deviations in `Double`), a rejected neighbour does
    /// not change them: a NaN, a far-off or a constant channel leaves every other channel's shift and sums
    /// the same bits (what keeps a mean of exactly 0, and so a ReLU's mask, from moving).
    @Test("a rejected channel leaves its neighbours' sums alone", arguments: [1, 3])
    func isolation(runLength: Int) throws {
        var generator = SeededGenerator.fresh()
        // Every row among the first rows (20 rows; 10 samples of 3-value runs, 30 values a channel).
        let geometry = ChannelGeometry(outerCount: runLength == 1 ? 20 : 10, channelCount: 12, innerCount: runLength)
        let clean = (0..<geometry.elementCount).map { _ in Float.random(in: -1...2, using: &generator) }
        let reference = try #require(FusedTuning.rowShiftedSums(clean, geometry: geometry))
        let poisons: [(String, (Int) -> Float)] = [("NaN", { $0 == 5 ? .nan : 1 }), ("far off", { _ in 1e5 }),
                                                   ("constant", { _ in 0.1 })]
        for (name, poison) in poisons {
            var poisoned = clean
            var index = 0
            for row in 0..<geometry.outerCount {
                for value in 0..<runLength {
                    let position = (row * geometry.channelCount + 7) * runLength + value
                    poisoned[position] = name == "far off" ? clean[position] / 1000 + poison(index) : poison(index)
                    index += 1
                }
            }
            let result = try #require(FusedTuning.rowShiftedSums(poisoned, geometry: geometry))
            for channel in 0..<geometry.channelCount where channel != 7 {
                #expect(result.shift[channel].bitPattern == reference.shift[channel].bitPattern, "\(name) \(channel)")
                #expect(result.sums[channel].bitPattern == reference.sums[channel].bitPattern, "\(name) \(channel)")
                #expect(result.squares[channel].bitPattern == reference.squares[channel].bitPattern, "\(name) \(channel)")
            }
        }
    }
}
