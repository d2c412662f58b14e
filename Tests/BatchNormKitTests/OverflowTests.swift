import Testing
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// Values near the top of each precision's range: sums and squares that overflow must not make a
/// channel NaN. The kernels recompute such a channel exactly scaled (by the power of two of its
/// largest magnitude), so the mean and invstd are finite and correct and only a variance beyond the
/// range is reported infinite. A channel holding ±infinity reports the IEEE sum as its mean.
@Suite("Values near the overflow threshold")
struct OverflowTests {
    static let cases: [(TensorWalk, KernelPath)] = NastyDataTests.walks

    /// How channel 1 is filled (the other channels hold ordinary values in [-2, 2]).
    enum Fill: CaseIterable {
        /// Ordinary values and one `greatestFiniteMagnitude` (the NaN channel).
        case oneAtTheTop
        /// Uniform over `[-1, 1] · greatestFiniteMagnitude`: `x - mean` itself can overflow.
        case wholeRange
        /// Uniform over `[0.5, 1] · greatestFiniteMagnitude`: the sum overflows.
        case upperHalf
        /// `greatestFiniteMagnitude` everywhere (variance 0: output is exactly beta).
        case constantAtTheTop
    }

    @Test("top-of-range channels stay finite and match the scaled reference", arguments: cases)
    func topOfRange(walk: TensorWalk, path: KernelPath) throws {
        for fill in Fill.allCases {
            try check(Float.self, fill, walk, path)
            try check(Double.self, fill, walk, path)
        }
    }

    func check<Scalar: BatchNormScalar>(
        _: Scalar.Type, _ fill: Fill, _ walk: TensorWalk, _ path: KernelPath
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let shape = walk.shape
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Scalar>.random(channelCount: shape.channelCount, path: path, using: &generator)
        let top = Scalar.greatestFiniteMagnitude
        var input = [Scalar].random(count: shape.elementCount, in: -2...2, using: &generator)
        let channelOne = input.indices.filter { NastyDataTests().channel(of: $0, shape) == 1 }
        for (position, index) in channelOne.enumerated() {
            switch fill {
            case .oneAtTheTop: if position == 17 { input[index] = top }
            case .wholeRange: input[index] = Scalar.random(in: -1...1, using: &generator) * top
            case .upperHalf: input[index] = Scalar.random(in: 0.5...1, using: &generator) * top
            case .constantAtTheTop: input[index] = top
            }
        }
        let before = layer
        let (output, statistics) = try layer.forwardTraining(input, shape: shape)

        let reference = NaiveBatchNorm.statistics(input.map(Double.init), shape: shape, epsilon: Double(layer.epsilon))
        let expected = Self.scaledOutputs(input, shape, reference, gamma: before.gammaInDouble, beta: before.betaInDouble)
        let u = unitRoundoff(Scalar.self)
        let context = "\(Scalar.self) \(fill) \(shape) \(path) seed \(generator.seed)"
        #expect(output.allSatisfy { $0.isFinite }, "\(context): non-finite output")
        // Outputs are O(1); in the scaled channel invstd may be subnormal (a few bits fewer).
        expectClose(output, expected, tolerance: 64 * u, context + " output")
        // Means to a few u of the channel's largest magnitude (summation error, at most M·u).
        let largest = (0..<shape.channelCount).map { channel in
            input.indices.filter { NastyDataTests().channel(of: $0, shape) == channel }.map { Double(input[$0]).magnitude }.max() ?? 0
        }
        for channel in 0..<shape.channelCount {
            expectClose([statistics.mean[channel]], [reference.mean[channel]], tolerance: 8 * u, scale: largest[channel],
                        context + " mean of channel \(channel)")
        }
        expectClose(statistics.inverseStandardDeviation, reference.inverseStandardDeviation,
                    tolerance: 16 * u, scale: 0, context + " invstd")
        // The variance rounded to Scalar: infinite exactly where it exceeds the range.
        expectClose(statistics.variance, reference.variance.map { Double(Scalar($0)) },
                    tolerance: 16 * u, scale: 0, context + " variance")
        let momentum = 0.1
        let expectedRunningMean = zip(before.runningMean, reference.mean).map { (1 - momentum) * Double($0) + momentum * $1 }
        for channel in 0..<shape.channelCount {
            expectClose([layer.runningMean[channel]], [expectedRunningMean[channel]], tolerance: 8 * u,
                        scale: largest[channel], context + " running mean of channel \(channel)")
        }
        if fill == .constantAtTheTop {
            #expect(statistics.mean[1] == top && statistics.variance[1] == 0, "\(context)")
            #expect(channelOne.allSatisfy { output[$0] == before.beta[1] }, "\(context): not exactly beta")
        }
    }

    /// `((x / s) - (mean / s)) · (invstd · s) · gamma + beta` per channel, `s` the power of two of the
    /// channel's largest magnitude: the reference's normalization without an overflowing `x - mean`.
    static func scaledOutputs<Scalar: BatchNormScalar>(
        _ input: [Scalar], _ shape: TensorShape, _ statistics: NaiveBatchNorm.Statistics, gamma: [Double]?, beta: [Double]?
    ) -> [Double] {
        let channels = input.indices.map { NastyDataTests().channel(of: $0, shape) }
        var largest = [Double](repeating: 0, count: shape.channelCount)
        for index in input.indices { largest[channels[index]] = max(largest[channels[index]], Double(input[index]).magnitude) }
        let scale = largest.map { $0 > 0 ? Double(sign: .plus, exponent: $0.exponent, significand: 1) : 1 }
        return input.indices.map { index in
            let channel = channels[index], s = scale[channel]
            // The mean in its two words: with 20-40 values the high word of a constant channel's mean can
            // be an ulp off its value (the residual holds the rest), and that ulp times invstd·s overflows.
            let residual = statistics.meanResidual.isEmpty ? 0 : statistics.meanResidual[channel]
            let deviation = (Double(input[index]) / s - statistics.mean[channel] / s) - residual / s
            // invstd·s overflows only for a (nearly) constant channel, where the deviation is 0.
            let normalized = deviation == 0 ? 0 : deviation * (statistics.inverseStandardDeviation[channel] * s)
            return normalized * (gamma?[channel] ?? 1) + (beta?[channel] ?? 0)
        }
    }

    /// A channel with +inf reports mean +inf, with -inf mean -inf, with both or a NaN mean NaN (IEEE
    /// sums, as PyTorch and the reference); its variance, invstd and outputs are NaN and the other
    /// channels are untouched. It used to report NaN for every case.
    @Test("the mean of a channel holding infinities", arguments: cases)
    func infiniteChannels(walk: TensorWalk, path: KernelPath) throws {
        try checkInfinities(Float.self, walk, path)
        try checkInfinities(Double.self, walk, path)
    }

    func checkInfinities<Scalar: BatchNormScalar>(
        _: Scalar.Type, _ walk: TensorWalk, _ path: KernelPath
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let poisons: [([Scalar], Scalar)] = [([.infinity], .infinity), ([-.infinity], -.infinity),
                                            ([.infinity, -.infinity], .nan), ([.infinity, .nan], .nan)]
        for (values, expectedMean) in poisons {
            let shape = walk.shape
            var generator = SeededGenerator.fresh()
            var layer = try BatchNorm<Scalar>.random(channelCount: shape.channelCount, path: path, using: &generator)
            var input = [Scalar].random(count: shape.elementCount, in: -2...2, using: &generator)
            let channelOne = input.indices.filter { NastyDataTests().channel(of: $0, shape) == 1 }
            // Values 30 and 80 of the channel (a quarter and three quarters in of the few-rows walk's 40).
            let spots = channelOne.count > 80 ? [30, 80] : [channelOne.count / 4, 3 * channelOne.count / 4]
            for (offset, value) in values.enumerated() { input[channelOne[spots[offset]]] = value }
            let (output, statistics) = try layer.forwardTraining(input, shape: shape)
            let reference = NaiveBatchNorm.statistics(input.map(Double.init), shape: shape, epsilon: 1e-5)
            let context = "\(Scalar.self) \(values) \(shape) \(path) seed \(generator.seed)"
            let mean = statistics.mean[1]
            #expect(expectedMean.isNaN ? mean.isNaN : mean == expectedMean, "\(context): mean \(mean)")
            #expect(expectedMean.isNaN ? reference.mean[1].isNaN : reference.mean[1] == Double(expectedMean), "\(context)")
            #expect(statistics.variance[1].isNaN && statistics.inverseStandardDeviation[1].isNaN, "\(context)")
            #expect(layer.runningVariance[1].isNaN, "\(context)")
            #expect(expectedMean.isNaN ? layer.runningMean[1].isNaN : layer.runningMean[1] == expectedMean, "\(context)")
            #expect(channelOne.allSatisfy { output[$0].isNaN }, "\(context)")
            #expect([0, 2].allSatisfy { statistics.mean[$0].isFinite && statistics.variance[$0].isFinite }, "\(context)")
        }
    }

    /// Partial statistics of top-of-range data keep their scale through the merge (or the merged
    /// variance would be infinite and normalize every value to beta): a batch split in two and
    /// normalized with the merged statistics matches one pass over the whole batch.
    @Test("scaled statistics survive the merge of a split batch", arguments: KernelPath.allCases)
    func splitBatch(path: KernelPath) throws {
        let shape = try TensorShape([6, 3, 5, 7]), half = try TensorShape([3, 3, 5, 7])
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Double>.random(channelCount: 3, path: path, using: &generator)
        let input = [Double].random(count: shape.elementCount, in: -1...1, using: &generator).map { $0 * .greatestFiniteMagnitude }
        var whole = layer
        let (expected, _) = try whole.forwardTraining(input, shape: shape)
        let first = Array(input[..<half.elementCount]), second = Array(input[half.elementCount...])
        let global = try layer.partialStatistics(first, shape: half).merged(with: layer.partialStatistics(second, shape: half))
        #expect(global.sumOfSquaredDeviations.allSatisfy { $0 == .infinity })
        let (firstOutput, _) = try layer.forwardTraining(first, shape: half, globalStatistics: global)
        let (secondOutput, _) = try layer.forwardTraining(second, shape: half, globalStatistics: global)
        let output = firstOutput + secondOutput
        #expect(output.allSatisfy { $0.isFinite })
        expectClose(output, expected, tolerance: 64 * unitRoundoff(Double.self), "split \(path) seed \(generator.seed)")
    }
}
