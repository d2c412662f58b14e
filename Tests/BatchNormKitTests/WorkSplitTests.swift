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

    @Test("nasty data", arguments: TensorWalk.allCases, variants)
    func nasty(walk: TensorWalk, variant: (parts: Int, streaming: Bool)) throws {
        try FusedTuning.withForcedPartCount(variant.parts) {
            try FusedTuning.withForcedStreamingStores(variant.streaming) {
                try checkFusedNastyData(walk: walk)
            }
        }
    }
}
