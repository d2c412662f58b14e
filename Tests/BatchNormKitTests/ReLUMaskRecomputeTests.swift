import Testing
import BatchNormKit
import Kernels
import BatchNormTestSupport

/// The ReLU backward that recomputes the mask from `x` (no `y` read) against the one that reads the
/// forward's `y`: every output (dx, dγ, dβ) bit for bit. `dy` is drawn from ±[0.5, 1], never 0, so a
/// single element where the recomputed `v <= 0` disagrees with the forward's `y <= 0` changes that
/// channel's `dβ`. Random data, every rank and layout, both precisions, affine or not; and data where
/// the pre-activation is exactly 0 (constant channels with β = 0), NaN, or at a large offset, with the
/// work split and streaming stores forced; with γ > 0 the kernels compare the centered input with a
/// per-channel bound, and a channel with γ < 0 or γ = 0 sends them to the full recomputation.
@Suite("ReLU backward with the recomputed mask agrees with the mask from y")
struct ReLUMaskRecomputeTests {
    @Test("random data", arguments: TestShapes.all)
    func random(entry: ([Int], TensorLayout)) throws {
        for affine in [true, false] {
            try check(Float.self, shape: TestShapes.shape(entry), affine: affine, data: .random)
            try check(Double.self, shape: TestShapes.shape(entry), affine: affine, data: .random)
        }
    }

    enum Data: CaseIterable { case random, constantChannels, nanChannel, largeOffset, negativeGamma, zeroGamma }

    @Test("nasty data and forced variants", arguments: TensorWalk.allCases, WorkSplitTests.variants.indices)
    func nasty(walk: TensorWalk, variant: Int) throws {
        try checkNastyData(shape: walk.shape, variant: variant)
    }

    /// Rows that the dx step keeps in AVX-512 registers where the CPU has it (at most four 16-lane vectors a
    /// row: 16 and 64 channels-last channels, whose rows are read 64 values at a time; channels-first runs of
    /// 8 read as one-vector rows of samples), with the nasty data: the constant channel puts the centered
    /// input exactly on the mask's bound. The shapes above have wider rows.
    @Test("nasty data on register rows", arguments: [
        ([5, 7, 16], TensorLayout.channelsLast), ([3, 4, 64], .channelsLast), ([12, 2, 8], .channelsFirst),
    ], WorkSplitTests.variants.indices)
    func registerRows(entry: ([Int], TensorLayout), variant: Int) throws {
        try checkNastyData(shape: TestShapes.shape(entry), variant: variant)
    }

    /// Every `Data` case in both precisions under `WorkSplitTests.variants[variant]`.
    func checkNastyData(shape: TensorShape, variant: Int) throws {
        let (parts, streaming) = WorkSplitTests.variants[variant]
        try FusedTuning.withForcedPartCount(parts) {
            try FusedTuning.withForcedStreamingStores(streaming) {
                for data in Data.allCases {
                    try check(Float.self, shape: shape, affine: true, data: data)
                    try check(Double.self, shape: shape, affine: true, data: data)
                }
            }
        }
    }

    func check<Scalar: BatchNormScalar>(_: Scalar.Type, shape: TensorShape, affine: Bool, data: Data) throws
    where Scalar.RawSignificand: FixedWidthInteger {
        guard shape.valuesPerChannel > 1 else { return }
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Scalar>.random(
            channelCount: shape.channelCount, path: .fused, affine: affine, using: &generator)
        let channels = (0..<shape.elementCount).map { index in
            shape.layout == .channelsLast ? index % shape.channelCount : (index / shape.spatialCount) % shape.channelCount
        }
        var input = [Scalar].random(count: shape.elementCount, in: -2...2, using: &generator)
        switch data {
        case .random: break
        case .constantChannels:
            // Channel 0 constant with β = 0: v is exactly +0 there (y = 0, dz = 0).
            if affine { layer.beta[0] = 0 }
            for index in input.indices where channels[index] == 0 { input[index] = 0.1 }
        case .nanChannel:
            input[input.indices.first { channels[$0] == shape.channelCount - 1 } ?? 0] = .nan
        case .largeOffset:
            input = input.map { 1e4 + $0 / 100 }
        case .negativeGamma:
            // A negative scale: the mask is an upper set of the centered input, so the kernels evaluate
            // the pre-activation instead of comparing with a bound.
            if affine { layer.gamma[0] = -layer.gamma[0] }
        case .zeroGamma:
            // Scale 0: the pre-activation is β alone (β < 0 here, so the whole channel is masked).
            if affine { layer.gamma[0] = 0; layer.beta[0] = -0.5 }
        }
        let gradOutput = [Scalar].random(count: shape.elementCount, in: 0.5...1, using: &generator).map {
            Bool.random(using: &generator) ? $0 : -$0
        }
        let (y, statistics) = try layer.forwardTraining(input, shape: shape, activation: .relu)
        let fromOutput = try layer.backward(
            gradOutput: gradOutput, input: input, forwardOutput: y, shape: shape, statistics: statistics,
            activation: .relu)
        let recomputed = try layer.backward(
            gradOutput: gradOutput, input: input, shape: shape, statistics: statistics, activation: .relu)
        let context = "\(Scalar.self) \(shape) affine \(affine) \(data) seed \(generator.seed)"
        #expect(bitPattern(recomputed.input) == bitPattern(fromOutput.input), "\(context) dx")
        #expect(bitPattern(recomputed.parameters.gamma) == bitPattern(fromOutput.parameters.gamma), "\(context) dgamma")
        #expect(bitPattern(recomputed.parameters.beta) == bitPattern(fromOutput.parameters.beta), "\(context) dbeta")
        if data == .constantChannels {
            #expect(input.indices.allSatisfy { channels[$0] != 0 || y[$0] == 0 }, "\(context) zeros")
        }
    }

    /// Bit patterns, so that NaN compares equal to the same NaN and -0 differs from +0.
    func bitPattern<Scalar: BatchNormScalar>(_ values: [Scalar]) -> [UInt64] {
        values.map { UInt64(truncatingIfNeeded: Double($0).bitPattern) }
    }
}
