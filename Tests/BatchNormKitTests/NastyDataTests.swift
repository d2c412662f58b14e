import Testing
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// Data that breaks naive formulas: a large mean with a small spread, constant channels, one value per
/// channel, huge and tiny magnitudes, NaN and infinity.
@Suite("Nasty data")
struct NastyDataTests {
    static let walks: [(TensorWalk, KernelPath)] = TensorWalk.allCases.flatMap { walk in
        KernelPath.allCases.map { (walk, $0) }
    }

    /// Float data with mean 1e4 and standard deviation 1e-2: `E[x²] - E[x]²` in Float would lose every
    /// digit (ulp(1e8) = 8 against a variance of 1e-4). The centered two-pass sums keep the variance to
    /// a few ulps: tolerance 16u relative (measured: about 1–3u).
    @Test("large mean, small spread", arguments: walks)
    func largeOffset(walk: TensorWalk, path: KernelPath) throws {
        let shape = walk.shape
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Float>.random(channelCount: shape.channelCount, path: path, using: &generator)
        let input = (0..<shape.elementCount).map { _ in Float(1e4) + Float.random(in: -0.017...0.017, using: &generator) }
        let (output, statistics) = try layer.forwardTraining(input, shape: shape)

        var expected = [Double](repeating: 0, count: input.count)
        let reference = NaiveBatchNorm.trainingForward(
            input.map(Double.init), shape: shape, gamma: layer.gammaInDouble, beta: layer.betaInDouble,
            epsilon: 1e-5, into: &expected)
        let u = unitRoundoff(Float.self)
        let context = "\(shape) \(path) seed \(generator.seed)"
        expectClose(statistics.variance, reference.variance, tolerance: 16 * u, scale: 0, context + " variance")
        expectClose(output, expected, tolerance: 64 * u, context + " output")

        // Backward centers with the same two-word mean: dγ = invstd·Σ dy·(x - mean) keeps its digits.
        let gradOutput = [Float].random(count: shape.elementCount, in: -1...1, using: &generator)
        let gradients = try layer.backward(gradOutput: gradOutput, input: input, shape: shape, statistics: statistics)
        var expectedGradient = [Double](repeating: 0, count: input.count)
        let expectedParameters = NaiveBatchNorm.trainingBackward(
            gradOutput: gradOutput.map(Double.init), input: input.map(Double.init), shape: shape,
            statistics: reference,
            gamma: layer.gammaInDouble, into: &expectedGradient)
        let m = Double(shape.valuesPerChannel)
        // Here γ·invstd ≈ 100, so dx's terms (k·dy, p·(x - mean), q) are ~100 and an element near 0 is a
        // cancellation of such terms: its rounding error is u times the terms' size, not u times 1.
        // The natural scale of dx is therefore its root mean square (≈ 58), not 1 as for O(1) outputs.
        expectClose(gradients.input, expectedGradient, tolerance: 64 * u, scale: rootMeanSquare(expectedGradient),
                    context + " dx")
        expectClose(gradients.parameters.gamma, expectedParameters.gamma, tolerance: 64 * u, scale: m, context + " dgamma")
    }

    /// The fused path's one-pass moments are taken about the mean of a channel's first block; when
    /// the rest of the batch sits far from it (a trend), it must detect the ill-conditioning and fall
    /// back to the exact block two-pass. First sample around 1000, the others around 0, spread 1.
    @Test("a first block far from the mean", arguments: walks)
    func trend(walk: TensorWalk, path: KernelPath) throws {
        try checkTrend(walk: walk, path: path, base: Float(0), step: 1000, spread: 1)
    }

    /// The same trend in `Double`, about 1e6 with a spread of 1e-3 and the first sample 1 higher: where the
    /// shifted sums reject their shift, the exact path's mean (Chan's merges, rounded at each) is refined by
    /// one more read about it into two words (`Fused.refinedMoments`), so that `dγ = invstd·Σ dy·(x - mean)`
    /// keeps its digits, which it did not without the refinement (6.7e-13 to 5.8e-12 against 7e-15 M).
    @Test("a first block far from the mean, in Double: the mean in two words", arguments: walks)
    func trendInDouble(walk: TensorWalk, path: KernelPath) throws {
        try checkTrend(walk: walk, path: path, base: 1e6, step: 1, spread: 1e-3)
    }

    /// The first sample at `base + step`, the others at `base`, each value `± spread`: the variance (16u
    /// relative) and the output (64u) as for the large offset, and `dγ` (64u at the scale `M`), which
    /// carries the mean's error (its `x - mean`), against the reference.
    private func checkTrend<Scalar: BatchNormScalar>(
        walk: TensorWalk, path: KernelPath, base: Scalar, step: Scalar, spread: Scalar
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let shape = walk.shape
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Scalar>.random(channelCount: shape.channelCount, path: path, using: &generator)
        let perSample = shape.elementCount / shape.batchSize
        let input = (0..<shape.elementCount).map { index in
            base + (index < perSample ? step : 0) + Scalar.random(in: -spread...spread, using: &generator)
        }
        let (output, statistics) = try layer.forwardTraining(input, shape: shape)
        var expected = [Double](repeating: 0, count: input.count)
        let reference = NaiveBatchNorm.trainingForward(
            input.map(Double.init), shape: shape, gamma: layer.gammaInDouble, beta: layer.betaInDouble,
            epsilon: 1e-5, into: &expected)
        let u = unitRoundoff(Scalar.self)
        let context = "\(shape) \(path) seed \(generator.seed)"
        expectClose(statistics.variance, reference.variance, tolerance: 16 * u, scale: 0, context + " variance")
        expectClose(output, expected, tolerance: 64 * u, context + " output")
        let gradOutput = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        let gradients = try layer.backward(gradOutput: gradOutput, input: input, shape: shape, statistics: statistics)
        var expectedGradient = [Double](repeating: 0, count: input.count)
        let expectedParameters = NaiveBatchNorm.trainingBackward(
            gradOutput: gradOutput.map(Double.init), input: input.map(Double.init), shape: shape, statistics: reference,
            gamma: layer.gammaInDouble, into: &expectedGradient)
        expectClose(gradients.parameters.gamma, expectedParameters.gamma, tolerance: 64 * u,
                    scale: Double(shape.valuesPerChannel), context + " dgamma")
    }

    /// A constant channel has variance exactly 0 and normalizes to exactly β (x - mean is exactly 0),
    /// and its `dx` is `γ·invstd·(dy - mean(dy))`.
    @Test("constant channels", arguments: walks)
    func constantChannels(walk: TensorWalk, path: KernelPath) throws {
        let shape = walk.shape
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Float>.random(channelCount: shape.channelCount, path: path, using: &generator)
        let constants: [Float] = [0.1, -7.3, 12345.678]
        var input = [Float](repeating: 0, count: shape.elementCount)
        for index in input.indices {
            input[index] = constants[channel(of: index, shape)]
        }
        let (output, statistics) = try layer.forwardTraining(input, shape: shape)
        #expect(statistics.mean == constants, "seed \(generator.seed)")
        #expect(statistics.variance == [0, 0, 0])
        for index in output.indices {
            #expect(output[index] == layer.beta[channel(of: index, shape)], "index \(index)")
        }
    }

    /// With one value per channel, inference is well defined (running statistics) and matches the
    /// reference; training refuses it (see the error tests).
    @Test("one value per channel in inference", arguments: KernelPath.allCases)
    func oneValuePerChannel(path: KernelPath) throws {
        for dimensions in [[1, 4], [1, 4, 1, 1]] {
            let shape = try TensorShape(dimensions)
            var generator = SeededGenerator.fresh()
            let layer = try BatchNorm<Double>.random(channelCount: 4, path: path, using: &generator)
            let input = [Double].random(count: 4, in: -3...3, using: &generator)
            var expected = [Double](repeating: 0, count: 4)
            NaiveBatchNorm.inferenceForward(
                input, shape: shape, runningMean: layer.runningMean, runningVariance: layer.runningVariance,
                gamma: layer.gamma, beta: layer.beta, epsilon: 1e-5, into: &expected)
            expectClose(try layer.forwardInference(input, shape: shape), expected, tolerance: 1e-15, "\(shape)")
        }
    }

    /// Magnitudes near the ends of each precision's range (chosen so that `M·x²` still fits): outputs
    /// stay within 64u of the reference relative to their root mean square.
    @Test("huge and tiny magnitudes", arguments: walks)
    func magnitudes(walk: TensorWalk, path: KernelPath) throws {
        try checkMagnitude(Float.self, 1e15, walk, path)
        try checkMagnitude(Float.self, 1e-15, walk, path)
        try checkMagnitude(Double.self, 1e150, walk, path)
        try checkMagnitude(Double.self, 1e-150, walk, path)
    }

    func checkMagnitude<Scalar: BatchNormScalar>(
        _: Scalar.Type, _ magnitude: Scalar, _ walk: TensorWalk, _ path: KernelPath
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let shape = walk.shape
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Scalar>(channelCount: shape.channelCount, affine: false)
        layer.kernelPath = path
        let input = [Scalar].random(count: shape.elementCount, in: -1...2, using: &generator).map { $0 * magnitude }
        let gradOutput = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator).map { $0 * magnitude }
        let (output, statistics) = try layer.forwardTraining(input, shape: shape)
        let dx = try layer.backward(gradOutput: gradOutput, input: input, shape: shape, statistics: statistics).input

        var expected = [Double](repeating: 0, count: input.count)
        let reference = NaiveBatchNorm.trainingForward(
            input.map(Double.init), shape: shape, gamma: nil, beta: nil, epsilon: 1e-5, into: &expected)
        var expectedGradient = [Double](repeating: 0, count: input.count)
        _ = NaiveBatchNorm.trainingBackward(
            gradOutput: gradOutput.map(Double.init), input: input.map(Double.init), shape: shape,
            statistics: reference, gamma: nil,
            into: &expectedGradient)
        let u = unitRoundoff(Scalar.self)
        let context = "\(Scalar.self) ×\(magnitude) \(shape) \(path) seed \(generator.seed)"
        expectClose(output, expected, tolerance: 64 * u, scale: rootMeanSquare(expected), context + " output")
        expectClose(dx, expectedGradient, tolerance: 64 * u, scale: rootMeanSquare(expectedGradient), context + " dx")
        expectClose(statistics.variance, reference.variance, tolerance: 64 * u, scale: 0, context + " variance")
    }

    /// A NaN or an infinity poisons its own channel (mean, variance, outputs, running statistics and
    /// gradients become NaN) and no other: the other channels match the reference.
    @Test("NaN and infinity stay in their channel", arguments: walks)
    func nonFinite(walk: TensorWalk, path: KernelPath) throws {
        for poison in [Float.nan, .infinity, -.infinity] {
            let shape = walk.shape
            var generator = SeededGenerator.fresh()
            var layer = try BatchNorm<Float>.random(channelCount: shape.channelCount, path: path, using: &generator)
            var input = [Float].random(count: shape.elementCount, in: -2...2, using: &generator)
            let gradOutput = [Float].random(count: shape.elementCount, in: -1...1, using: &generator)
            let poisonedChannel = 1
            let poisonedIndex = input.indices.first { channel(of: $0, shape) == poisonedChannel && $0 > 20 } ?? 0
            input[poisonedIndex] = poison
            let before = layer
            let (output, statistics) = try layer.forwardTraining(input, shape: shape)
            let gradients = try layer.backward(gradOutput: gradOutput, input: input, shape: shape, statistics: statistics)

            var expected = [Double](repeating: 0, count: input.count)
            let reference = NaiveBatchNorm.trainingForward(
                input.map(Double.init), shape: shape, gamma: before.gammaInDouble, beta: before.betaInDouble,
                epsilon: 1e-5, into: &expected)
            let context = "poison \(poison) \(shape) \(path) seed \(generator.seed)"
            #expect(statistics.variance[poisonedChannel].isNaN, "\(context)")
            #expect(layer.runningVariance[poisonedChannel].isNaN, "\(context)")
            #expect(!layer.runningMean[poisonedChannel].isFinite, "\(context)")
            for index in input.indices where channel(of: index, shape) == poisonedChannel {
                #expect(output[index].isNaN && gradients.input[index].isNaN, "\(context) index \(index)")
            }
            #expect(gradients.parameters.gamma[poisonedChannel].isNaN, "\(context)")
            let clean = input.indices.filter { channel(of: $0, shape) != poisonedChannel }
            expectClose(clean.map { output[$0] }, clean.map { expected[$0] }, tolerance: 64 * unitRoundoff(Float.self), context)
            for other in [0, 2] {
                #expect(statistics.variance[other].isFinite && layer.runningMean[other].isFinite
                        && gradients.parameters.gamma[other].isFinite, "\(context) channel \(other)")
            }
            #expect(reference.variance[poisonedChannel].isNaN)
        }
    }

    /// A channel whose moments take the exact fallback (a NaN, an infinity, or a first block far from
    /// its mean) must not change a single bit of the other channels: their statistics, outputs and
    /// gradients are those of the same tensor with that channel clean. Channel 0 holds -1, 0, 1 over and
    /// over (a mean of 0, so a ReLU sees outputs at or near 0 where x = 0); a neighbour that moved its
    /// mean by one ulp would move those outputs off 0 and flip their gradients. Float and Double, the
    /// default and two-part splits.
    @Test("a channel on the exact fallback leaves the others' bits alone", arguments: walks)
    func fallbackChannelIsolation(walk: TensorWalk, path: KernelPath) throws {
        for parts in [nil, 2] {
            try FusedTuning.withForcedPartCount(parts) {
                try checkFallbackIsolation(Float.self, walk: walk, path: path, parts: parts)
                try checkFallbackIsolation(Double.self, walk: walk, path: path, parts: parts)
            }
        }
    }

    func checkFallbackIsolation<Scalar: BatchNormScalar>(
        _: Scalar.Type, walk: TensorWalk, path: KernelPath, parts: Int?
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let shape = walk.shape
        var generator = SeededGenerator.fresh()
        let channels = (0..<shape.elementCount).map { channel(of: $0, shape) }
        var layer = try BatchNorm<Scalar>.random(channelCount: shape.channelCount, path: path, using: &generator)
        layer.beta[0] = 0
        var clean = [Scalar](repeating: 0, count: shape.elementCount)
        var ordinal = 0
        for index in clean.indices {
            if channels[index] == 0 {
                clean[index] = Scalar(ordinal % 3 - 1)
                ordinal += 1
            } else {
                clean[index] = Scalar.random(in: -2...2, using: &generator)
            }
        }
        let gradOutput = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        let poisonedChannel = 1
        let poisonedIndices = clean.indices.filter { channels[$0] == poisonedChannel }
        let perSample = shape.elementCount / shape.batchSize
        let poisonings: [(String, ([Scalar]) -> [Scalar])] = [
            ("NaN", { var x = $0; x[poisonedIndices[5]] = .nan; return x }),
            ("infinity", { var x = $0; x[poisonedIndices[5]] = .infinity; return x }),
            ("far first block", { var x = $0; for i in poisonedIndices where i < perSample { x[i] += 1000 }; return x }),
        ]
        func run(_ input: [Scalar]) throws -> (y: [Scalar], mean: [Scalar], variance: [Scalar], dx: [Scalar],
                                               dgamma: [Scalar], dbeta: [Scalar]) {
            var trained = layer
            let (output, statistics) = try trained.forwardTraining(input, shape: shape, activation: .relu)
            let gradients = try trained.backward(
                gradOutput: gradOutput, input: input, forwardOutput: output, shape: shape, statistics: statistics,
                activation: .relu)
            return (output, statistics.mean, statistics.variance, gradients.input,
                    gradients.parameters.gamma, gradients.parameters.beta)
        }
        let reference = try run(clean)
        let context = "\(Scalar.self) \(shape) \(path) parts \(parts.map(String.init) ?? "default")"
        for (name, poison) in poisonings {
            let poisoned = try run(poison(clean))
            let others = clean.indices.filter { channels[$0] != poisonedChannel }
            let otherChannels = (0..<shape.channelCount).filter { $0 != poisonedChannel }
            let same = { (a: [Scalar], b: [Scalar], indices: [Int]) in
                sameBits(indices.map { a[$0] }, indices.map { b[$0] })
            }
            #expect(same(poisoned.mean, reference.mean, otherChannels)
                    && same(poisoned.variance, reference.variance, otherChannels), "\(context) \(name): statistics")
            #expect(same(poisoned.y, reference.y, others), "\(context) \(name): outputs")
            #expect(same(poisoned.dx, reference.dx, others), "\(context) \(name): dx")
            #expect(same(poisoned.dgamma, reference.dgamma, otherChannels)
                    && same(poisoned.dbeta, reference.dbeta, otherChannels), "\(context) \(name): dgamma, dbeta")
        }
    }

    func channel(of index: Int, _ shape: TensorShape) -> Int {
        shape.layout == .channelsLast ? index % shape.channelCount : (index / shape.spatialCount) % shape.channelCount
    }
}
