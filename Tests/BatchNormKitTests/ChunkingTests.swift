import Testing
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// CBLAS takes 32-bit counts; the kernels split every call at `BLASCount.maximumCount`. Lowering that
/// limit (a task-local, so concurrent tests are unaffected) makes small tensors take every split
/// branch — rows longer than the limit, more rows than the limit, channel vectors longer than the
/// limit — and the results must still match the reference.
@Suite("Splitting CBLAS calls at the 32-bit limit")
struct ChunkingTests {
    static let cases: [([Int], TensorLayout, Int)] = [
        ([3, 4, 10], .channelsFirst, 3),     // runs of 10 split into 3+3+3+1
        ([9, 4, 2], .channelsFirst, 4),      // 36 runs, column sums over 9 rows in blocks of 4
        ([12, 7], .channelsFirst, 5),        // NC: rows of 7 channels split at 5
        ([5, 3, 2, 6], .channelsLast, 4),    // NHWC: channel vectors of 6 split at 4
        ([4, 2, 3], .channelsFirst, 1),      // everything one element at a time
        ([12, 3], .channelsLast, 7),         // channels-last row blocks of 2 rows (6 ≤ 7 elements)
        ([3, 5, 4], .channelsLast, 12),      // NLC: 15 rows in blocks of 3
    ]

    @Test("forward and backward with a tiny CBLAS limit", arguments: cases)
    func smallLimit(dimensions: [Int], layout: TensorLayout, limit: Int) throws {
        let shape = try TensorShape(dimensions, layout: layout)
        var generator = SeededGenerator.fresh()
        for path in KernelPath.allCases {
            var layer = try BatchNorm<Double>.random(channelCount: shape.channelCount, path: path, using: &generator)
            let input = [Double].random(count: shape.elementCount, in: -2...3, using: &generator)
            let gradOutput = [Double].random(count: shape.elementCount, in: -1...1, using: &generator)
            let before = layer
            let (output, statistics, gradients, inferenceOutput, inferenceGradients) = try BLASCount.withMaximumCount(limit) {
                let (output, statistics) = try layer.forwardTraining(input, shape: shape)
                let gradients = try layer.backward(gradOutput: gradOutput, input: input, shape: shape, statistics: statistics)
                let inferenceOutput = try before.forwardInference(input, shape: shape)
                let inferenceGradients = try before.backwardInference(gradOutput: gradOutput, input: input, shape: shape)
                return (output, statistics, gradients, inferenceOutput, inferenceGradients)
            }
            var expected = [Double](repeating: 0, count: input.count)
            let reference = NaiveBatchNorm.trainingForward(
                input, shape: shape, gamma: before.gamma, beta: before.beta, epsilon: 1e-5, into: &expected)
            var expectedGradient = [Double](repeating: 0, count: input.count)
            let expectedParameters = NaiveBatchNorm.trainingBackward(
                gradOutput: gradOutput, input: input, shape: shape, statistics: reference, gamma: before.gamma,
                into: &expectedGradient)
            var expectedInference = [Double](repeating: 0, count: input.count)
            NaiveBatchNorm.inferenceForward(
                input, shape: shape, runningMean: before.runningMean, runningVariance: before.runningVariance,
                gamma: before.gamma, beta: before.beta, epsilon: 1e-5, into: &expectedInference)
            var expectedInferenceGradient = [Double](repeating: 0, count: input.count)
            _ = NaiveBatchNorm.inferenceBackward(
                gradOutput: gradOutput, input: input, shape: shape, runningMean: before.runningMean,
                runningVariance: before.runningVariance, gamma: before.gamma, epsilon: 1e-5,
                into: &expectedInferenceGradient)
            // Same tolerances as the parity suites (64u on O(1) quantities, sums relative to M).
            let u = unitRoundoff(Double.self)
            let m = Double(shape.valuesPerChannel)
            let context = "\(shape) limit \(limit) \(path) seed \(generator.seed)"
            expectClose(output, expected, tolerance: 64 * u, context + " y")
            expectClose(statistics.variance, reference.variance, tolerance: 64 * u, scale: 0, context + " variance")
            expectClose(gradients.input, expectedGradient, tolerance: 64 * u, context + " dx")
            expectClose(gradients.parameters.gamma, expectedParameters.gamma, tolerance: 64 * u, scale: m, context + " dgamma")
            expectClose(gradients.parameters.beta, expectedParameters.beta, tolerance: 64 * u, scale: m, context + " dbeta")
            expectClose(inferenceOutput, expectedInference, tolerance: 64 * u, context + " inference y")
            expectClose(inferenceGradients.input, expectedInferenceGradient, tolerance: 64 * u, context + " inference dx")
        }
    }
}
