import Testing
import BatchNormKit
import Kernels
import BatchNormTestSupport

/// The span entry points, inference backward and layers without running statistics.
@Suite("Decorrelated batch norm: span forms, inference backward, untracked statistics")
struct DecorrelatedEntryPointTests {
    static let shapes: [([Int], TensorLayout, Int)] = [
        ([3, 6, 4, 5], .channelsFirst, 2),
        ([4, 5, 3, 8], .channelsLast, 4),
        ([40, 6], .channelsFirst, 3),
    ]

    /// The span forms run the kernels the array forms run (into memory instead of a new array): the
    /// same values bit for bit, and the same running statistics.
    @Test("span forms equal the array forms", arguments: shapes)
    func spanForms(dimensions: [Int], layout: TensorLayout, groupSize: Int) async throws {
        // Bits compared across calls: OpenBLAS's thread count must not change in between (ThreadCountGate).
        try await ThreadCountGate.unchanged {
            try spanForms(Float.self, dimensions, layout, groupSize)
            try spanForms(Double.self, dimensions, layout, groupSize)
        }
    }

    func spanForms<Scalar: BatchNormScalar>(
        _ type: Scalar.Type, _ dimensions: [Int], _ layout: TensorLayout, _ groupSize: Int
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let shape = try TensorShape(dimensions, layout: layout)
        var generator = SeededGenerator.fresh()
        var arrayLayer = try WhiteningTestData.layer(
            type, channelCount: shape.channelCount, groupSize: groupSize, whitening: .zca, using: &generator)
        var spanLayer = arrayLayer
        let input: [Scalar] = WhiteningTestData.correlated(shape, groupSize: groupSize, using: &generator)
        let gradOutput = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        let context = "\(Scalar.self) \(shape) seed \(generator.seed)"

        let (expectedOutput, statistics) = try arrayLayer.forwardTraining(input, shape: shape)
        var output = [Scalar](repeating: .nan, count: shape.elementCount)
        var outputSpan = output.mutableSpan
        let spanStatistics = try spanLayer.forwardTraining(input.span, shape: shape, into: &outputSpan)
        #expect(output == expectedOutput, "training output, \(context)")
        #expect(spanStatistics == statistics, "statistics, \(context)")
        #expect(spanLayer == arrayLayer, "running statistics, \(context)")

        let expectedInference = try arrayLayer.forwardInference(input, shape: shape)
        var inference = [Scalar](repeating: .nan, count: shape.elementCount)
        var inferenceSpan = inference.mutableSpan
        try spanLayer.forwardInference(input.span, shape: shape, into: &inferenceSpan)
        #expect(inference == expectedInference, "inference output, \(context)")

        let expectedGradients = try arrayLayer.backward(
            gradOutput: gradOutput, input: input, shape: shape, statistics: statistics)
        var gradInput = [Scalar](repeating: .nan, count: shape.elementCount)
        var gradInputSpan = gradInput.mutableSpan
        let parameters = try spanLayer.backward(
            gradOutput: gradOutput.span, input: input.span, shape: shape, statistics: statistics, into: &gradInputSpan)
        #expect(gradInput == expectedGradients.input, "dx, \(context)")
        #expect(parameters == expectedGradients.parameters, "dgamma, dbeta, \(context)")
    }

    /// Inference is affine in `x`, `gamma` and `beta`, so central differences of `L = Σ w ⊙ y` are exact
    /// up to rounding (`u·|L| / h ≈ 1e-10` relative); 1e-8 relative to the largest gradient leaves room,
    /// while a transposed `Φ` or a dropped `gamma` is off by order 1.
    @Test("inference backward matches finite differences (Double)", arguments: shapes)
    func inferenceBackward(dimensions: [Int], layout: TensorLayout, groupSize: Int) throws {
        let shape = try TensorShape(dimensions, layout: layout)
        var generator = SeededGenerator.fresh()
        let (layer, input) = try WhiteningTestData.inferenceCase(shape, groupSize: groupSize, using: &generator)
        let weights = [Double].random(count: shape.elementCount, in: -1...1, using: &generator)
        func loss(_ x: [Double], _ gamma: [Double], _ beta: [Double]) throws -> Double {
            var copy = layer
            copy.gamma = gamma
            copy.beta = beta
            return zip(try copy.forwardInference(x, shape: shape), weights).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let gradients = try layer.backwardInference(gradOutput: weights, input: input, shape: shape)
        let numeric = try numericGradients(input: input, gamma: layer.gamma, beta: layer.beta, loss)
        let context = "\(shape) G=\(groupSize) seed \(generator.seed)"
        for (name, actual, expected) in [
            ("dx", gradients.input, numeric.input), ("dgamma", gradients.parameters.gamma, numeric.gamma),
            ("dbeta", gradients.parameters.beta, numeric.beta),
        ] {
            expectClose(actual, expected, tolerance: 1e-8, scale: expected.map(abs).max() ?? 1, "\(name), \(context)")
        }
        // Float agrees with Double on the same data (1e-5 relative, as the training backward's check).
        var single = try DecorrelatedBatchNorm<Float>(channelCount: shape.channelCount, groupSize: groupSize)
        single.gamma = layer.gamma.map(Float.init)
        single.beta = layer.beta.map(Float.init)
        single.runningMean = layer.runningMean.map(Float.init)
        single.runningWhitening = layer.runningWhitening.map(Float.init)
        var double = layer
        double.gamma = single.gamma.map(Double.init)
        double.runningMean = single.runningMean.map(Double.init)
        double.runningWhitening = single.runningWhitening.map(Double.init)
        let inputSingle = input.map(Float.init), weightsSingle = weights.map(Float.init)
        let singleGradients = try single.backwardInference(gradOutput: weightsSingle, input: inputSingle, shape: shape)
        let doubleGradients = try double.backwardInference(
            gradOutput: weightsSingle.map(Double.init), input: inputSingle.map(Double.init), shape: shape)
        expectClose(singleGradients.input, doubleGradients.input, tolerance: 1e-5,
                    scale: doubleGradients.input.map(abs).max() ?? 1, "Float dx, \(context)")
        expectClose(singleGradients.parameters.gamma, doubleGradients.parameters.gamma, tolerance: 1e-5,
                    scale: doubleGradients.parameters.gamma.map(abs).max() ?? 1, "Float dgamma, \(context)")
    }

    /// `tracksRunningStatistics: false` (PyTorch's `track_running_stats=False`): no running statistics,
    /// training as usual, inference with the batch's statistics, inference backward refused.
    @Test("a layer without running statistics whitens inference with batch statistics", arguments: shapes)
    func untracked(dimensions: [Int], layout: TensorLayout, groupSize: Int) async throws {
        // Bits compared across calls (OpenBLAS products): the thread count must not change in between
        // (ThreadCountGate).
        try await ThreadCountGate.unchanged {
            try untracked(shape: TensorShape(dimensions, layout: layout), groupSize: groupSize)
        }
    }

    func untracked(shape: TensorShape, groupSize: Int) throws {
        var generator = SeededGenerator.fresh()
        var tracked = try WhiteningTestData.layer(
            Double.self, channelCount: shape.channelCount, groupSize: groupSize, whitening: .iterNorm(), using: &generator)
        var untracked = try DecorrelatedBatchNorm<Double>(
            channelCount: shape.channelCount, groupSize: groupSize, whitening: .iterNorm(), tracksRunningStatistics: false)
        untracked.gamma = tracked.gamma
        untracked.beta = tracked.beta
        #expect(untracked.runningMean.isEmpty && untracked.runningWhitening.isEmpty)
        let input: [Double] = WhiteningTestData.correlated(shape, groupSize: groupSize, using: &generator)
        let before = untracked
        let (trainingOutput, statistics) = try untracked.forwardTraining(input, shape: shape)
        #expect(untracked == before, "training changed a layer without running statistics")
        let trackedResult = try tracked.forwardTraining(input, shape: shape)
        #expect(trainingOutput == trackedResult.output)
        #expect(statistics == trackedResult.statistics)
        #expect(try untracked.forwardInference(input, shape: shape) == trainingOutput)
        var output = [Double](repeating: .nan, count: shape.elementCount)
        var outputSpan = output.mutableSpan
        try untracked.forwardInference(input.span, shape: shape, into: &outputSpan)
        #expect(output == trainingOutput)
        #expect(try tracked.forwardInference(input, shape: shape) != trainingOutput, "tracked inference should differ")

        let gradOutput = [Double].random(count: shape.elementCount, in: -1...1, using: &generator)
        #expect(throws: BatchNormError.runningStatisticsNotTracked) {
            _ = try untracked.backwardInference(gradOutput: gradOutput, input: input, shape: shape)
        }
        var gradInput = [Double](repeating: 7, count: shape.elementCount)
        var gradInputSpan = gradInput.mutableSpan
        #expect(throws: BatchNormError.runningStatisticsNotTracked) {
            _ = try untracked.backwardInference(gradOutput: gradOutput.span, input: input.span, shape: shape, into: &gradInputSpan)
        }
        #expect(gradInput.allSatisfy { $0 == 7 }, "a refused call wrote")
        #expect(untracked == before)
    }

    /// Refused span calls throw their typed error and write nothing.
    @Test("span forms refuse bad lengths and write nothing")
    func refusals() throws {
        var layer = try DecorrelatedBatchNorm<Float>(channelCount: 4, groupSize: 2, momentum: nil)
        let shape = try TensorShape([3, 4, 2])
        let input = (0..<24).map { Float($0 % 7) }
        let statistics = try layer.forwardTraining(input, shape: shape).statistics
        let before = layer
        var short = [Float](repeating: 7, count: 23)
        var shortSpan = short.mutableSpan
        #expect(throws: BatchNormError.elementCountMismatch(argument: "output", expected: 24, actual: 23)) {
            _ = try layer.forwardTraining(input.span, shape: shape, into: &shortSpan)
        }
        #expect(throws: BatchNormError.elementCountMismatch(argument: "output", expected: 24, actual: 23)) {
            try layer.forwardInference(input.span, shape: shape, into: &shortSpan)
        }
        #expect(throws: BatchNormError.elementCountMismatch(argument: "inputGradient", expected: 24, actual: 23)) {
            _ = try layer.backward(gradOutput: input.span, input: input.span, shape: shape, statistics: statistics, into: &shortSpan)
        }
        #expect(throws: BatchNormError.elementCountMismatch(argument: "inputGradient", expected: 24, actual: 23)) {
            _ = try layer.backwardInference(gradOutput: input.span, input: input.span, shape: shape, into: &shortSpan)
        }
        #expect(throws: BatchNormError.elementCountMismatch(argument: "gradOutput", expected: 24, actual: 23)) {
            _ = try layer.backwardInference(gradOutput: Array(input.dropLast()), input: input, shape: shape)
        }
        var broken = layer
        broken.runningMean.removeLast()
        #expect(throws: BatchNormError.parameterLengthMismatch(argument: "runningMean", expected: 4, actual: 3)) {
            _ = try broken.backwardInference(gradOutput: input, input: input, shape: shape)
        }
        #expect(short.allSatisfy { $0 == 7 }, "a refused call wrote")
        #expect(layer == before)
        // A cumulative average needs a counter >= 0 (its factor is 1 / numBatchesTracked).
        layer.numBatchesTracked = -1
        let negative = layer
        #expect(throws: BatchNormError.invalidBatchCount(-1)) { _ = try layer.forwardTraining(input, shape: shape) }
        #expect(layer == negative)
        layer.numBatchesTracked = .max
        _ = try layer.forwardTraining(input, shape: shape)
        #expect(layer.numBatchesTracked == .max, "the counter saturates")
    }
}
