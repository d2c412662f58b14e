import Testing
import BatchNormKit
import Kernels
import BatchNormTestSupport

/// The fused path's size-based variants, forced on small tensors (`FusedTuning`), with the same
/// checks and tolerances as the parity and nasty-data suites:
///
/// - Work split into parts: one consecutive range of rows (channels-last) or of `outer × channel`
///   runs (channels-first) per thread, each with per-channel partial sums merged afterwards; a
///   channel's runs usually land in more than one range. Tensors under 2^16 elements run in one part,
///   so the other suites never reach those merges.
/// - Streaming stores: outputs of 16 MiB or more are written with non-temporal stores after a few
///   scalar stores that reach the 64-byte (Float) or 128-byte (Double) alignment; every run and row
///   has its own head, vector body and tail.
@Suite("Fused variants forced on small tensors")
struct WorkSplitTests {
    /// `(parts, streaming)`: split without streaming, streaming without split, both.
    static let variants: [(Int, Bool)] = [(2, false), (3, false), (1, true), (3, true)]

    @Test("parity on random data", arguments: TestShapes.all, variants)
    func parity(entry: ([Int], TensorLayout), variant: (parts: Int, streaming: Bool)) throws {
        try FusedTuning.withForcedPartCount(variant.parts) {
            try FusedTuning.withForcedStreamingStores(variant.streaming) { try checkFusedParity(entry: entry) }
        }
    }

    /// A tensor read as rows (`[N, C]`, channels-last, short channels-first runs as rows of samples) takes at most one
    /// thread per 4 rows (16 samples), and a reduction over it (moments, gradient sums) one per 32 rows unless each
    /// thread gets 2^18 values (`Fused.threadCount(for:_:reduces:threads:)`): a part of few rows of many channels reads
    /// the per-channel arrays about as often as its data, and two threads were up to 1.9x slower than one.
    /// Channels-first runs read as runs split as before, tensors under 2^16 values stay on one thread, and a forced
    /// part count (the other tests here) is kept.
    @Test("few rows of many channels take fewer threads")
    func fewRowsTakeFewerThreads() {
        // At 2 threads, without changing the process's count (other tests compare bits across calls).
        func parts(_ outer: Int, _ channels: Int, _ inner: Int, reduces: Bool = false) -> Int {
            FusedTuning.partCount(
                for: ChannelGeometry(outerCount: outer, channelCount: channels, innerCount: inner), Float.self,
                reduces: reduces, threads: 2)
        }
        #expect(parts(2, 65536, 1) == 1)
        #expect(parts(7, 65536, 1) == 1)
        #expect(parts(8, 65536, 1) == 2)
        #expect(parts(4096, 1024, 1) == 2)
        #expect(parts(4, 2048, 9) == 1)      // 3x3 runs read as rows of samples: 16 a part
        #expect(parts(16, 512, 9) == 1)
        #expect(parts(32, 512, 9) == 2)
        #expect(parts(2, 4096, 9) == 2)      // 3x3 runs whose rows are too wide for the row view: runs
        #expect(parts(2, 64, 1024) == 2)
        #expect(parts(4, 1024, 1) == 1)      // under 2^16 values
        // Reductions: 32 rows a part, or 2^18 values.
        #expect(parts(16, 512, 9, reduces: true) == 1)
        #expect(parts(16, 8192, 1, reduces: true) == 1)
        #expect(parts(63, 1024, 1, reduces: true) == 1)
        #expect(parts(64, 1024, 1, reduces: true) == 2)
        #expect(parts(8, 65536, 1, reduces: true) == 2)
        #expect(parts(2, 64, 1024, reduces: true) == 2)
        #expect(FusedTuning.withForcedPartCount(3) { parts(2, 65536, 1, reduces: true) } == 3)
    }

    /// Rows of 32,768 channels or more merge their parts' partial sums on the threads, each thread its own
    /// channels (`Fused.RowGrouping.channelTotals(_:_:parts:)`): the same additions in the same order as the
    /// merge on the calling thread, so the same bits, signed zeros, infinities and NaNs included. Checked
    /// against that merge directly, at 2 and 3 parts, on a width that is no whole number of vectors.
    @Test("partial sums of wide rows merged on the threads", arguments: [2, 3])
    func wideRowsMergeOnThreads(parts: Int) {
        let channelCount = FusedTuning.parallelTotalsWidth + 3
        var generator = SeededGenerator.fresh()
        let specials: [Double] = [0, -0.0, .infinity, -.infinity, .nan, 1e308, -1e308, 5e-324, -5e-324]
        func partials() -> [Double] {
            (0..<(parts * channelCount)).map { index in
                index % 97 == 0 ? specials[index / 97 % specials.count]
                    : Double.random(in: -1e6...1e6, using: &generator) * (index % 5 == 0 ? 1e-300 : 1)
            }
        }
        let first = partials(), second = partials()
        let totals = FusedTuning.withForcedPartCount(parts) {
            FusedTuning.channelTotals(first, second, channelCount: channelCount, parts: parts)
        }
        for array in 0..<2 {
            #expect(totals.merged[array].count == channelCount)
            let mismatches = (0..<channelCount).filter {
                totals.merged[array][$0].bitPattern != totals.serial[array][$0].bitPattern
            }
            #expect(mismatches.count == 0, "array \(array): \(mismatches.count) channels differ, first \(mismatches.first ?? -1)")
        }
    }

    /// From 8,192 channels the `dx` step builds its periodic coefficients (`k`, the center's high word, `p`, and
    /// `q` with the low word folded in) over the channel slices in one pass: the same bits as the arrays built one
    /// by one, with a low word and without, signed zeros, infinities and NaNs among the terms. 20,003 channels
    /// (a tail that is no whole vector) at 3 parts; at 1 part the sliced build does not apply.
    @Test("the dx step's periodic coefficients over the threads")
    func periodicGradientCoefficientsOverThreads() throws {
        var generator = SeededGenerator.fresh()
        let channelCount = 20_003
        let specials: [Float] = [0, -0.0, .infinity, -.infinity, .nan, 1e38, -1e-45]
        func terms() -> [Float] {
            (0..<channelCount).map { index in
                index % 101 == 0 ? specials[index / 101 % specials.count] : Float.random(in: -4...4, using: &generator)
            }
        }
        let gradientScale = terms(), high = terms(), low = terms().map { $0 * 0x1p-24 }, scale = terms(), bias = terms()
        for center in [ChannelCenter(high: high, low: low), ChannelCenter(high: high)] {
            let built = FusedTuning.withForcedPartCount(3) {
                FusedTuning.periodicGradientCoefficients(gradientScale: gradientScale, center: center, scale: scale, bias: bias)
            }
            let sliced = try #require(built.sliced)
            for (array, (slicedValues, serialValues)) in zip(sliced, built.serial).enumerated() {
                #expect(slicedValues.count == serialValues.count)
                let differing = zip(slicedValues, serialValues).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(differing == 0, "array \(array), low word \(center.low != nil)")
            }
            #expect(FusedTuning.withForcedPartCount(1) {
                FusedTuning.periodicGradientCoefficients(
                    gradientScale: gradientScale, center: center, scale: scale, bias: bias).sliced
            } == nil)
        }
    }

    /// The passes that merge on the threads, end to end, against the float64 reference with the parity suites'
    /// tolerances: the backward's gradient sums over few wide rows (`[8, 32771]`, `[2, 2, 2, 32771]`
    /// channels-last) and its per-channel steps, which split their channels over the threads from 8,192
    /// channels (`ChannelLoops.forEachChannelSlice`); the training forward of `[8, 32771]` (its one read's
    /// derivation and the running statistics split so) and its shifted sums over more rows than the shift's head
    /// (`[80, 32771]`), at 2 and 3 parts. A slice left out fails it.
    @Test("wide rows split into parts", arguments: [2, 3])
    func wideRowsSplit(parts: Int) throws {
        try FusedTuning.withForcedPartCount(parts) {
            let backward = BackwardParityTests()
            for entry in [([8, 32771], TensorLayout.channelsFirst), ([2, 2, 2, 32771], .channelsLast)] {
                try backward.checkTraining(Float.self, entry: entry, path: .fused, affine: true)
                try backward.checkTraining(Double.self, entry: entry, path: .fused, affine: false)
            }
            let forward = ForwardParityTests()
            try forward.checkTraining(Float.self, entry: ([8, 32771], .channelsFirst), path: .fused, affine: true)
            try forward.checkTraining(Float.self, entry: ([80, 32771], .channelsFirst), path: .fused, affine: true)
            try forward.checkTraining(Double.self, entry: ([80, 32771], .channelsFirst), path: .fused, affine: true)
        }
    }

    @Test("nasty data", arguments: TensorWalk.allCases, variants)
    func nasty(walk: TensorWalk, variant: (parts: Int, streaming: Bool)) throws {
        try FusedTuning.withForcedPartCount(variant.parts) {
            try FusedTuning.withForcedStreamingStores(variant.streaming) {
                try checkFusedNastyData(walk: walk)
            }
        }
    }
}
