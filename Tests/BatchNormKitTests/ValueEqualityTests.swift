import BatchNormKit
import BatchNormTestSupport
import Kernels
import Testing

/// Public `Hashable` values compare what a user sets and sees: the kernel-path seam is not part of a
/// layer's value, and statistics rebuilt from their public fields are the same statistics (the low
/// word of the mean included), so they give the same gradients bit for bit.
@Suite("Equality of public values")
struct ValueEqualityTests {
    @Test("layers that differ only in the kernel path are equal and hash alike")
    func kernelPathIsNotPartOfTheValue() throws {
        var fused = try BatchNorm<Float>(channelCount: 3)
        var blas = fused
        blas.kernelPath = .blas
        #expect(fused == blas)
        #expect(fused.hashValue == blas.hashValue)
        fused.runningMean[1] = 0.5
        #expect(fused != blas)
        var counted = blas
        counted.numBatchesTracked += 1
        #expect(counted != blas)
    }

    @Test("statistics rebuilt from their public fields equal the originals and give the same backward")
    func statisticsRoundTrip() throws {
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Float>(channelCount: 4)
        let shape = try TensorShape([64, 4, 3, 3])
        // Values near 1e4 with small spread: the mean has a non-zero rounding residual.
        let x = [Float].random(count: shape.elementCount, in: 10_000...10_001, using: &generator)
        let dy = [Float].random(count: shape.elementCount, in: -1...1, using: &generator)
        let (_, statistics) = try layer.forwardTraining(x, shape: shape)
        let meanLow = try #require(statistics.meanLow)
        #expect(meanLow.contains { $0 != 0 }, "seed \(generator.seed): expected a non-zero low word")
        let rebuilt = BatchStatistics(
            mean: statistics.mean, variance: statistics.variance,
            inverseStandardDeviation: statistics.inverseStandardDeviation, meanLow: statistics.meanLow)
        #expect(rebuilt == statistics)
        let original = try layer.backward(gradOutput: dy, input: x, shape: shape, statistics: statistics)
        let again = try layer.backward(gradOutput: dy, input: x, shape: shape, statistics: rebuilt)
        #expect(original == again)
        let oneWord = BatchStatistics(
            mean: statistics.mean, variance: statistics.variance,
            inverseStandardDeviation: statistics.inverseStandardDeviation)
        #expect(oneWord != statistics)
    }
}
