import Testing
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// The forward passes against the float64 plain-loop reference, and what whitening must achieve.
///
/// Tolerances (metric of `measureError`, scale 1, outputs of magnitude ~1): `Float` 2e-5, `Double`
/// 1e-12, i.e. about 300 and 10,000 units of roundoff. The kernel rounds the centered copy (`u·|x|`)
/// and sums `M ≤ 240` products per covariance entry in working precision (`√M·u` typical); the
/// condition number of these groups (up to about 10) multiplies that into `Φ`. Measured (2026-11-30,
/// tolerance set to 0): Float outputs 5.1e-7, `Φ` 2.5e-7; Double outputs 2.5e-15, `Φ` 1.1e-15.
@Suite("Decorrelated batch norm: forward")
struct DecorrelatedForwardTests {
    static let shapes: [([Int], TensorLayout, Int)] = [
        ([8, 4, 5], .channelsFirst, 4),          // one group, G = C
        ([3, 6, 4, 5], .channelsFirst, 2),       // three groups
        ([2, 8, 3, 2, 2], .channelsFirst, 4),    // rank 5
        ([40, 6], .channelsFirst, 3),            // rank 2 (sample-major path)
        ([4, 5, 3, 8], .channelsLast, 4),        // NHWC
        ([6, 7, 6], .channelsLast, 6),           // NLC, G = C
        ([5, 4, 3, 6], .channelsFirst, 1),       // G = 1
        ([5, 4, 3, 6], .channelsLast, 1),
    ]
    static let whitenings: [Whitening] = [.zca, .iterNorm(iterations: 5)]
    static let cases = shapes.flatMap { entry in whitenings.map { (entry.0, entry.1, entry.2, $0) } }

    @Test("training forward matches the float64 reference", arguments: cases)
    func trainingParity(dimensions: [Int], layout: TensorLayout, groupSize: Int, whitening: Whitening) throws {
        try checkTraining(Float.self, dimensions, layout, groupSize, whitening, tolerance: 2e-5)
        try checkTraining(Double.self, dimensions, layout, groupSize, whitening, tolerance: 1e-12)
    }

    func checkTraining<Scalar: BatchNormScalar>(
        _ type: Scalar.Type, _ dimensions: [Int], _ layout: TensorLayout, _ groupSize: Int, _ whitening: Whitening,
        tolerance: Double
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let shape = try TensorShape(dimensions, layout: layout)
        var generator = SeededGenerator.fresh()
        var layer = try WhiteningTestData.layer(
            type, channelCount: shape.channelCount, groupSize: groupSize, whitening: whitening, using: &generator)
        let input: [Scalar] = WhiteningTestData.correlated(shape, groupSize: groupSize, using: &generator)
        let reference = NaiveDecorrelatedBatchNorm.forwardTraining(
            input, shape: shape, groupSize: groupSize, method: WhiteningTestData.referenceMethod(whitening),
            epsilon: Double(layer.epsilon), gamma: layer.gamma.map(Double.init), beta: layer.beta.map(Double.init))
        let before = layer
        let (output, statistics) = try layer.forwardTraining(input, shape: shape)
        let context = "\(Scalar.self) \(shape) G=\(groupSize) \(whitening) seed \(generator.seed)"
        expectClose(output, reference.output, tolerance: tolerance, "output, \(context)")
        expectClose(statistics.mean, reference.mean, tolerance: tolerance, "mean, \(context)")
        expectClose(statistics.whitening, reference.whitening.flatMap { $0 }, tolerance: tolerance, "Φ, \(context)")
        // Running statistics: momentum 0.1 from 0 and the identity.
        let expectedMean = before.runningMean.indices.map { 0.9 * Double(before.runningMean[$0]) + 0.1 * reference.mean[$0] }
        let expectedWhitening = zip(before.runningWhitening, reference.whitening.flatMap { $0 }).map {
            0.9 * Double($0) + 0.1 * $1
        }
        expectClose(layer.runningMean, expectedMean, tolerance: tolerance, "running mean, \(context)")
        expectClose(layer.runningWhitening, expectedWhitening, tolerance: tolerance, "running Φ, \(context)")
        #expect(layer.numBatchesTracked == 1)
    }

    @Test("inference applies the running mean and whitening", arguments: shapes)
    func inference(dimensions: [Int], layout: TensorLayout, groupSize: Int) throws {
        let shape = try TensorShape(dimensions, layout: layout)
        var generator = SeededGenerator.fresh()
        let (layer, input) = try WhiteningTestData.inferenceCase(shape, groupSize: groupSize, using: &generator)
        let output = try layer.forwardInference(input, shape: shape)
        let geometry = shape.geometry
        var expected = [Double](repeating: 0, count: input.count)
        for outer in 0..<geometry.outerCount {
            for inner in 0..<geometry.innerCount {
                func index(_ channel: Int) -> Int { (outer * geometry.channelCount + channel) * geometry.innerCount + inner }
                for channel in 0..<geometry.channelCount {
                    let group = channel / groupSize, row = channel % groupSize
                    var sum = 0.0
                    for column in 0..<groupSize {
                        let other = group * groupSize + column
                        sum += layer.runningWhitening[(group * groupSize + row) * groupSize + column]
                            * (input[index(other)] - layer.runningMean[other])
                    }
                    expected[index(channel)] = layer.gamma[channel] * sum + layer.beta[channel]
                }
            }
        }
        expectClose(output, expected, tolerance: 1e-12, "\(shape) G=\(groupSize) seed \(generator.seed)")
    }

    @Test("whitened output has identity covariance per group (Float, within 1e-3)", arguments: [
        ([64, 16, 8, 8], TensorLayout.channelsFirst, 16, Whitening.zca),
        ([64, 8, 8, 16], .channelsLast, 8, .zca),
        ([64, 16, 8, 8], .channelsFirst, 16, .iterNorm(iterations: 30)),
    ])
    func identityCovariance(dimensions: [Int], layout: TensorLayout, groupSize: Int, whitening: Whitening) throws {
        let shape = try TensorShape(dimensions, layout: layout)
        var generator = SeededGenerator.fresh()
        var layer = try DecorrelatedBatchNorm<Float>(
            channelCount: shape.channelCount, groupSize: groupSize, whitening: whitening)
        let input: [Float] = WhiteningTestData.correlated(shape, groupSize: groupSize, coupling: 0.5, using: &generator)
        let inputCovariance = WhiteningTestData.groupCovariances(input, shape: shape, groupSize: groupSize)
        // The input is far from white (the check cannot pass by accident) ...
        #expect(inputCovariance.allSatisfy { matrix in abs(matrix[1]) > 0.05 })
        let output = try layer.forwardTraining(input, shape: shape).output
        // ... the output is white: Φ (Σ - eps I) Φ = I - eps Σ^-1, off by ~1e-4 here.
        for (group, covariance) in WhiteningTestData.groupCovariances(output, shape: shape, groupSize: groupSize).enumerated() {
            let identity = (0..<(groupSize * groupSize)).map { $0 % (groupSize + 1) == 0 ? 1.0 : 0.0 }
            let worst = zip(covariance, identity).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-3, "group \(group): |cov - I| = \(worst), \(whitening) seed \(generator.seed)")
        }
    }

    @Test("G = 1 is plain batch norm", arguments: [TensorLayout.channelsFirst, .channelsLast])
    func groupOfOne(layout: TensorLayout) throws {
        let shape = try TensorShape(layout == .channelsFirst ? [4, 5, 6, 3] : [4, 6, 3, 5], layout: layout)
        var generator = SeededGenerator.fresh()
        var whitened = try WhiteningTestData.layer(
            Double.self, channelCount: 5, groupSize: 1, whitening: .zca, using: &generator)
        var plain = try BatchNorm<Double>(channelCount: 5)
        plain.gamma = whitened.gamma
        plain.beta = whitened.beta
        let input = [Double].random(count: shape.elementCount, in: -3...5, using: &generator)
        let gradOutput = [Double].random(count: shape.elementCount, in: -1...1, using: &generator)
        let (output, statistics) = try whitened.forwardTraining(input, shape: shape)
        let (plainOutput, plainStatistics) = try plain.forwardTraining(input, shape: shape)
        expectClose(output, plainOutput, tolerance: 1e-12, "output seed \(generator.seed)")
        // Φ = 1 / sqrt(var + eps): the saved inverse standard deviation.
        expectClose(statistics.whitening, plainStatistics.inverseStandardDeviation,
                    tolerance: 1e-12, "Φ seed \(generator.seed)")
        let gradients = try whitened.backward(gradOutput: gradOutput, input: input, shape: shape, statistics: statistics)
        let plainGradients = try plain.backward(
            gradOutput: gradOutput, input: input, shape: shape, statistics: plainStatistics)
        expectClose(gradients.input, plainGradients.input, tolerance: 1e-11, "dx seed \(generator.seed)")
        expectClose(gradients.parameters.gamma, plainGradients.parameters.gamma, tolerance: 1e-11,
                    scale: 10, "dgamma seed \(generator.seed)")
        expectClose(gradients.parameters.beta, plainGradients.parameters.beta, tolerance: 1e-11,
                    scale: 10, "dbeta seed \(generator.seed)")
    }
}
