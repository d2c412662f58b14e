import Testing
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// Numerics the issue pins down: IterNorm that stays bounded for many iterations, and finite outputs
/// and gradients on degenerate groups.
@Suite("Decorrelated batch norm: numerics")
struct DecorrelatedNumericsTests {
    /// A strongly correlated 8-channel group (coupling 3: condition number in the hundreds). The
    /// paper's single-matrix Newton–Schulz, run in float64 by the reference, is the unstable form;
    /// the kernels' coupled form must stay bounded and converge to ZCA's `Φ` as `T` grows.
    @Test("IterNorm stays bounded and converges to ZCA for T = 20 and T = 100", arguments: [20, 100])
    func iterNormStable(iterations: Int) throws {
        let shape = try TensorShape([64, 8, 4, 4])
        var generator = SeededGenerator.fresh()
        let input: [Double] = WhiteningTestData.correlated(shape, groupSize: 8, coupling: 3, using: &generator)
        var iterative = try DecorrelatedBatchNorm<Double>(
            channelCount: 8, groupSize: 8, whitening: .iterNorm(iterations: iterations))
        var zca = try DecorrelatedBatchNorm<Double>(channelCount: 8, groupSize: 8, whitening: .zca)
        let (output, statistics) = try iterative.forwardTraining(input, shape: shape)
        let zcaStatistics = try zca.forwardTraining(input, shape: shape).statistics
        #expect(output.allSatisfy { $0.isFinite })
        let gradOutput = [Double].random(count: shape.elementCount, in: -1...1, using: &generator)
        let gradients = try iterative.backward(gradOutput: gradOutput, input: input, shape: shape, statistics: statistics)
        #expect(gradients.input.allSatisfy { $0.isFinite })
        // Newton–Schulz converges slowly for the smallest eigenvalues (λ/tr Σ ~ 1e-3 here); by T = 20
        // every component has, to well within 1e-6 of Φ's largest entry.
        let scale = zcaStatistics.whitening.map(abs).max() ?? 1
        expectClose(statistics.whitening, zcaStatistics.whitening, tolerance: 1e-6, scale: scale,
                    "T = \(iterations) against ZCA, seed \(generator.seed)")
        // The float32 layer stays bounded too (and close to its ZCA), where rounding is 1e9 times larger.
        var single = try DecorrelatedBatchNorm<Float>(
            channelCount: 8, groupSize: 8, whitening: .iterNorm(iterations: iterations))
        let singleStatistics = try single.forwardTraining(input.map(Float.init), shape: shape).statistics
        expectClose(singleStatistics.whitening, zcaStatistics.whitening, tolerance: 1e-3, scale: scale,
                    "Float T = \(iterations), seed \(generator.seed)")
    }

    /// The paper's form on the same data, to show the test above can fail: the reference's
    /// single-matrix iteration drifts away from ZCA by T = 100 where the coupled form does not.
    @Test("the paper's single-matrix Newton–Schulz drifts on the same data")
    func uncoupledDrifts() throws {
        let shape = try TensorShape([64, 8, 4, 4])
        var generator = SeededGenerator(seed: 13)
        let input: [Double] = WhiteningTestData.correlated(shape, groupSize: 8, coupling: 3, using: &generator)
        let covariance = NaiveDecorrelatedBatchNorm.forwardTraining(
            input, shape: shape, groupSize: 8, method: .zca, epsilon: 1e-5).covariance[0]
        let zca = NaiveDecorrelatedBatchNorm.whiteningMatrix(covariance, size: 8, method: .zca)
        let uncoupled = NaiveDecorrelatedBatchNorm.whiteningMatrix(covariance, size: 8, method: .iterNorm(iterations: 100))
        let drift = zip(uncoupled, zca).map { abs($0 - $1) }.max() ?? 0
        let scale = zca.map(abs).max() ?? 1
        #expect(!(drift <= 1e-6 * scale), "uncoupled drift \(drift) (scale \(scale))")
    }

    /// Constant channels, a group with fewer samples than channels, and eigenvalues below eps:
    /// every output and gradient finite, for both whitenings, both precisions.
    @Test("degenerate groups give finite outputs and gradients", arguments: [Whitening.zca, .iterNorm(iterations: 5)])
    func degenerate(whitening: Whitening) throws {
        try degenerateCases(Float.self, whitening)
        try degenerateCases(Double.self, whitening)
    }

    func degenerateCases<Scalar: BatchNormScalar>(_: Scalar.Type, _ whitening: Whitening) throws
    where Scalar.RawSignificand: FixedWidthInteger {
        var generator = SeededGenerator.fresh()
        // (1) constant channels 1 and 3; (2) M = 3 < G = 8 (rank 2); (3) two identical channels and a
        // third at scale 1e-4 (eigenvalues ~1e-8 < eps before the eps shift).
        let constant = try TensorShape([6, 4, 5])
        var constantInput = [Scalar].random(count: constant.elementCount, in: -1...1, using: &generator)
        for outer in 0..<6 { for inner in 0..<5 { constantInput[(outer * 4 + 1) * 5 + inner] = 7; constantInput[(outer * 4 + 3) * 5 + inner] = -2 } }
        let rankDeficient = try TensorShape([3, 8], layout: .channelsLast)
        let rankDeficientInput = [Scalar].random(count: 24, in: -1...1, using: &generator)
        let tiny = try TensorShape([10, 3])
        let base = [Scalar].random(count: 10, in: -1...1, using: &generator)
        let tinyInput = (0..<30).map { index -> Scalar in
            let (sample, channel) = (index / 3, index % 3)
            return channel == 2 ? base[sample] * Scalar(1e-4) : base[sample]
        }
        for (shape, input, groupSize) in [(constant, constantInput, 4), (rankDeficient, rankDeficientInput, 8), (tiny, tinyInput, 3)] {
            var layer = try DecorrelatedBatchNorm<Scalar>(
                channelCount: shape.channelCount, groupSize: groupSize, whitening: whitening)
            let (output, statistics) = try layer.forwardTraining(input, shape: shape)
            let gradOutput = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
            let gradients = try layer.backward(gradOutput: gradOutput, input: input, shape: shape, statistics: statistics)
            let context = "\(Scalar.self) \(shape) \(whitening) seed \(generator.seed)"
            #expect(output.allSatisfy { $0.isFinite }, "output, \(context)")
            #expect(gradients.input.allSatisfy { $0.isFinite }, "dx, \(context)")
            #expect(gradients.parameters.gamma.allSatisfy { $0.isFinite }, "dgamma, \(context)")
            #expect(layer.runningWhitening.allSatisfy { $0.isFinite }, "running Φ, \(context)")
            let inferenceOutput = try layer.forwardInference(input, shape: shape)
            #expect(inferenceOutput.allSatisfy { $0.isFinite }, "inference, \(context)")
        }
    }
}
