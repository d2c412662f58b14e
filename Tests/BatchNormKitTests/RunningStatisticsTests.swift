import Testing
import BatchNormKit
import Kernels

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
}
