import Testing
import BatchNormKit
import Kernels

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

    @Test("nasty data", arguments: TensorWalk.allCases, variants)
    func nasty(walk: TensorWalk, variant: (parts: Int, streaming: Bool)) throws {
        try FusedTuning.withForcedPartCount(variant.parts) {
            try FusedTuning.withForcedStreamingStores(variant.streaming) {
                try checkFusedNastyData(walk: walk)
            }
        }
    }
}
