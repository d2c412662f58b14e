import Testing
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// The running statistics follow PyTorch's update rule step by step.
@Suite("Running statistics")
struct RunningStatisticsTests {
    /// Hand-computed: channel 0 sees [1, 2, 3, 4] (mean 2.5, biased variance 1.25, unbiased 5/3),
    /// channel 1 sees [10, 10, 10, 14] (mean 11, unbiased variance 4), shape [4, 2] (NC).
    /// With momentum 0.1 from (0, 1): mean 0.25 and 1.1; variance 0.9 + 0.1·5/3 and 0.9 + 0.4.
    /// A second identical step: mean 0.9·0.25 + 0.25 = 0.475, variance 0.9·v₁ + 0.1·5/3.
    @Test("momentum 0.1, two steps, by hand", arguments: KernelPath.allCases)
    func momentum(path: KernelPath) throws {
        var layer = try BatchNorm<Double>(channelCount: 2)
        layer.kernelPath = path
        let shape = try TensorShape([4, 2])
        let input: [Double] = [1, 10, 2, 10, 3, 10, 4, 14]
        _ = try layer.forwardTraining(input, shape: shape)
        expectClose(layer.runningMean, [0.25, 1.1], tolerance: 1e-15, "step 1 mean")
        expectClose(layer.runningVariance, [0.9 + 0.1 * 5 / 3, 1.3], tolerance: 1e-15, "step 1 variance")
        _ = try layer.forwardTraining(input, shape: shape)
        expectClose(layer.runningMean, [0.475, 0.9 * 1.1 + 1.1], tolerance: 1e-15, "step 2 mean")
        expectClose(layer.runningVariance, [0.9 * (0.9 + 0.1 * 5 / 3) + 0.1 * 5 / 3, 0.9 * 1.3 + 0.4],
                    tolerance: 1e-15, "step 2 variance")
        #expect(layer.numBatchesTracked == 2)
    }

    /// `momentum: nil` is the cumulative average: after k steps the running statistics are the plain
    /// average of the k batch statistics (PyTorch's `exponential_average_factor = 1 / num_batches_tracked`).
    @Test("momentum nil is the cumulative average", arguments: KernelPath.allCases)
    func cumulative(path: KernelPath) throws {
        var layer = try BatchNorm<Double>(channelCount: 1, momentum: nil)
        layer.kernelPath = path
        let shape = try TensorShape([4, 1])
        let batches: [[Double]] = [[1, 2, 3, 4], [0, 0, 0, 8], [5, 5, 6, 6]]
        let means = [2.5, 2.0, 5.5]
        let unbiasedVariances = [5.0 / 3, 16.0, 1.0 / 3]
        for (step, batch) in batches.enumerated() {
            _ = try layer.forwardTraining(batch, shape: shape)
            let k = Double(step + 1)
            expectClose(layer.runningMean, [means[...step].reduce(0, +) / k], tolerance: 1e-15, "step \(step + 1)")
            expectClose(layer.runningVariance, [unbiasedVariances[...step].reduce(0, +) / k], tolerance: 1e-15,
                        "step \(step + 1)")
        }
        #expect(layer.numBatchesTracked == 3)
    }

    /// Without tracking, training leaves no trace and inference normalizes with the batch statistics.
    @Test("untracked layers use batch statistics", arguments: KernelPath.allCases)
    func untracked(path: KernelPath) throws {
        var layer = try BatchNorm<Double>(channelCount: 2, tracksRunningStatistics: false)
        layer.kernelPath = path
        let shape = try TensorShape([4, 2])
        let input: [Double] = [1, 10, 2, 10, 3, 10, 4, 14]
        let before = layer
        let training = try layer.forwardTraining(input, shape: shape).output
        #expect(layer == before)
        #expect(layer.runningMean.isEmpty && layer.numBatchesTracked == 0)
        expectClose(try layer.forwardInference(input, shape: shape), training.map { $0 }, tolerance: 0, "inference")
    }

    static let cases: [(TensorLayout, KernelPath)] = TensorLayout.allCases.flatMap { layout in
        KernelPath.allCases.map { (layout, $0) }
    }

    /// Three training steps on fresh random data with momentum 0, 0.3, 1 and nil and epsilon 0.5,
    /// against the reference's update chained from the same start: momentum 0 must keep the running
    /// statistics exactly, 1 must replace them by the batch's (unbiased variance), and epsilon must
    /// reach the inverse standard deviation. Tolerance 64u: one rounding of each update on top of the
    /// statistics' few ulps, over three steps.
    @Test("random steps match the reference update", arguments: cases)
    func randomSteps(layout: TensorLayout, path: KernelPath) throws {
        try checkSteps(Float.self, layout: layout, path: path)
        try checkSteps(Double.self, layout: layout, path: path)
    }

    func checkSteps<Scalar: BatchNormScalar>(
        _: Scalar.Type, layout: TensorLayout, path: KernelPath
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let shape = try TensorShape(layout == .channelsFirst ? [3, 4, 2, 5] : [3, 2, 5, 4], layout: layout)
        let u = unitRoundoff(Scalar.self)
        for momentum in [0, 0.3, 1, nil] as [Scalar?] {
            var generator = SeededGenerator.fresh()
            var layer = try BatchNorm<Scalar>(channelCount: 4, epsilon: 0.5, momentum: momentum)
            layer.kernelPath = path
            layer.runningMean = .random(count: 4, in: -1...1, using: &generator)
            layer.runningVariance = .random(count: 4, in: 0.5...2, using: &generator)
            var expectedMean = layer.runningMean.map(Double.init)
            var expectedVariance = layer.runningVariance.map(Double.init)
            let context = "\(Scalar.self) \(shape) \(path) momentum \(String(describing: momentum)) seed \(generator.seed)"
            for step in 0..<3 {
                let input = [Scalar].random(count: shape.elementCount, in: -2...3, using: &generator)
                let statistics = try layer.forwardTraining(input, shape: shape).statistics
                let reference = NaiveBatchNorm.statistics(input.map(Double.init), shape: shape, epsilon: 0.5)
                (expectedMean, expectedVariance) = NaiveBatchNorm.updatedRunningStatistics(
                    runningMean: expectedMean, runningVariance: expectedVariance, statistics: reference,
                    momentum: momentum.map(Double.init), numBatchesTrackedBefore: step)
                expectClose(statistics.inverseStandardDeviation, reference.inverseStandardDeviation,
                            tolerance: 16 * u, scale: 0, context + " step \(step) invstd")
                expectClose(layer.runningMean, expectedMean, tolerance: 64 * u, context + " step \(step) running mean")
                expectClose(layer.runningVariance, expectedVariance, tolerance: 64 * u, scale: 0,
                            context + " step \(step) running variance")
            }
            #expect(layer.numBatchesTracked == 3)
        }
    }

    /// Momentum 0 leaves the running statistics bit for bit as they were; momentum 1 makes them the
    /// last batch's mean and unbiased variance.
    @Test("momentum 0 keeps, momentum 1 replaces", arguments: KernelPath.allCases)
    func momentumExtremes(path: KernelPath) throws {
        let shape = try TensorShape([4, 2])
        let input: [Double] = [1, 10, 2, 10, 3, 10, 4, 14]
        var keeping = try BatchNorm<Double>(channelCount: 2, momentum: 0)
        keeping.kernelPath = path
        keeping.runningMean = [0.3, -0.7]
        keeping.runningVariance = [1.5, 0.25]
        _ = try keeping.forwardTraining(input, shape: shape)
        #expect(keeping.runningMean == [0.3, -0.7] && keeping.runningVariance == [1.5, 0.25])
        var replacing = try BatchNorm<Double>(channelCount: 2, momentum: 1)
        replacing.kernelPath = path
        replacing.runningMean = [0.3, -0.7]
        _ = try replacing.forwardTraining(input, shape: shape)
        expectClose(replacing.runningMean, [2.5, 11], tolerance: 1e-15, "momentum 1 mean")
        expectClose(replacing.runningVariance, [5.0 / 3, 4], tolerance: 1e-15, scale: 0, "momentum 1 variance")
    }

    /// Inference of an untracked layer normalizes with the batch statistics and still applies γ and
    /// β: against the reference's training forward with random parameters and epsilon 0.25.
    @Test("untracked inference applies gamma and beta", arguments: cases)
    func untrackedAffine(layout: TensorLayout, path: KernelPath) throws {
        let shape = try TensorShape(layout == .channelsFirst ? [3, 4, 2, 5] : [3, 2, 5, 4], layout: layout)
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Double>(channelCount: 4, epsilon: 0.25, tracksRunningStatistics: false)
        layer.kernelPath = path
        layer.gamma = .random(count: 4, in: 0.5...1.5, using: &generator)
        layer.beta = .random(count: 4, in: -1...1, using: &generator)
        let input = [Double].random(count: shape.elementCount, in: -2...3, using: &generator)
        let output = try layer.forwardInference(input, shape: shape)
        var expected = [Double](repeating: 0, count: input.count)
        _ = NaiveBatchNorm.trainingForward(
            input, shape: shape, gamma: layer.gamma, beta: layer.beta, epsilon: 0.25, into: &expected)
        expectClose(output, expected, tolerance: 64 * unitRoundoff(Double.self),
                    "\(shape) \(path) seed \(generator.seed)")
    }

    /// Inference and its backward with epsilon 0.5 (large beside the running variances 0.5–2, so a
    /// kernel that used the default 1e-5 is off in the first digit), against the reference.
    @Test("inference and inference backward honour epsilon", arguments: cases)
    func inferenceEpsilon(layout: TensorLayout, path: KernelPath) throws {
        let shape = try TensorShape(layout == .channelsFirst ? [3, 4, 2, 5] : [3, 2, 5, 4], layout: layout)
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Double>(channelCount: 4, epsilon: 0.5)
        layer.kernelPath = path
        layer.gamma = .random(count: 4, in: 0.5...1.5, using: &generator)
        layer.beta = .random(count: 4, in: -1...1, using: &generator)
        layer.runningMean = .random(count: 4, in: -1...1, using: &generator)
        layer.runningVariance = .random(count: 4, in: 0.5...2, using: &generator)
        let input = [Double].random(count: shape.elementCount, in: -2...3, using: &generator)
        let gradOutput = [Double].random(count: shape.elementCount, in: -1...1, using: &generator)
        let context = "\(shape) \(path) seed \(generator.seed)"
        var expected = [Double](repeating: 0, count: input.count)
        NaiveBatchNorm.inferenceForward(
            input, shape: shape, runningMean: layer.runningMean, runningVariance: layer.runningVariance,
            gamma: layer.gamma, beta: layer.beta, epsilon: 0.5, into: &expected)
        expectClose(try layer.forwardInference(input, shape: shape), expected, tolerance: 16 * unitRoundoff(Double.self),
                    context + " output")
        var expectedGradient = [Double](repeating: 0, count: input.count)
        let expectedParameters = NaiveBatchNorm.inferenceBackward(
            gradOutput: gradOutput, input: input, shape: shape, runningMean: layer.runningMean,
            runningVariance: layer.runningVariance, gamma: layer.gamma, epsilon: 0.5, into: &expectedGradient)
        let gradients = try layer.backwardInference(gradOutput: gradOutput, input: input, shape: shape)
        let u = unitRoundoff(Double.self)
        expectClose(gradients.input, expectedGradient, tolerance: 16 * u, context + " dx")
        expectClose(gradients.parameters.gamma, expectedParameters.gamma, tolerance: 64 * u,
                    scale: Double(shape.valuesPerChannel), context + " dgamma")
    }
}
