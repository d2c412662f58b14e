import Testing
import BatchNormKit

/// The fused ReLU / residual entry points refuse a residual, a forward output or a residual gradient of
/// the wrong size with a typed error, before writing anything (`dx`, `dresidual`, the layer's running
/// statistics keep their values).
@Suite("Fused ReLU and residual refusals leave everything untouched")
struct ActivationRefusalTests {
    let input = [Float](repeating: 1, count: 24)
    let short = [Float](repeating: 1, count: 23)

    @Test("forward: a residual of the wrong size")
    func forward() throws {
        let shape = try TensorShape([2, 3, 4])
        for activation in FusedActivation.allCases {
            try expectRefusal(.elementCountMismatch(argument: "residual", expected: 24, actual: 23)) {
                layer, output throws(BatchNormError) in
                _ = try layer.forwardTraining(input.span, shape: shape, residual: short.span, activation: activation, into: &output)
            }
            try expectRefusal(.elementCountMismatch(argument: "residual", expected: 24, actual: 23)) {
                layer, output throws(BatchNormError) in
                try layer.forwardInference(input.span, shape: shape, residual: short.span, activation: activation, into: &output)
            }
        }
    }

    @Test("backward: the forward output or the residual gradient of the wrong size")
    func backward() throws {
        let shape = try TensorShape([2, 3, 4])
        var statisticsLayer = try BatchNorm<Float>(channelCount: 3)
        let statistics = try statisticsLayer.forwardTraining(input.map { $0 * 2 - 1 }, shape: shape).statistics
        for activation in FusedActivation.allCases {
            try expectRefusal(.elementCountMismatch(argument: "forwardOutput", expected: 24, actual: 23)) {
                layer, output throws(BatchNormError) in
                _ = try layer.backward(
                    gradOutput: input.span, input: input.span, forwardOutput: short.span, shape: shape,
                    statistics: statistics, activation: activation, into: &output)
            }
            try expectRefusal(.elementCountMismatch(argument: "forwardOutput", expected: 24, actual: 23)) {
                layer, output throws(BatchNormError) in
                _ = try layer.backwardInference(
                    gradOutput: input.span, input: input.span, forwardOutput: short.span, shape: shape,
                    activation: activation, into: &output)
            }
            // The residual gradient is the sentinel-filled output; dx goes to a scratch array.
            try expectRefusal(.elementCountMismatch(argument: "inputGradient", expected: 24, actual: 23)) {
                layer, residualGradient throws(BatchNormError) in
                var inputGradient = short
                var inputGradientSpan = inputGradient.mutableSpan
                _ = try layer.backward(
                    gradOutput: input.span, input: input.span, forwardOutput: input.span, shape: shape,
                    statistics: statistics, activation: activation, into: &inputGradientSpan,
                    residualGradient: &residualGradient)
            }
            try expectRefusal(.runningStatisticsNotTracked, layer: { layer in
                layer = (try? BatchNorm<Float>(channelCount: 3, tracksRunningStatistics: false)) ?? layer
            }) { layer, residualGradient throws(BatchNormError) in
                var inputGradient = input
                var inputGradientSpan = inputGradient.mutableSpan
                _ = try layer.backwardInference(
                    gradOutput: input.span, input: input.span, forwardOutput: input.span, shape: shape,
                    activation: activation, into: &inputGradientSpan, residualGradient: &residualGradient)
            }
        }
        #expect(throws: BatchNormError.elementCountMismatch(argument: "residualGradient", expected: 24, actual: 23)) {
            let layer = try BatchNorm<Float>(channelCount: 3)
            var inputGradient = input, residualGradient = short
            var inputGradientSpan = inputGradient.mutableSpan, residualSpan = residualGradient.mutableSpan
            _ = try layer.backward(
                gradOutput: input.span, input: input.span, forwardOutput: input.span, shape: shape,
                statistics: statistics, activation: .relu, into: &inputGradientSpan, residualGradient: &residualSpan)
        }
    }
}
