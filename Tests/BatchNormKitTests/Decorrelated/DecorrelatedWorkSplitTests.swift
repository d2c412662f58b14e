import Testing
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// The group-whitening kernels walk each group in chunks of samples and split the chunks over the
/// pool's parts (`GroupChunks`). On the other suites' small tensors every group is one chunk and one
/// part; here `BLASCount.maximumCount` (samples per chunk and per BLAS call) and
/// `FusedTuning.forcedPartCount` force many chunks, runs that end inside a panel, per-part sums merged
/// afterwards and the `gemm` form of the second moments, with the other suites' checks and tolerances.
@Suite("Decorrelated batch norm: chunks and parts forced on small tensors")
struct DecorrelatedWorkSplitTests {
    /// `(samples per chunk and call, parts)`.
    static let variants: [(Int, Int)] = [(3, 1), (7, 2), (5, 3), (Int(Int32.max), 2)]

    static func forced<Result>(_ variant: (Int, Int), _ body: () throws -> Result) rethrows -> Result {
        try BLASCount.withMaximumCount(variant.0) {
            try FusedTuning.withForcedPartCount(variant.1) { try body() }
        }
    }

    @Test("training forward matches the float64 reference", arguments: DecorrelatedForwardTests.cases, variants)
    func trainingParity(entry: ([Int], TensorLayout, Int, Whitening), variant: (Int, Int)) throws {
        try Self.forced(variant) {
            try DecorrelatedForwardTests().trainingParity(
                dimensions: entry.0, layout: entry.1, groupSize: entry.2, whitening: entry.3)
        }
    }

    @Test("inference matches the formula", arguments: DecorrelatedForwardTests.shapes, variants)
    func inference(entry: ([Int], TensorLayout, Int), variant: (Int, Int)) throws {
        try Self.forced(variant) {
            try DecorrelatedForwardTests().inference(dimensions: entry.0, layout: entry.1, groupSize: entry.2)
        }
    }

    @Test("training backward matches finite differences (Double)", arguments: DecorrelatedGradientTests.cases, variants)
    func finiteDifferences(entry: ([Int], TensorLayout, Int, Whitening), variant: (Int, Int)) throws {
        try Self.forced(variant) {
            try DecorrelatedGradientTests().finiteDifferences(
                dimensions: entry.0, layout: entry.1, groupSize: entry.2, whitening: entry.3)
        }
    }

    /// Float data at 1e4 with spread 1e-2 (the plain kernels' large-offset case): the second moments
    /// are taken about a value of the data and the mean kept in two words, so the output keeps the
    /// Float tolerance of the parity suite (2e-5); about the origin, `E[x²] - E[x]²` would lose every
    /// digit, and a one-word Float mean (off by up to 5e-4) would move outputs by 5%.
    @Test("large offset keeps Float accuracy", arguments: [TensorLayout.channelsFirst, .channelsLast], variants)
    func largeOffset(layout: TensorLayout, variant: (Int, Int)) throws {
        let shape = try TensorShape(layout == .channelsFirst ? [6, 4, 3, 5] : [6, 3, 5, 4], layout: layout)
        var generator = SeededGenerator.fresh()
        let spread: [Float] = WhiteningTestData.correlated(shape, groupSize: 2, offset: 0, using: &generator)
        let input = spread.map { 1e4 + 1e-2 * $0 }
        var layer = try WhiteningTestData.layer(
            Float.self, channelCount: 4, groupSize: 2, whitening: .zca, using: &generator)
        let reference = NaiveDecorrelatedBatchNorm.forwardTraining(
            input, shape: shape, groupSize: 2, method: .zca, epsilon: Double(layer.epsilon),
            gamma: layer.gamma.map(Double.init), beta: layer.beta.map(Double.init))
        let output = try Self.forced(variant) { try layer.forwardTraining(input, shape: shape).output }
        expectClose(output, reference.output, tolerance: 2e-5, "\(shape) seed \(generator.seed)")
    }
}
