import Testing
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// Partial statistics of disjoint parts of a batch, merged with Chan's formula, equal the statistics of
/// the whole batch — the building block for statistics gathered across threads or processes.
@Suite("Merging partial statistics")
struct MomentsMergeTests {
    @Test("merging batch slices gives the whole batch's moments", arguments: KernelPath.allCases)
    func slices(path: KernelPath) throws {
        var generator = SeededGenerator.fresh()
        let channelCount = 4, spatial = 6
        let batchSizes = [1, 5, 2, 7]    // unequal parts, one with a single sample
        let parts = batchSizes.map { [Float].random(count: $0 * channelCount * spatial, in: 100...101, using: &generator) }
        var merged = ChannelMoments<Float>.empty(channelCount: channelCount)
        for (part, batchSize) in zip(parts, batchSizes) {
            let geometry = ChannelGeometry(outerCount: batchSize, channelCount: channelCount, innerCount: spatial)
            merged = merged.merged(with: BatchNormKernels.moments(of: part.span, geometry: geometry, path: path))
        }
        merged = merged.merged(with: .empty(channelCount: channelCount))
        let whole = parts.flatMap { $0 }
        let shape = try TensorShape([batchSizes.reduce(0, +), channelCount, spatial])
        let reference = NaiveBatchNorm.statistics(whole.map(Double.init), shape: shape, epsilon: 1e-5)
        let u = unitRoundoff(Float.self)
        #expect(merged.count == shape.valuesPerChannel)
        // Data near 100 with spread 0.3: the mean to a few ulps (two-word mean), M2 relative 64u.
        expectClose(zip(merged.mean, merged.meanLow).map { Double($0) + Double($1) }, reference.mean,
                    tolerance: 4 * u, scale: 0, "mean, seed \(generator.seed)")
        expectClose(merged.biasedVariance, reference.variance, tolerance: 64 * u, scale: 0, "variance, seed \(generator.seed)")
    }

    @Test("merging with an empty part is the identity")
    func identity() {
        let moments = ChannelMoments<Double>(count: 3, mean: [1, 2], sumOfSquaredDeviations: [0.5, 4])
        #expect(moments.merged(with: .empty(channelCount: 2)) == moments)
        #expect(ChannelMoments<Double>.empty(channelCount: 2).merged(with: moments) == moments)
    }
}
