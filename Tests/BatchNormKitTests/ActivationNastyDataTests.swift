import Testing
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// The fused ReLU and residual add on data where PyTorch's exact semantics matter: outputs exactly 0
/// (where the ReLU gradient must be 0), NaN in one channel (NaN stays NaN forward; a NaN `y` passes
/// the gradient), a large mean with a small spread (the two-word mean must survive the epilogue), and
/// the fused variants (work split, streaming stores) forced on small tensors.
@Suite("Fused ReLU and residual add on nasty data")
struct ActivationNastyDataTests {
    static let walksAndCases: [(TensorWalk, EpilogueCase)] = TensorWalk.allCases.flatMap { walk in
        EpilogueCase.allCases.map { (walk, $0) }
    }

    /// Values that normalize to exactly 0: a constant channel has `x - mean` exactly 0 (see
    /// `NastyDataTests.constantChannels`), so with β = 0 its outputs are exactly +0. ReLU keeps them 0 and
    /// the backward passes 0 there (`threshold_backward`), where a `y >= 0` mask would pass `dy`; so does
    /// the backward that recomputes the mask from `x`.
    /// Channel 1 is random, channel 2 constant with β = 0.5 (all outputs 0.5, all gradients passed).
    @Test("outputs exactly 0 get gradient 0", arguments: TensorWalk.allCases)
    func exactZeros(walk: TensorWalk) throws {
        let shape = walk.shape
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Float>.random(channelCount: 3, path: .fused, using: &generator)
        layer.beta = [0, layer.beta[1], 0.5]
        let channels = (0..<shape.elementCount).map { channel(of: $0, shape) }
        let input = channels.map { channel in
            channel == 0 ? 0.1 : channel == 2 ? -7.3 : Float.random(in: -2...2, using: &generator)
        }
        let gradOutput = [Float].random(count: shape.elementCount, in: 0.5...1, using: &generator)
        let (output, statistics) = try layer.forwardTraining(input, shape: shape, activation: .relu)
        #expect(input.indices.allSatisfy { channels[$0] != 0 || output[$0] == 0 }, "seed \(generator.seed)")
        #expect(input.indices.allSatisfy { channels[$0] != 2 || output[$0] == 0.5 }, "seed \(generator.seed)")
        let gradients = try layer.backward(
            gradOutput: gradOutput, input: input, forwardOutput: output, shape: shape, statistics: statistics,
            activation: .relu, residualGradient: true)
        let residualGradient = try #require(gradients.residual)
        for index in input.indices {
            let expected: Float = output[index] > 0 ? gradOutput[index] : 0
            #expect(residualGradient[index] == expected, "index \(index) y \(output[index]) seed \(generator.seed)")
            if channels[index] == 0 { #expect(gradients.input[index] == 0, "dx at \(index) seed \(generator.seed)") }
        }
        #expect(gradients.parameters.beta[0] == 0 && gradients.parameters.gamma[0] == 0)
        // The mask recomputed from `x` (no `y`) makes the same decision at exactly 0.
        let recomputed = try layer.backward(
            gradOutput: gradOutput, input: input, shape: shape, statistics: statistics, activation: .relu)
        for index in input.indices where channels[index] == 0 {
            #expect(recomputed.input[index] == 0, "recomputed-mask dx at \(index) seed \(generator.seed)")
        }
        #expect(recomputed.parameters.beta[0] == 0 && recomputed.parameters.gamma[0] == 0)
        var expectedGradient = [Double](repeating: 0, count: input.count)
        let reference = NaiveBatchNorm.statistics(input.map(Double.init), shape: shape, epsilon: 1e-5)
        _ = NaiveBatchNorm.trainingBackward(
            gradOutput: residualGradient.map(Double.init), input: input.map(Double.init), shape: shape,
            statistics: reference, gamma: layer.gammaInDouble, into: &expectedGradient)
        // The constant channel 2 has invstd = 1/sqrt(eps) ≈ 316: dx there is k·(dz - mean dz) with k ≈ 300,
        // whose rounding is u times that size, so dx's natural scale is its root mean square, not 1.
        expectClose(gradients.input, expectedGradient, tolerance: 64 * unitRoundoff(Float.self),
                    scale: rootMeanSquare(expectedGradient), "dx seed \(generator.seed)")
    }

    /// `relu(bn(x) + r)` with `r = -bn(x)` is exactly 0 everywhere: every gradient is exactly 0.
    @Test("a residual that cancels the output exactly", arguments: TensorWalk.allCases)
    func cancellingResidual(walk: TensorWalk) throws {
        let shape = walk.shape
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Double>.random(channelCount: 3, path: .fused, using: &generator)
        let input = [Double].random(count: shape.elementCount, in: -2...2, using: &generator)
        var plainLayer = layer
        let residual = try plainLayer.forwardTraining(input, shape: shape).output.map { -$0 }
        let (output, statistics) = try layer.forwardTraining(input, shape: shape, residual: residual, activation: .relu)
        #expect(output.allSatisfy { $0 == 0 }, "seed \(generator.seed)")
        let gradOutput = [Double].random(count: shape.elementCount, in: -1...1, using: &generator)
        let gradients = try layer.backward(
            gradOutput: gradOutput, input: input, forwardOutput: output, shape: shape, statistics: statistics,
            activation: .relu, residualGradient: true)
        #expect(gradients.input.allSatisfy { $0 == 0 } && gradients.residual?.allSatisfy { $0 == 0 } == true)
        #expect(gradients.parameters.gamma == [0, 0, 0] && gradients.parameters.beta == [0, 0, 0])
    }

    /// A NaN in one channel: that channel's `y` is NaN after ReLU (not 0), its `dresidual` is `dy`
    /// (a NaN `y` is not `<= 0`), its `dx` NaN; the other channels match the reference.
    @Test("NaN stays in its channel through ReLU", arguments: walksAndCases)
    func nanChannel(walk: TensorWalk, epilogue: EpilogueCase) throws {
        let shape = walk.shape
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Float>.random(channelCount: 3, path: .fused, using: &generator)
        var input = [Float].random(count: shape.elementCount, in: -2...2, using: &generator)
        let residual = epilogue.hasResidual ? [Float].random(count: shape.elementCount, in: -1...1, using: &generator) : nil
        let gradOutput = [Float].random(count: shape.elementCount, in: -1...1, using: &generator)
        let poisoned = 1
        let channels = input.indices.map { channel(of: $0, shape) }
        input[input.indices.first { channels[$0] == poisoned && $0 > 20 } ?? 0] = .nan
        let before = layer
        let (output, statistics) = try layer.forwardTraining(
            input, shape: shape, residual: residual, activation: epilogue.activation)
        let gradients = try layer.backward(
            gradOutput: gradOutput, input: input, forwardOutput: output, shape: shape, statistics: statistics,
            activation: epilogue.activation, residualGradient: true)
        let context = "\(shape) \(epilogue) seed \(generator.seed)"
        for index in input.indices where channels[index] == poisoned {
            #expect(output[index].isNaN && gradients.input[index].isNaN, "\(context) index \(index)")
            #expect(gradients.residual?[index] == gradOutput[index], "\(context) dresidual at \(index)")
        }
        var expected = [Double](repeating: 0, count: input.count)
        _ = NaiveBatchNorm.trainingForward(
            input.map(Double.init), shape: shape, residual: residual?.map(Double.init),
            relu: epilogue.activation == .relu, gamma: before.gammaInDouble, beta: before.betaInDouble,
            epsilon: 1e-5, into: &expected)
        let clean = input.indices.filter { channels[$0] != poisoned }
        expectClose(clean.map { output[$0] }, clean.map { expected[$0] }, tolerance: 64 * unitRoundoff(Float.self), context)
        #expect(clean.allSatisfy { gradients.input[$0].isFinite }, "\(context) clean dx")
    }

    /// Float data at mean 1e4 with spread 1e-2 through ReLU (and the add): the two-word mean and the
    /// folded shift survive the epilogue (64u, as for plain batch norm on this data), forward and backward.
    @Test("large mean, small spread", arguments: walksAndCases)
    func largeOffset(walk: TensorWalk, epilogue: EpilogueCase) throws {
        let shape = walk.shape
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Float>.random(channelCount: 3, path: .fused, using: &generator)
        let input = (0..<shape.elementCount).map { _ in Float(1e4) + Float.random(in: -0.017...0.017, using: &generator) }
        let residual = epilogue.hasResidual ? [Float].random(count: shape.elementCount, in: -1...1, using: &generator) : nil
        let gradOutput = [Float].random(count: shape.elementCount, in: -1...1, using: &generator)
        let before = layer
        let (output, statistics) = try layer.forwardTraining(
            input, shape: shape, residual: residual, activation: epilogue.activation)
        var expected = [Double](repeating: 0, count: input.count)
        let reference = NaiveBatchNorm.trainingForward(
            input.map(Double.init), shape: shape, residual: residual?.map(Double.init),
            relu: epilogue.activation == .relu, gamma: before.gammaInDouble, beta: before.betaInDouble,
            epsilon: 1e-5, into: &expected)
        let u = unitRoundoff(Float.self)
        let context = "\(shape) \(epilogue) seed \(generator.seed)"
        expectClose(output, expected, tolerance: 64 * u, context + " y")
        let gradients = try layer.backward(
            gradOutput: gradOutput, input: input, forwardOutput: output, shape: shape, statistics: statistics,
            activation: epilogue.activation)
        let masked = epilogue.activation == .relu
            ? NaiveBatchNorm.reluGradient(gradOutput: gradOutput, forwardOutput: output) : gradOutput
        var expectedGradient = [Double](repeating: 0, count: input.count)
        _ = NaiveBatchNorm.trainingBackward(
            gradOutput: masked.map(Double.init), input: input.map(Double.init), shape: shape, statistics: reference,
            gamma: layer.gammaInDouble, into: &expectedGradient)
        // γ·invstd ≈ 100 here: dx's natural scale is its root mean square (see NastyDataTests.largeOffset).
        expectClose(gradients.input, expectedGradient, tolerance: 64 * u, scale: rootMeanSquare(expectedGradient),
                    context + " dx")
    }

    /// The work split (per-thread masked partial sums) and streaming stores of the epilogue, forced on
    /// the small shapes of the parity suite.
    @Test("fused variants forced on small tensors", arguments: WorkSplitTests.variants.indices)
    func variants(variant: Int) throws {
        let (parts, streaming) = WorkSplitTests.variants[variant]
        try FusedTuning.withForcedPartCount(parts) {
            try FusedTuning.withForcedStreamingStores(streaming) {
                let parity = ActivationParityTests()
                for entry in TestShapes.all {
                    for epilogue in EpilogueCase.allCases {
                        try parity.checkTraining(Float.self, entry: entry, epilogue: epilogue, path: .fused)
                        try parity.checkTraining(Double.self, entry: entry, epilogue: epilogue, path: .fused)
                        try parity.checkInference(Float.self, entry: entry, epilogue: epilogue, path: .fused)
                    }
                }
                for walk in TensorWalk.allCases {
                    try exactZeros(walk: walk)
                    try cancellingResidual(walk: walk)
                    try nanChannel(walk: walk, epilogue: .addRelu)
                }
            }
        }
    }

    func channel(of index: Int, _ shape: TensorShape) -> Int {
        shape.layout == .channelsLast ? index % shape.channelCount : (index / shape.spatialCount) % shape.channelCount
    }
}
