import Testing
import BatchNormKit
import Kernels
import BatchNormTestSupport

/// The channels-first training passes walked one channel at a time (`FusedPasses.channelWalkTrainingBackward`:
/// a channel's sums, its step, then its `dx`; `FusedPasses.channelWalkTrainingForward`: its moments, its
/// coefficients, then its `y`), forced on small tensors (`FusedTuning.withForcedChannelWalk`):
///
/// - bit for bit the memory-order passes in one part, in every part count and with and without streaming
///   stores (a channel's runs add into its sums in sample order either way): the training forward plain,
///   with ReLU and with the residual add + ReLU (`y`, the statistics, the running statistics), the plain
///   backward, the ReLU backward with the recomputed mask and the ReLU and add + ReLU backward with the
///   mask from `y` (`dx`, `dresidual`, `dγ`, `dβ`); on random data, a NaN channel, a constant
///   channel and a large offset, in both precisions: the bits do not depend on the thread count;
/// - the parity and nasty-data checks against the float64 reference on every test shape and layout
///   (the walk is correct for any geometry, though the rule takes it only for long channels-first runs);
/// - the rule: only long channels-first runs; without AVX-512, of tensors beyond the L3 whose channels fit
///   in it; with AVX-512, the backward's, whose channels fit in one core's L2.
///
/// Skipped on CPUs without AVX2, where the walk never runs.
@Suite("Channels-first training passes walked one channel at a time",
       .enabled(if: FusedTuning.wideLoopsSupported, "this CPU has no AVX2: the walk never runs"))
struct ChannelWalkTests {
    /// Channels-first shapes whose memory-order passes take the run loops (runs of 64 values or more),
    /// so both walks add each run's sums in the same order (and take the same shift): runs of 72, 100, 1,100 (a reduction block
    /// and a tail) and 2,048; one channel, one sample, more channels than the forced parts; and channels of
    /// 100 KB (`Float`) and 200 KB (`Double`), so the forward walks its channels in groups of two and of one
    /// (`Fused.channelWalkGroupBytes`) with a last group cut short.
    static let runShapes: [[Int]] = [
        [3, 4, 8, 9], [2, 5, 100], [2, 3, 1100], [1, 7, 64], [4, 1, 2048], [5, 2, 8, 16], [2, 3, 12800],
    ]

    enum Data: CaseIterable { case random, nanChannel, constantChannel, largeOffset }

    /// `(parts, streaming)` of the walk.
    static let walkVariants: [(Int, Bool)] = [(1, false), (2, false), (3, true)]

    @Test("the memory-order backward's bits", arguments: runShapes)
    func memoryOrderBits(dimensions: [Int]) throws {
        let shape = TestShapes.shape((dimensions, .channelsFirst))
        for data in Data.allCases {
            try check(Float.self, shape: shape, data: data)
            try check(Double.self, shape: shape, data: data)
        }
    }

    @Test("parity on random data, walked", arguments: TestShapes.all, [1, 3])
    func parity(entry: ([Int], TensorLayout), parts: Int) throws {
        try FusedTuning.withForcedChannelWalk(true) {
            try FusedTuning.withForcedPartCount(parts) {
                try checkFusedParity(entry: entry)
                try checkFusedActivationParity(entry: entry)
            }
        }
    }

    @Test("nasty data, walked", arguments: TensorWalk.allCases)
    func nasty(walk: TensorWalk) throws {
        try FusedTuning.withForcedChannelWalk(true) {
            try FusedTuning.withForcedPartCount(2) {
                try checkFusedNastyData(walk: walk)
            }
        }
    }

    /// Whether the rule walks `outer x channels x inner` at `parts` threads.
    func walks<Scalar>(
        _: Scalar.Type, _ outer: Int, _ channels: Int, _ inner: Int, parts: Int, backward: Bool = true,
        forwardOutput: Bool = false
    ) -> Bool {
        FusedTuning.withForcedPartCount(parts) {
            FusedTuning.walksChannels(
                ChannelGeometry(outerCount: outer, channelCount: channels, innerCount: inner), Scalar.self,
                backward: backward, readsForwardOutput: forwardOutput)
        }
    }

    @Test("the rule without AVX-512: long channels-first runs beyond the L3, channels that fit in it",
          .enabled(if: !FusedTuning.avx512Supported))
    func rule() throws {
        // 64x128x56x56: walked where the CPU has AVX2, at 1 and 2 threads.
        let expected = FusedTuning.wideLoopsSupported
        #expect(walks(Float.self, 64, 128, 3136, parts: 1) == expected)
        #expect(walks(Float.self, 64, 128, 3136, parts: 2) == expected)
        #expect(walks(Float.self, 64, 128, 3136, parts: 2, backward: false) == expected)
        // Through a ReLU masked by `y`, x, dy and y: 2.4 MB a channel at 1 thread, 4.8 MB at 2.
        #expect(walks(Float.self, 64, 128, 3136, parts: 1, forwardOutput: true) == expected)
        #expect(!walks(Float.self, 64, 128, 3136, parts: 2, forwardOutput: true))
        #expect(walks(Float.self, 32, 64, 3136, parts: 2, forwardOutput: true) == expected)
        #expect(walks(Float.self, 32, 64, 3136, parts: 2) == expected)      // 25.7 MB, 800 KB a channel...
        #expect(!walks(Float.self, 32, 64, 3136, parts: 2, backward: false))  // ...but x alone stays in the L3
        #expect(walks(Double.self, 64, 128, 3136, parts: 1) == expected)   // 3.2 MB of x and dy a channel...
        #expect(!walks(Double.self, 64, 128, 3136, parts: 2))              // ...twice...
        #expect(walks(Double.self, 64, 128, 3136, parts: 2, backward: false) == expected)  // ...x alone
        // Never: channels-last (runs of one value), runs under 2 KiB (32x512x14x14), cached tensors
        // under 32 MiB, channels whose cached tensors outgrow 4 MiB at that many threads, fewer than two
        // channels per thread.
        #expect(!walks(Float.self, 64 * 3136, 128, 1, parts: 1))
        #expect(!walks(Float.self, 128, 512, 196, parts: 1))
        #expect(!walks(Float.self, 8, 64, 3136, parts: 1))
        #expect(!walks(Float.self, 256, 64, 3136, parts: 1))
        #expect(!walks(Float.self, 256, 64, 3136, parts: 2, backward: false))
        #expect(!walks(Float.self, 64, 128, 3136, parts: 8))
        #expect(!walks(Float.self, 4096, 3, 3136, parts: 2))
        // Forced, whatever the tensor.
        #expect(FusedTuning.withForcedChannelWalk(true) { walks(Float.self, 2, 3, 4, parts: 1) })
        #expect(!FusedTuning.withForcedChannelWalk(false) { walks(Float.self, 64, 128, 3136, parts: 1) })
    }

    @Test("the rule with AVX-512: the backward's long channels-first runs, channels that fit in one core's L2",
          .enabled(if: FusedTuning.wideLoopsSupported && FusedTuning.avx512Supported))
    func ruleWithAVX512() throws {
        let level2 = FusedTuning.level2CacheBytes
        /// Whether a thread's channel of `tensors` tensors of `samples` runs of `runBytes` fits in the L2, and
        /// its runs in those tensors and `dx` span at most 1,024 pages of 4 KiB (each run's bytes plus a page).
        func fits(_ tensors: Int, _ samples: Int, _ runBytes: Int) -> Bool {
            level2 > 0 && tensors * samples * runBytes <= level2
                && (tensors + 1) * samples * (runBytes + 4096) <= 4 << 20
        }
        // 64x128x56x56: x and dy 1.6 MB a channel (the same at 2 threads: each has its own L2), with y 2.4 MB.
        #expect(walks(Float.self, 64, 128, 3136, parts: 1) == fits(2, 64, 3136 * 4))
        #expect(walks(Float.self, 64, 128, 3136, parts: 2) == fits(2, 64, 3136 * 4))
        #expect(walks(Float.self, 64, 128, 3136, parts: 1, forwardOutput: true) == fits(3, 64, 3136 * 4))
        #expect(walks(Double.self, 64, 128, 3136, parts: 2) == fits(2, 64, 3136 * 8))
        // In cache too: 8x64x56x56 (200 KB a channel), 32x128x28x28.
        #expect(walks(Float.self, 8, 64, 3136, parts: 1) == fits(2, 8, 3136 * 4))
        #expect(walks(Float.self, 32, 128, 784, parts: 2) == fits(2, 32, 784 * 4))
        // Short runs from four cache lines: 32x512x14x14 (784 B), 256 B exactly, 7x7 in `Double` (392 B).
        #expect(walks(Float.self, 32, 512, 196, parts: 1) == fits(2, 32, 196 * 4))
        #expect(walks(Float.self, 32, 512, 64, parts: 2) == fits(2, 32, 64 * 4))
        #expect(walks(Double.self, 32, 512, 49, parts: 1) == fits(2, 32, 49 * 8))
        // Not where the memory-order sums read the runs as rows of samples (7x7 `Double`, 4 channels: the
        // bits would change).
        #expect(FusedTuning.readsRows(ChannelGeometry(outerCount: 32, channelCount: 4, innerCount: 49), Double.self, parts: 1))
        #expect(!walks(Double.self, 32, 4, 49, parts: 1))
        // Many samples of short runs: 192x64x28x28 spans 1,017 pages a channel (x, dy, dx), 256x32x28x28
        // 1,356 and 512x32x14x14 1,830, all within a 2 MiB L2.
        #expect(walks(Float.self, 192, 64, 784, parts: 1) == fits(2, 192, 3136))
        #expect(!walks(Float.self, 256, 32, 784, parts: 1))
        #expect(!walks(Float.self, 512, 32, 196, parts: 2))
        // Every L2 we know holds 200 KB, so the rule does walk somewhere.
        #expect(level2 < 200_704 || walks(Float.self, 8, 64, 3136, parts: 1))
        // Never: the forward, channels-last (runs of one value), runs under 256 B (252 B; 7x7 `Float`), fewer
        // than two channels per thread, channels beyond any L2 (256x64x56x56, 12.8 MB of x and dy).
        #expect(!walks(Float.self, 64, 128, 3136, parts: 1, backward: false))
        #expect(!walks(Float.self, 8, 64, 3136, parts: 1, backward: false))
        #expect(!walks(Float.self, 64 * 3136, 128, 1, parts: 1))
        #expect(!walks(Float.self, 32, 512, 63, parts: 1))
        #expect(!walks(Float.self, 32, 2048, 49, parts: 1))
        #expect(!walks(Float.self, 4096, 3, 3136, parts: 2))
        #expect(!walks(Float.self, 256, 64, 3136, parts: 1) || level2 >= 12_845_056)
        // Forced, whatever the tensor.
        #expect(FusedTuning.withForcedChannelWalk(true) { walks(Float.self, 2, 3, 4, parts: 1, backward: false) })
        #expect(!FusedTuning.withForcedChannelWalk(false) { walks(Float.self, 8, 64, 3136, parts: 1) })
    }

    func check<Scalar: BatchNormScalar>(_: Scalar.Type, shape: TensorShape, data: Data) throws
    where Scalar.RawSignificand: FixedWidthInteger {
        var generator = SeededGenerator.fresh()
        let layer = try BatchNorm<Scalar>.random(channelCount: shape.channelCount, path: .fused, using: &generator)
        var input = [Scalar].random(count: shape.elementCount, in: -2...2, using: &generator)
        let runLength = shape.geometry.innerCount
        switch data {
        case .random: break
        case .nanChannel: input[shape.elementCount - 1] = .nan
        case .constantChannel:
            // Channel 0 of every sample.
            for sample in 0..<shape.geometry.outerCount {
                let start = sample * shape.channelCount * runLength
                for index in start..<(start + runLength) { input[index] = 0.25 }
            }
        case .largeOffset: input = input.map { 1e4 + $0 / 100 }
        }
        let gradOutput = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        let residual = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        var trained = layer
        let (_, statistics) = try trained.forwardTraining(input, shape: shape)
        // The forwards whose `y` the backward masks by, in memory order (the walk's are the same bits).
        let (reluOutput, reluStatistics) = try FusedTuning.withForcedChannelWalk(false) {
            var forward = layer
            return try forward.forwardTraining(input, shape: shape, activation: .relu)
        }
        let (addReLUOutput, addReLUStatistics) = try FusedTuning.withForcedChannelWalk(false) {
            var forward = layer
            return try forward.forwardTraining(input, shape: shape, residual: residual, activation: .relu)
        }
        func outputs() throws -> [(String, [Double])] {
            var result = [(String, [Scalar])]()
            for (name, activation, withResidual) in [("", FusedActivation.identity, false), ("relu ", .relu, false),
                                                     ("add+relu ", .relu, true)] {
                var forward = layer
                let (y, forwardStatistics) = try forward.forwardTraining(
                    input, shape: shape, residual: withResidual ? residual : nil, activation: activation)
                result += [("\(name)y", y), ("\(name)mean", forwardStatistics.mean),
                           ("\(name)invstd", forwardStatistics.inverseStandardDeviation),
                           ("\(name)running mean", forward.runningMean),
                           ("\(name)running variance", forward.runningVariance)]
            }
            let plain = try layer.backward(gradOutput: gradOutput, input: input, shape: shape, statistics: statistics)
            let relu = try layer.backward(
                gradOutput: gradOutput, input: input, shape: shape, statistics: statistics, activation: .relu)
            let reluFromOutput = try layer.backward(
                gradOutput: gradOutput, input: input, forwardOutput: reluOutput, shape: shape,
                statistics: reluStatistics, activation: .relu)
            let addReLU = try layer.backward(
                gradOutput: gradOutput, input: input, forwardOutput: addReLUOutput, shape: shape,
                statistics: addReLUStatistics, activation: .relu, residualGradient: true)
            result += [("dx", plain.input), ("dgamma", plain.parameters.gamma), ("dbeta", plain.parameters.beta),
                       ("relu dx", relu.input), ("relu dgamma", relu.parameters.gamma),
                       ("relu dbeta", relu.parameters.beta),
                       ("y-masked relu dx", reluFromOutput.input), ("y-masked relu dgamma", reluFromOutput.parameters.gamma),
                       ("y-masked relu dbeta", reluFromOutput.parameters.beta),
                       ("add+relu dx", addReLU.input), ("add+relu dresidual", addReLU.residual ?? []),
                       ("add+relu dgamma", addReLU.parameters.gamma), ("add+relu dbeta", addReLU.parameters.beta)]
            return result.map { ($0.0, $0.1.map(Double.init)) }
        }
        let memoryOrder = try FusedTuning.withForcedChannelWalk(false) {
            try FusedTuning.withForcedPartCount(1) { try outputs() }
        }
        for (parts, streaming) in Self.walkVariants {
            let walked = try FusedTuning.withForcedChannelWalk(true) {
                try FusedTuning.withForcedPartCount(parts) {
                    try FusedTuning.withForcedStreamingStores(streaming) { try outputs() }
                }
            }
            let context = "\(Scalar.self) \(shape) \(data) parts \(parts) streaming \(streaming) seed \(generator.seed)"
            for ((name, expected), (_, actual)) in zip(memoryOrder, walked) {
                // A NaN channel leaves the ReLU mask without bounds: that backward keeps the memory order,
                // whose sums depend on the split into parts.
                if data == .nanChannel && parts > 1 && name.hasPrefix("relu d") { continue }
                #expect(expected.count == actual.count, "\(context) \(name) count")
                let first = expected.indices.first { !WideLoopParityTests.agree(expected[$0], actual[$0]) }
                #expect(first == nil, "\(context) \(name) differs first at \(first ?? 0)")
            }
        }
    }
}
