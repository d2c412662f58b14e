import Testing
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// Backward from statistics built by hand, as a PyTorch user holds them (`save_mean`, `save_invstd`
/// of a forward pass run elsewhere): the kernels must center on exactly the mean given and scale by
/// exactly the inverse standard deviation given, in every layout, path and precision.
///
/// The saved values are deliberately not this batch's (mean shifted by 0.25, invstd scaled by 1.1), so
/// a kernel that recomputed them from the input, or swapped the two, fails. Tolerance 64u against the
/// reference run with the same saved values, as in the backward parity suite.
@Suite("Backward from saved statistics")
struct SavedStatisticsBackwardTests {
    static let cases = TestShapes.all.flatMap { entry in KernelPath.allCases.map { (entry, $0) } }

    @Test("hand-built BatchStatistics", arguments: cases)
    func savedStatistics(entry: ([Int], TensorLayout), path: KernelPath) throws {
        try check(Float.self, entry: entry, path: path)
        try check(Double.self, entry: entry, path: path)
    }

    func check<Scalar: BatchNormScalar>(
        _: Scalar.Type, entry: ([Int], TensorLayout), path: KernelPath
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let shape = TestShapes.shape(entry)
        var generator = SeededGenerator.fresh()
        let layer = try BatchNorm<Scalar>.random(channelCount: shape.channelCount, path: path, using: &generator)
        let input = [Scalar].random(count: shape.elementCount, in: -2...3, using: &generator)
        let gradOutput = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        let batch = NaiveBatchNorm.statistics(input.map(Double.init), shape: shape, epsilon: 1e-5)
        let savedMean = batch.mean.map { Scalar($0 + 0.25) }
        let savedInverseStandardDeviation = batch.inverseStandardDeviation.map { Scalar(min($0, 10) * 1.1) }
        let saved = BatchStatistics(
            mean: savedMean, variance: batch.variance.map { Scalar($0) },
            inverseStandardDeviation: savedInverseStandardDeviation)

        let gradients = try layer.backward(gradOutput: gradOutput, input: input, shape: shape, statistics: saved)

        var expected = [Double](repeating: 0, count: input.count)
        let expectedParameters = NaiveBatchNorm.trainingBackward(
            gradOutput: gradOutput.map(Double.init), input: input.map(Double.init), shape: shape,
            mean: savedMean.map(Double.init), inverseStandardDeviation: savedInverseStandardDeviation.map(Double.init),
            gamma: layer.gamma.map(Double.init), into: &expected)
        let u = unitRoundoff(Scalar.self)
        let m = Double(shape.valuesPerChannel)
        let context = "\(Scalar.self) \(shape) \(path) seed \(generator.seed)"
        expectClose(gradients.input, expected, tolerance: 64 * u, scale: rootMeanSquare(expected), context + " dx")
        expectClose(gradients.parameters.gamma, expectedParameters.gamma, tolerance: 64 * u, scale: m.squareRoot(),
                    context + " dgamma")
        expectClose(gradients.parameters.beta, expectedParameters.beta, tolerance: 64 * u, scale: m.squareRoot(),
                    context + " dbeta")
    }
}
