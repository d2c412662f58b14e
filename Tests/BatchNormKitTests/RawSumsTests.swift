import Testing
import BatchNormKit
import Kernels
import BatchNormTestSupport

/// A `Float` tensor whose rows are all among the moments' first rows (at most 64 rows of channels) takes
/// each channel's shifted sums from the raw `Σx` and `Σx²` of one read, where they keep `M2` to
/// `3·2^-27`; other channels sum their own values again (`Fused.shiftedSums(fromRawSums:squares:shift:count:)`).
/// The rule decides speed and which arithmetic a channel gets; the nasty-data suites' few-rows walk checks
/// the results of both branches against the reference.
@Suite("Moments of few rows from raw sums")
struct RawSumsTests {
    /// The raw sums of `channels` (each `count` values) and the shift the kernels take: the `Float`-rounded mean.
    func rawSums(_ channels: [[Float]]) -> (sums: [Double], squares: [Double], shift: [Float]) {
        let sums = channels.map { $0.reduce(0.0) { $0 + Double($1) } }
        let squares = channels.map { $0.reduce(0.0) { $0 + Double($1) * Double($1) } }
        return (sums, squares, zip(sums, channels).map { Float($0 / Double($1.count)) })
    }

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
        let derived = FusedTuning.shiftedSumsFromRawSums(raw.sums, squares: raw.squares, shift: raw.shift, count: count)
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

    @Test("far offsets, constant channels, values beyond the range and NaN sum their values again")
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
        let derived = FusedTuning.shiftedSumsFromRawSums(raw.sums, squares: raw.squares, shift: raw.shift, count: count)
        #expect(derived.rejected == [0, 1, 2, 3, 4], "seed \(generator.seed)")
        // A rejected channel's entries stay as given, for the caller to replace.
        for channel in derived.rejected {
            #expect(derived.sums[channel].bitPattern == raw.sums[channel].bitPattern)
            #expect(derived.squares[channel].bitPattern == raw.squares[channel].bitPattern)
        }
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
        let derived = FusedTuning.shiftedSumsFromRawSums(raw.sums, squares: raw.squares, shift: raw.shift, count: count)
        #expect(derived.rejected == [1, 5])
        #expect(derived.sums[6].bitPattern == derived.sums[2].bitPattern)
        #expect(derived.squares[6].bitPattern == derived.squares[2].bitPattern)
        #expect(derived.squares[2].bitPattern != raw.squares[2].bitPattern, "channel 2 was not derived")
    }
}
