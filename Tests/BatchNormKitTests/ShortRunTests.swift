import Testing
import BatchNormKit
import Kernels
import BatchNormTestSupport

/// Channels-first tensors with short runs (3x3, 5x5, short sequences), which the fused kernels read as
/// rows of whole samples with per-position coefficient arrays and fold the positions' sums back to
/// channels (`Fused.RowGrouping`). The shapes have runs shorter than a vector and
/// of one to three vectors, rows that are not a whole number of vectors, more rows than the accumulators'
/// flush (64), one sample (which stays in runs when the work is split), and splits that give parts one
/// row or none; the checks are the parity suites' (float64 reference, their tolerances) for the plain
/// forward and backward, training and inference, and for ReLU and residual add + ReLU. Shapes just past
/// the limits (runs of 64, arrays over 16 KiB) take the run loops. (Nasty data on a short-run shape, split
/// and not: `NastyDataTests`, `ActivationNastyDataTests`, `ReLUMaskRecomputeTests`.)
@Suite("Short channels-first runs read as rows of samples")
struct ShortRunTests {
    static let shapes: [([Int], TensorLayout)] = [
        ([9, 24, 3, 3], .channelsFirst),    // runs of 9: 216-value rows
        ([70, 5, 2], .channelsFirst),       // runs of 2, 10-value rows (not a vector), 70 rows
        ([3, 40, 1, 5], .channelsFirst),    // runs of 5
        ([4, 8, 4, 4], .channelsFirst),     // runs of exactly one vector
        ([5, 6, 7, 7], .channelsFirst),     // runs of 49 (three vectors and one)
        ([1, 17, 3], .channelsFirst),       // one sample: split, the sums take runs and the steps rows
        ([2, 33, 15], .channelsFirst),      // runs of 15, two rows: a 3-way split leaves one part empty
        ([16, 2048, 2], .channelsFirst),    // 16 head rows of 2^16 values: the shift split without a forced count
        ([3, 2, 8, 8], .channelsFirst),     // runs of 64: the run loops
        ([2, 90, 7, 7], .channelsFirst),    // runs of 49, 17,640-byte Float arrays: the run loops
    ]

    /// Forced part counts: `nil` (the size-based choice), and splits that cut the rows.
    static let partCounts: [Int?] = [nil, 2, 3]

    @Test("plain batch norm against the float64 reference", arguments: shapes, partCounts)
    func plain(entry: ([Int], TensorLayout), parts: Int?) throws {
        try FusedTuning.withForcedPartCount(parts) { try checkFusedParity(entry: entry) }
    }

    @Test("ReLU and add + ReLU against the float64 reference", arguments: shapes, partCounts)
    func activations(entry: ([Int], TensorLayout), parts: Int?) throws {
        try FusedTuning.withForcedPartCount(parts) { try checkFusedActivationParity(entry: entry) }
    }

    /// Which walk each shape takes: a test of the suite's premise, so that a changed limit cannot
    /// silently turn the row shapes into run shapes (or back).
    @Test("the row view takes short runs that fit the cache, the run loops the rest")
    func walkChoice() {
        func rows(_ dimensions: [Int], _ scalar: (some BatchNormScalar).Type, parts: Int = 1) -> Bool {
            let geometry = ChannelGeometry(
                outerCount: dimensions[0], channelCount: dimensions[1], innerCount: dimensions.dropFirst(2).reduce(1, *))
            return FusedTuning.readsRows(geometry, scalar, parts: parts)
        }
        #expect(rows([9, 24, 3, 3], Float.self))
        #expect(rows([5, 6, 7, 7], Float.self))
        #expect(rows([1, 17, 3], Float.self))
        #expect(!rows([1, 17, 3], Float.self, parts: 2))
        #expect(!rows([3, 2, 8, 8], Float.self))
        #expect(!rows([2, 90, 7, 7], Float.self))
        #expect(rows([2, 80, 7, 7], Float.self))        // 15,680 bytes
        #expect(!rows([2, 80, 7, 7], Double.self))      // 31,360 bytes
        #expect(rows([2, 3640, 3, 3], Float.self))      // 131,040 bytes
        #expect(!rows([2, 3641, 3, 3], Float.self))     // 131,076 bytes
        #expect(rows([2, 5, 1], Float.self))            // channels-last rows (innerCount 1) always
    }
}
