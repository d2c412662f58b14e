import Testing
import BatchNormKit
import Kernels
import BatchNormTestSupport

/// The training forward of a tensor read as rows takes its statistics straight from the shifted sums
/// in one loop over the channels when every channel is ordinary (`ChannelLoops.trainingStatistics`),
/// split over the threads when there are many channels. That loop is the general route (per-channel
/// moments, the overflow rescue, the rounding to `Scalar` words, `invstd`) fused, with the same
/// operations, so everything a training forward returns or updates must equal the general route's bit
/// for bit (`FusedTuning.withGeneralStatistics`). The data include a constant channel beside offset ones
/// (an `M2` of 0 or a rounding below it), and channels that are not ordinary (a
/// NaN, a shift too far from the mean, `Float` values whose `M2` overflows), which must send the whole
/// call to the general route, and wide `[N, C]` whose statistics are split over 2 and 3 threads.
@Suite("Training statistics in one loop equal the general route's")
struct ChannelStatisticsTests {
    static let shapes: [([Int], TensorLayout)] = [
        ([3, 8195], .channelsFirst),      // wide [N, C]: split over the threads, a tail of 3 channels
        ([2, 4099], .channelsFirst),      // one part, a tail of 3
        ([64, 37], .channelsFirst),
        ([4, 3, 5, 130], .channelsLast),
        ([6, 3, 5, 7], .channelsFirst),   // short runs read as rows of samples
    ]

    enum Data: CaseIterable, Sendable {
        case normal, offset, constantChannel, nanChannel, trendChannel, hugeChannel
    }

    @Test("outputs and statistics bit for bit", arguments: shapes, Data.allCases)
    func bitForBit(entry: ([Int], TensorLayout), data: Data) throws {
        for parts in [nil, 2, 3] as [Int?] {
            try FusedTuning.withForcedPartCount(parts) {
                try compare(Float.self, entry: entry, data: data)
                try compare(Double.self, entry: entry, data: data)
            }
        }
    }

    private func compare<Scalar: BatchNormScalar>(
        _: Scalar.Type, entry: ([Int], TensorLayout), data: Data
    ) throws {
        let shape = try TensorShape(entry.0, layout: entry.1)
        var generator = SeededGenerator.fresh()
        let input = Self.input(Scalar.self, shape: shape, data: data, using: &generator)
        let oneLoop = try Self.trainingStep(input, shape: shape)
        let general = try FusedTuning.withGeneralStatistics(true) { try Self.trainingStep(input, shape: shape) }
        for (name, first, second) in [
            ("output", oneLoop.output, general.output), ("mean", oneLoop.mean, general.mean),
            ("mean low word", oneLoop.meanLow, general.meanLow), ("variance", oneLoop.variance, general.variance),
            ("invstd", oneLoop.invstd, general.invstd), ("running mean", oneLoop.runningMean, general.runningMean),
            ("running variance", oneLoop.runningVariance, general.runningVariance),
        ] {
            let identical = first.withUnsafeBytes { Array($0) } == second.withUnsafeBytes { Array($0) }
            #expect(identical, "\(name) differs: \(entry.0) \(entry.1) \(data) \(Scalar.self), seed \(generator.seed)")
        }
    }

    private struct Step<Scalar: BatchNormScalar> {
        var output, mean, meanLow, variance, invstd, runningMean, runningVariance: [Scalar]
    }

    private static func trainingStep<Scalar: BatchNormScalar>(
        _ input: [Scalar], shape: TensorShape
    ) throws -> Step<Scalar> {
        var layer = try BatchNorm<Scalar>(channelCount: shape.channelCount)
        let channels = shape.channelCount
        layer.gamma = (0..<channels).map { Scalar(1 + Double($0 % 7) / 8) }
        layer.beta = (0..<channels).map { Scalar(Double($0 % 5) - 2) }
        let (output, statistics) = try layer.forwardTraining(input, shape: shape)
        return Step(output: output, mean: statistics.mean, meanLow: statistics.meanLow ?? [],
                    variance: statistics.variance, invstd: statistics.inverseStandardDeviation,
                    runningMean: layer.runningMean, runningVariance: layer.runningVariance)
    }

    /// Normal data, or one of the cases; a channel-specific case hits channel `C - 2` (in the last
    /// part of a split, and in the vector body, not the tail, when `C % 4 == 3`).
    private static func input<Scalar: BatchNormScalar>(
        _: Scalar.Type, shape: TensorShape, data: Data, using generator: inout SeededGenerator
    ) -> [Scalar] {
        let channels = shape.channelCount, target = channels - 2
        let runLength = shape.layout == .channelsLast ? 1 : shape.dimensions.dropFirst(2).reduce(1, *)
        return (0..<shape.elementCount).map { index in
            let channel = (index / runLength) % channels
            let value = Double.random(in: -1...1, using: &generator)
            switch data {
            case .normal: return Scalar(value)
            case .offset: return Scalar(1000 + 0.01 * value)
            case .constantChannel: return channel == target ? Scalar(0.1) : Scalar(1000 + 0.01 * value)
            case .nanChannel: return channel == target && index % 3 == 0 ? .nan : Scalar(value)
            case .trendChannel: return channel == target ? Scalar(Double(index)) : Scalar(value)
            case .hugeChannel: return channel == target ? Scalar(value) * (Scalar.greatestFiniteMagnitude / 4) : Scalar(value)
            }
        }
    }
}
