import Testing
import BatchNormKit
import Kernels
import BatchNormTestSupport

/// The backward pass against central finite differences of the forward pass (Double), and Float
/// against Double.
///
/// The loss is `L = Σ w ⊙ y` for fixed random `w`, so `dL/dy = w`. With `h = 1e-5` the central
/// difference has truncation error `O(h²·|L'''|)` and rounding error `O(u·|L|/h) ≈ 1e-10`. Whitening's
/// third derivatives grow like `λ_min^(-5/2)`; the groups here have `λ_min ≈ 0.1`, so about 1e-7.
/// The tolerance 1e-6 relative to the largest gradient leaves an order of margin, yet a dropped term
/// (the covariance path of `dx` is ~30% of it) shows at 1e-1. Measured (2026-11-30, tolerance 0):
/// dx 2.5e-10, dgamma 3.0e-11, dbeta 3.6e-11.
@Suite("Decorrelated batch norm: gradients")
struct DecorrelatedGradientTests {
    static let cases: [([Int], TensorLayout, Int, Whitening)] = [
        ([6, 4, 3], .channelsFirst, 4, .zca),
        ([6, 4, 3], .channelsFirst, 4, .iterNorm(iterations: 5)),
        ([3, 6, 2, 2], .channelsFirst, 3, .zca),
        ([5, 3, 6], .channelsLast, 3, .zca),
        ([5, 3, 6], .channelsLast, 2, .iterNorm(iterations: 7)),
        ([12, 4], .channelsFirst, 4, .iterNorm(iterations: 20)),
        ([3, 4, 2], .channelsFirst, 4, .zca),       // M = 6 samples for 4 channels
    ]

    @Test("training backward matches finite differences (Double)", arguments: cases)
    func finiteDifferences(dimensions: [Int], layout: TensorLayout, groupSize: Int, whitening: Whitening) throws {
        let shape = try TensorShape(dimensions, layout: layout)
        var generator = SeededGenerator.fresh()
        let layer = try WhiteningTestData.layer(
            Double.self, channelCount: shape.channelCount, groupSize: groupSize, whitening: whitening, using: &generator)
        let input: [Double] = WhiteningTestData.correlated(shape, groupSize: groupSize, coupling: 0.5, using: &generator)
        let weights = [Double].random(count: shape.elementCount, in: -1...1, using: &generator)

        func loss(_ x: [Double], _ gamma: [Double], _ beta: [Double]) throws -> Double {
            var copy = layer
            copy.gamma = gamma
            copy.beta = beta
            return zip(try copy.forwardTraining(x, shape: shape).output, weights).reduce(0) { $0 + $1.0 * $1.1 }
        }
        var forwardLayer = layer
        let statistics = try forwardLayer.forwardTraining(input, shape: shape).statistics
        let gradients = try layer.backward(gradOutput: weights, input: input, shape: shape, statistics: statistics)

        let (numericInput, numericGamma, numericBeta) = try numericGradients(
            input: input, gamma: layer.gamma, beta: layer.beta, loss)
        let context = "\(shape) G=\(groupSize) \(whitening) seed \(generator.seed)"
        let inputScale = numericInput.map(abs).max() ?? 1
        expectClose(gradients.input, numericInput, tolerance: 1e-6, scale: inputScale, "dx, \(context)")
        expectClose(gradients.parameters.gamma, numericGamma, tolerance: 1e-6, scale: numericGamma.map(abs).max() ?? 1,
                    "dgamma, \(context)")
        expectClose(gradients.parameters.beta, numericBeta, tolerance: 1e-6, scale: numericBeta.map(abs).max() ?? 1,
                    "dbeta, \(context)")
    }

    /// Float backward against Double backward on the same (Float-representable) data: 1e-5 relative to
    /// the largest gradient (about 80 u), for `M` up to 448 Float products per reduction (`√M·u` typical)
    /// and `κ ≈ 10`. Measured (2026-11-30): dx 2.7e-7, dgamma 1.4e-7, dbeta 1.8e-7.
    @Test("Float backward agrees with Double", arguments: [
        ([8, 8, 7, 8], TensorLayout.channelsFirst, 8, Whitening.zca),
        ([8, 7, 8, 8], .channelsLast, 4, .zca),
        ([8, 8, 7, 8], .channelsFirst, 8, .iterNorm(iterations: 5)),
        ([8, 7, 8, 8], .channelsLast, 8, .iterNorm(iterations: 5)),
    ])
    func floatAgainstDouble(dimensions: [Int], layout: TensorLayout, groupSize: Int, whitening: Whitening) throws {
        let shape = try TensorShape(dimensions, layout: layout)
        var generator = SeededGenerator.fresh()
        var single = try WhiteningTestData.layer(
            Float.self, channelCount: shape.channelCount, groupSize: groupSize, whitening: whitening, using: &generator)
        var double = try DecorrelatedBatchNorm<Double>(
            channelCount: shape.channelCount, groupSize: groupSize, whitening: whitening)
        double.gamma = single.gamma.map(Double.init)
        double.beta = single.beta.map(Double.init)
        let input: [Float] = WhiteningTestData.correlated(shape, groupSize: groupSize, coupling: 0.5, using: &generator)
        let gradOutput = [Float].random(count: shape.elementCount, in: -1...1, using: &generator)
        let singleGradients = try single.backward(
            gradOutput: gradOutput, input: input, shape: shape,
            statistics: try single.forwardTraining(input, shape: shape).statistics)
        let inputDouble = input.map(Double.init), gradOutputDouble = gradOutput.map(Double.init)
        let doubleGradients = try double.backward(
            gradOutput: gradOutputDouble, input: inputDouble, shape: shape,
            statistics: try double.forwardTraining(inputDouble, shape: shape).statistics)
        let context = "\(shape) G=\(groupSize) \(whitening) seed \(generator.seed)"
        for (name, actual, expected) in [
            ("dx", singleGradients.input, doubleGradients.input),
            ("dgamma", singleGradients.parameters.gamma, doubleGradients.parameters.gamma),
            ("dbeta", singleGradients.parameters.beta, doubleGradients.parameters.beta),
        ] {
            expectClose(actual, expected, tolerance: 1e-5, scale: expected.map(abs).max() ?? 1, "\(name), \(context)")
        }
    }
}
