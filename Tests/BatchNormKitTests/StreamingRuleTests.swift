import Kernels
import Testing

/// When the backward's dx step streams `dx` (`Fused.streamsInputGradient`) and the training forward
/// streams `y` (`Fused.streamsTrainingOutput`): every tensor of 16 MiB or more, and below that when the
/// output and the tensors its pass reads outgrow the 32 MiB L3 (20 MiB on one thread for a pass that rereads
/// what the call read before: the dx step, the training forward's normalize with a residual), unless
/// the output is written in channels-first runs shorter than 256 bytes (or, forward, in the normalize
/// loop's channel tiles).
/// Values are the same bits either way (the parity suites force both); this pins which one runs, so a
/// rule that silently stopped streaming (or streamed short runs) fails here rather than only in a benchmark.
@Suite("Streaming stores below 16 MiB")
struct StreamingRuleTests {
    /// `Float` geometry of `[N, C, *spatial]` (channels-first) or `[N, *spatial, C]` (channels-last).
    private func geometry(_ batch: Int, _ channels: Int, spatial: Int, channelsLast: Bool) -> ChannelGeometry {
        channelsLast ? ChannelGeometry(outerCount: batch * spatial, channelCount: channels, innerCount: 1)
            : ChannelGeometry(outerCount: batch, channelCount: channels, innerCount: spatial)
    }

    @Test("x, dy and dx beyond the L3 stream when dx is written in long stretches")
    func footprintBeyondL3() {
        // 12.8 MB a tensor: three of them are 38 MB.
        #expect(FusedTuning.inputGradientStreams(
            geometry(32, 2048, spatial: 49, channelsLast: true), Float.self, centered: true, inPlace: false))
        #expect(FusedTuning.inputGradientStreams(
            geometry(16, 1024, spatial: 196, channelsLast: false), Float.self, centered: true, inPlace: false))
        #expect(FusedTuning.inputGradientStreams(
            ChannelGeometry(outerCount: 3_136, channelCount: 512, innerCount: 1), Double.self,
            centered: true, inPlace: false))
        // Short runs read as rows of samples (3x3 runs of 64 channels) are written in long stretches too.
        #expect(FusedTuning.inputGradientStreams(
            geometry(5_556, 64, spatial: 9, channelsLast: false), Float.self, centered: true, inPlace: false))
    }

    @Test("49-value channels-first runs, in-cache footprints and two-tensor steps keep plain stores")
    func plainStores() {
        // Runs of 196 bytes: half their lines are shared with the neighbouring runs' plain stores.
        #expect(!FusedTuning.inputGradientStreams(
            geometry(32, 2048, spatial: 49, channelsLast: false), Float.self, centered: true, inPlace: false))
        // 9.6 MB a tensor: x, dy and dx (29 MB) fit the L3.
        #expect(!FusedTuning.inputGradientStreams(
            geometry(12, 1024, spatial: 196, channelsLast: true), Float.self, centered: true, inPlace: false))
        // The inference backward (dy and dx only) and dz read from the dx buffer: two 12.8 MB tensors.
        #expect(!FusedTuning.inputGradientStreams(
            geometry(32, 2048, spatial: 49, channelsLast: true), Float.self, centered: false, inPlace: false))
        #expect(!FusedTuning.inputGradientStreams(
            geometry(32, 2048, spatial: 49, channelsLast: true), Float.self, centered: true, inPlace: true))
    }

    @Test("a dx step on one thread streams from 20 MiB of x, dy and dx, two threads from the L3's 32 MiB")
    func singleThreadFootprint() {
        // 7.1 MB a tensor (21.2 MB of three), rows and long channels-first runs: one thread streams.
        let rows = geometry(12, 256, spatial: 576, channelsLast: true)
        let runs = geometry(12, 256, spatial: 576, channelsLast: false)
        for geometry in [rows, runs] {
            #expect(FusedTuning.inputGradientStreams(geometry, Float.self, centered: true, inPlace: false, parts: 1))
            #expect(!FusedTuning.inputGradientStreams(geometry, Float.self, centered: true, inPlace: false, parts: 2))
            // Two tensors (the inference backward) are 14.2 MB: below it either way.
            #expect(!FusedTuning.inputGradientStreams(geometry, Float.self, centered: false, inPlace: false, parts: 1))
        }
        // 6.3 MB a tensor (18.9 MB of three) keeps plain stores on one thread, and so do 49-value runs.
        #expect(!FusedTuning.inputGradientStreams(
            ChannelGeometry(outerCount: 24_576, channelCount: 64, innerCount: 1), Float.self,
            centered: true, inPlace: false, parts: 1))
        #expect(!FusedTuning.inputGradientStreams(
            geometry(32, 2048, spatial: 49, channelsLast: false), Float.self, centered: true, inPlace: false, parts: 1))
        // `Double` by its bytes: 14,336 rows of 64 are 7.3 MB a tensor.
        #expect(FusedTuning.inputGradientStreams(
            ChannelGeometry(outerCount: 14_336, channelCount: 64, innerCount: 1), Double.self,
            centered: true, inPlace: false, parts: 1))
    }

    @Test("tensors of 16 MiB or more always stream, and a forced choice wins")
    func thresholdAndOverride() {
        let large = geometry(64, 2048, spatial: 49, channelsLast: false)  // 25.7 MB, 49-value runs
        #expect(FusedTuning.inputGradientStreams(large, Float.self, centered: false, inPlace: true))
        let small = geometry(32, 2048, spatial: 49, channelsLast: true)
        FusedTuning.withForcedStreamingStores(false) {
            #expect(!FusedTuning.inputGradientStreams(small, Float.self, centered: true, inPlace: false))
        }
        FusedTuning.withForcedStreamingStores(true) {
            #expect(FusedTuning.inputGradientStreams(
                geometry(2, 3, spatial: 4, channelsLast: true), Float.self, centered: false, inPlace: true))
        }
    }

    @Test("the training forward streams y by the footprint only with a residual, and not into channel tiles")
    func trainingForward() {
        let rows256 = geometry(16, 256, spatial: 784, channelsLast: true)  // 12.8 MB
        #expect(FusedTuning.trainingOutputStreams(rows256, Float.self, residual: true))
        #expect(!FusedTuning.trainingOutputStreams(rows256, Float.self, residual: false))
        #expect(FusedTuning.trainingOutputStreams(
            geometry(16, 1024, spatial: 196, channelsLast: false), Float.self, residual: true))
        #expect(!FusedTuning.trainingOutputStreams(
            geometry(32, 2048, spatial: 49, channelsLast: false), Float.self, residual: true))
        #expect(!FusedTuning.trainingOutputStreams(
            geometry(12, 1024, spatial: 196, channelsLast: true), Float.self, residual: true))
        #expect(FusedTuning.trainingOutputStreams(
            geometry(64, 128, spatial: 56 * 56, channelsLast: true), Float.self, residual: false))
        // 2,048-channel rows: channel tiles where the AVX2 loops run; the Swift loops have none.
        let rows2048 = geometry(32, 2048, spatial: 49, channelsLast: true)
        FusedTuning.withSwiftLoops(true) {
            #expect(FusedTuning.trainingOutputStreams(rows2048, Float.self, residual: true))
        }
        #expect(FusedTuning.trainingOutputStreams(rows2048, Float.self, residual: true)
                == !FusedTuning.wideLoopsSupported)
    }

    @Test("the training forward with a residual on one thread streams y from 20 MiB of x, the residual and y")
    func trainingForwardOnOneThread() {
        // 7.2-7.3 MB a tensor (22 MB of three), rows of 256 channels and 784-value channels-first runs.
        for geometry in [geometry(7, 256, spatial: 1_024, channelsLast: true),
                         geometry(9, 256, spatial: 784, channelsLast: false)] {
            #expect(FusedTuning.trainingOutputStreams(geometry, Float.self, residual: true, parts: 1))
            #expect(!FusedTuning.trainingOutputStreams(geometry, Float.self, residual: true, parts: 2))
            #expect(!FusedTuning.trainingOutputStreams(geometry, Float.self, residual: false, parts: 1))
        }
        // 6.3 MB a tensor (19 MB of three) keeps plain stores on one thread.
        #expect(!FusedTuning.trainingOutputStreams(
            ChannelGeometry(outerCount: 24_576, channelCount: 64, innerCount: 1), Float.self, residual: true, parts: 1))
    }

    @Test("the normalize walks wide rows in channel tiles with a residual, and without one only with AVX-512")
    func normalizeTiles() {
        let wide = FusedTuning.wideLoopsSupported
        // 2,048 Float channels (8 KiB rows, whole cache lines): tiles with a residual wherever the AVX2 loops
        // run; without one only where the CPU has AVX-512 (row blocks ran faster on the AVX2-only host).
        #expect(FusedTuning.normalizeTakesTiles(channelCount: 2048, residual: true, Float.self) == wide)
        #expect(FusedTuning.normalizeTakesTiles(channelCount: 2048, residual: false, Float.self)
                == (wide && FusedTuning.avx512Supported))
        #expect(FusedTuning.normalizeTakesTiles(channelCount: 1024, residual: true, Double.self) == wide)
        // Rows that are not whole cache lines, or narrow enough for L1, never take tiles.
        #expect(!FusedTuning.normalizeTakesTiles(channelCount: 2040, residual: true, Float.self))
        #expect(!FusedTuning.normalizeTakesTiles(channelCount: 1024, residual: true, Float.self))
    }
}
