import Testing
import BatchNormKit
import Kernels
import BatchNormTestSupport

/// Channels-last tensors with few channels, whose rows the fused kernels sum as group rows of at least
/// 128 values (a whole number of rows and of 16-lane vectors) and fold back to channels afterwards
/// (`Fused.RowGrouping`). The shapes have many group rows (more than the accumulators' flush of 64),
/// rows left over after the last whole group, groups that a work split cuts, and tensors too small for
/// one group; the checks are the parity suites' (float64 reference, their tolerances) for the plain
/// forward and backward, training and inference, and for ReLU and residual add + ReLU, whose backward
/// filters (the mask from `y`, the recomputed mask) read per-channel arrays repeated over a group row.
/// (Nasty data on a narrow channels-last shape, split and not: `NastyDataTests`, `WorkSplitTests`.)
@Suite("Narrow channels-last rows summed as group rows")
struct NarrowRowTests {
    static let shapes: [([Int], TensorLayout)] = [
        ([2, 40, 41, 3], .channelsLast),    // 3,280 rows: 102 groups of 32 rows (96 values) and 16 left over
        ([3001, 1], .channelsLast),         // [N, 1]: 46 groups of 64 rows and 57 left over
        ([5, 9, 9, 8], .channelsLast),      // 50 groups of 8 rows and 5 left over
        ([7, 11, 24], .channelsLast),       // 19 groups of 4 rows and 1 left over
        ([3, 7, 7, 48], .channelsLast),     // 73 groups of 2 rows and 1 left over
        ([2, 3, 63], .channelsLast),        // fewer rows than one group (16)
        ([701, 20], .channelsFirst),        // [N, C], interleaved in either layout: 175 groups of 4 and 1 left over
    ]

    /// Forced part counts: `nil` (the size-based choice), and splits that cut groups.
    static let partCounts: [Int?] = [nil, 2, 3]

    @Test("plain batch norm against the float64 reference", arguments: shapes, partCounts)
    func plain(entry: ([Int], TensorLayout), parts: Int?) throws {
        try FusedTuning.withForcedPartCount(parts) { try checkFusedParity(entry: entry) }
    }

    @Test("ReLU and add + ReLU against the float64 reference", arguments: shapes, partCounts)
    func activations(entry: ([Int], TensorLayout), parts: Int?) throws {
        try FusedTuning.withForcedPartCount(parts) { try checkFusedActivationParity(entry: entry) }
    }
}
