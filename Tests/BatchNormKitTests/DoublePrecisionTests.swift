import Testing
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// `Double` data that only a two-word mean gets right: a channel at mean 1e9 with spread 1. A
/// one-word `Double` mean is off by up to `ulp(1e9)/2 ≈ 6e-8`, which after dividing by a standard
/// deviation near 0.6 is an error of 1e-7 (about 5e8 ulps of an O(1) output). The reference
/// (``NaiveBatchNorm``: compensated sums, two-word mean) is exact to about `u²` here, so the kernels are
/// held to the few ulps their own rounding costs. Tolerances as in the Float large-mean tests
/// (16u variance, 4u mean, 64u outputs and gradients), measured worst about 2u.
@Suite("Double precision at a large mean")
struct DoublePrecisionTests {
    static let cases: [(TensorLayout, KernelPath)] = TensorLayout.allCases.flatMap { layout in
        KernelPath.allCases.map { (layout, $0) }
    }

    static func shape(_ layout: TensorLayout) -> TensorShape {
        (try? TensorShape(layout == .channelsFirst ? [5, 3, 6, 7] : [5, 6, 7, 3], layout: layout))
            ?? { preconditionFailure() }()
    }

    @Test("mean 1e9, spread 1: statistics, outputs and gradients", arguments: cases)
    func largeMean(layout: TensorLayout, path: KernelPath) throws {
        let shape = Self.shape(layout)
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Double>.random(channelCount: shape.channelCount, path: path, using: &generator)
        let before = layer
        let input = (0..<shape.elementCount).map { _ in 1e9 + Double.random(in: -1...1, using: &generator) }
        let (output, statistics) = try layer.forwardTraining(input, shape: shape)

        var expected = [Double](repeating: 0, count: input.count)
        let reference = NaiveBatchNorm.trainingForward(
            input, shape: shape, gamma: before.gamma, beta: before.beta, epsilon: 1e-5, into: &expected)
        let u = unitRoundoff(Double.self)
        let context = "\(shape) \(path) seed \(generator.seed)"
        expectClose(statistics.mean, reference.mean, tolerance: 4 * u, scale: 0, context + " mean")
        expectClose(statistics.variance, reference.variance, tolerance: 16 * u, scale: 0, context + " variance")
        expectClose(output, expected, tolerance: 64 * u, context + " output")
        let running = NaiveBatchNorm.updatedRunningStatistics(
            runningMean: before.runningMean, runningVariance: before.runningVariance, statistics: reference,
            momentum: 0.1, numBatchesTrackedBefore: 0)
        expectClose(layer.runningMean, running.mean, tolerance: 4 * u, scale: 0, context + " running mean")
        expectClose(layer.runningVariance, running.variance, tolerance: 16 * u, scale: 0, context + " running variance")

        let gradOutput = [Double].random(count: shape.elementCount, in: -1...1, using: &generator)
        let gradients = try layer.backward(gradOutput: gradOutput, input: input, shape: shape, statistics: statistics)
        var expectedGradient = [Double](repeating: 0, count: input.count)
        let expectedParameters = NaiveBatchNorm.trainingBackward(
            gradOutput: gradOutput, input: input, shape: shape, statistics: reference, gamma: before.gamma,
            into: &expectedGradient)
        let m = Double(shape.valuesPerChannel)
        expectClose(gradients.input, expectedGradient, tolerance: 64 * u, scale: rootMeanSquare(expectedGradient),
                    context + " dx")
        expectClose(gradients.parameters.gamma, expectedParameters.gamma, tolerance: 64 * u, scale: m.squareRoot(),
                    context + " dgamma")
        expectClose(gradients.parameters.beta, expectedParameters.beta, tolerance: 64 * u, scale: m.squareRoot(),
                    context + " dbeta")
    }

    /// Constant `Double` channels far from 0: the mean is the constant exactly, the variance exactly 0,
    /// and every output exactly β.
    @Test("constant channels at 1e9", arguments: cases)
    func constantChannels(layout: TensorLayout, path: KernelPath) throws {
        let shape = Self.shape(layout)
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Double>.random(channelCount: shape.channelCount, path: path, using: &generator)
        let constants = [1e9 + 0.1, -7.3e12, 0.3]
        let input = (0..<shape.elementCount).map { constants[channel(of: $0, shape)] }
        let (output, statistics) = try layer.forwardTraining(input, shape: shape)
        #expect(statistics.mean == constants, "seed \(generator.seed)")
        #expect(statistics.variance == [0, 0, 0])
        for index in output.indices {
            #expect(output[index] == layer.beta[channel(of: index, shape)], "index \(index)")
        }
    }

    /// The reference itself: integers plus multiples of 2⁻²⁰ near 1e9 have an exactly known mean
    /// (computed in integers), which its two words must give to the last bit of the leading word.
    @Test("the reference's two-word mean is exact")
    func referenceMean() throws {
        let shape = try TensorShape([1_000, 1])
        var generator = SeededGenerator.fresh()
        let steps = (0..<shape.elementCount).map { _ in Int64.random(in: -(1 << 22)...(1 << 22), using: &generator) }
        let input = steps.map { 1e9 + Double($0) / 1_048_576 }
        let statistics = NaiveBatchNorm.statistics(input, shape: shape, epsilon: 1e-5)
        // mean = 1e9 + Σsteps / (1000 · 2²⁰); Σsteps is exact in Int64.
        let exactOffset = Double(steps.reduce(0, +)) / 1_048_576 / 1_000
        let residualFromMean = (statistics.mean[0] - 1e9) + statistics.meanResidual[0]
        // Both sides round a few times at magnitude ≤ 4 (ulp 8.9e-16); a one-word mean is off by up to 6e-8.
        #expect(abs(residualFromMean - exactOffset) <= 4e-15, "seed \(generator.seed)")
    }

    func channel(of index: Int, _ shape: TensorShape) -> Int {
        shape.layout == .channelsLast ? index % shape.channelCount : (index / shape.spatialCount) % shape.channelCount
    }
}
