import Testing
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// Backward passes against the float64 naive reference on fresh random data, every rank and layout,
/// both precisions.
///
/// Tolerances (unit roundoff `u`): `dx` comes out of `M·dy - dβ - x̂·dγ`, whose two sums carry rounding
/// error of order `√M·u` relative to their magnitude, so the metric `|Δ| / (|expected| + scale)` stays
/// within `64u` (measured: under 10u) at the scale of the terms it cancels,
/// ``trainingInputGradientScale(gamma:mean:inverseStandardDeviation:)`` (1 where γ·invstd ≈ 1; larger for
/// a channel whose few values nearly agree).
/// `dγ` and `dβ` are sums of `M` terms of either sign; their rounding is bounded by `u` times the sum of
/// absolute terms, which is below `M`, so they are compared with `scale: M`, tolerance `64u`.
@Suite("Backward parity against the float64 reference")
struct BackwardParityTests {
    static let cases = TestShapes.all.flatMap { entry in KernelPath.allCases.map { (entry, $0) } }

    @Test("training backward", arguments: cases)
    func training(entry: ([Int], TensorLayout), path: KernelPath) throws {
        for affine in [true, false] {
            try checkTraining(Float.self, entry: entry, path: path, affine: affine)
            try checkTraining(Double.self, entry: entry, path: path, affine: affine)
        }
    }

    @Test("inference backward", arguments: cases)
    func inference(entry: ([Int], TensorLayout), path: KernelPath) throws {
        try checkInference(Float.self, entry: entry, path: path)
        try checkInference(Double.self, entry: entry, path: path)
    }

    func checkTraining<Scalar: BatchNormScalar>(
        _: Scalar.Type, entry: ([Int], TensorLayout), path: KernelPath, affine: Bool
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let shape = TestShapes.shape(entry)
        guard shape.valuesPerChannel > 1 else { return }
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Scalar>.random(
            channelCount: shape.channelCount, path: path, affine: affine, using: &generator)
        let input = [Scalar].random(count: shape.elementCount, in: -2...3, using: &generator)
        let gradOutput = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        let statistics = try layer.forwardTraining(input, shape: shape).statistics

        let gradients = try layer.backward(gradOutput: gradOutput, input: input, shape: shape, statistics: statistics)

        let inputInDouble = input.map(Double.init)
        let reference = NaiveBatchNorm.statistics(inputInDouble, shape: shape, epsilon: Double(layer.epsilon))
        var expected = [Double](repeating: 0, count: input.count)
        let expectedParameters = NaiveBatchNorm.trainingBackward(
            gradOutput: gradOutput.map(Double.init), input: inputInDouble, shape: shape, statistics: reference, gamma: layer.gammaInDouble,
            into: &expected)
        let u = unitRoundoff(Scalar.self)
        let m = Double(shape.valuesPerChannel)
        let context = "\(Scalar.self) \(shape) \(path) affine \(affine) seed \(generator.seed)"
        let inputGradientScale = trainingInputGradientScale(
            gamma: layer.gammaInDouble, mean: reference.mean, inverseStandardDeviation: reference.inverseStandardDeviation)
        expectClose(gradients.input, expected, tolerance: 64 * u, scale: inputGradientScale, context + " dx")
        expectClose(gradients.parameters.gamma, expectedParameters.gamma, tolerance: 64 * u, scale: m, context + " dgamma")
        expectClose(gradients.parameters.beta, expectedParameters.beta, tolerance: 64 * u, scale: m, context + " dbeta")
    }

    func checkInference<Scalar: BatchNormScalar>(
        _: Scalar.Type, entry: ([Int], TensorLayout), path: KernelPath
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let shape = TestShapes.shape(entry)
        var generator = SeededGenerator.fresh()
        let layer = try BatchNorm<Scalar>.random(channelCount: shape.channelCount, path: path, using: &generator)
        let input = [Scalar].random(count: shape.elementCount, in: -2...3, using: &generator)
        let gradOutput = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)

        let gradients = try layer.backwardInference(gradOutput: gradOutput, input: input, shape: shape)

        var expected = [Double](repeating: 0, count: input.count)
        let expectedParameters = NaiveBatchNorm.inferenceBackward(
            gradOutput: gradOutput.map(Double.init), input: input.map(Double.init), shape: shape,
            runningMean: layer.runningMean.map(Double.init), runningVariance: layer.runningVariance.map(Double.init),
            gamma: layer.gammaInDouble, epsilon: Double(layer.epsilon), into: &expected)
        let u = unitRoundoff(Scalar.self)
        let m = Double(shape.valuesPerChannel)
        let context = "\(Scalar.self) \(shape) \(path) seed \(generator.seed)"
        // dx = dy · (γ·invstd): two roundings (the folded scale, the product).
        expectClose(gradients.input, expected, tolerance: 4 * u, context + " dx")
        expectClose(gradients.parameters.gamma, expectedParameters.gamma, tolerance: 64 * u, scale: m, context + " dgamma")
        expectClose(gradients.parameters.beta, expectedParameters.beta, tolerance: 64 * u, scale: m, context + " dbeta")
    }
}
