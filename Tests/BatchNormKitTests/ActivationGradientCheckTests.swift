import Testing
import BatchNormKit
import Kernels
import BatchNormTestSupport

/// Gradients through the fused residual add and ReLU against central finite differences in `Double`,
/// for training (batch statistics are functions of `x`) and for frozen statistics (torchvision's
/// `FrozenBatchNorm2d`: `forwardInference` + `backwardInference`, running statistics as constants,
/// gradients for `x`, `γ`, `β`).
///
/// Loss `L = Σ w ⊙ y`, step `h = 1e-5`, tolerance `1e-7` as in `GradientCheckTests`. ReLU has a kink
/// at 0, where a difference quotient straddling it means nothing: the data are redrawn until every
/// pre-activation value is at least `1e-3` away from 0 (100 steps of `h`), so both sides of each
/// difference lie on one branch. A wrong mask (dropped or inverted) shows up at O(1).
@Suite("Gradients through ReLU and the residual add against finite differences")
struct ActivationGradientCheckTests {
    enum Mode: String, CaseIterable, Sendable { case training, frozenStatistics = "frozen statistics" }

    static let cases: [([Int], TensorLayout, EpilogueCase?, Mode)] = GradientCheckTests.shapes.flatMap { shape in
        ([nil] + EpilogueCase.allCases.map(Optional.some)).flatMap { epilogue in
            Mode.allCases.map { (shape.0, shape.1, epilogue, $0) }
        }
    }

    /// `epilogue == nil`: plain batch norm (for frozen statistics, the `dβ` the older test does not check).
    @Test("dx, dγ, dβ, dresidual match finite differences", arguments: cases)
    func check(dimensions: [Int], layout: TensorLayout, epilogue: EpilogueCase?, mode: Mode) throws {
        let shape = try TensorShape(dimensions, layout: layout)
        var generator = SeededGenerator.fresh()
        let layer = try BatchNorm<Double>.random(channelCount: shape.channelCount, path: .fused, using: &generator)
        let activation = epilogue?.activation ?? .identity
        let hasResidual = epilogue?.hasResidual ?? false

        func output(_ layer: BatchNorm<Double>, _ x: [Double], _ residual: [Double]?, _ activation: FusedActivation)
            throws -> (y: [Double], statistics: BatchStatistics<Double>?)
        {
            var copy = layer
            switch mode {
            case .training:
                let result = try copy.forwardTraining(x, shape: shape, residual: residual, activation: activation)
                return (result.output, result.statistics)
            case .frozenStatistics:
                return (try copy.forwardInference(x, shape: shape, residual: residual, activation: activation), nil)
            }
        }

        var input: [Double] = [], residual: [Double]? = nil
        for _ in 0..<100 {
            input = .random(count: shape.elementCount, in: -2...2, using: &generator)
            residual = hasResidual ? .random(count: shape.elementCount, in: -1...1, using: &generator) : nil
            if try output(layer, input, residual, .identity).y.allSatisfy({ abs($0) >= 1e-3 }) { break }
        }
        let weights = [Double].random(count: shape.elementCount, in: -1...1, using: &generator)
        func loss(_ layer: BatchNorm<Double>, _ x: [Double], _ residual: [Double]?) throws -> Double {
            zip(try output(layer, x, residual, activation).y, weights).reduce(0) { $0 + $1.0 * $1.1 }
        }

        let (y, statistics) = try output(layer, input, residual, activation)
        let gradients: BatchNormGradients<Double>
        switch mode {
        case .training:
            gradients = try layer.backward(
                gradOutput: weights, input: input, forwardOutput: y, shape: shape, statistics: try #require(statistics),
                activation: activation, residualGradient: hasResidual)
        case .frozenStatistics:
            gradients = try layer.backwardInference(
                gradOutput: weights, input: input, forwardOutput: y, shape: shape, activation: activation,
                residualGradient: hasResidual)
        }

        let h = 1e-5
        func numeric(count: Int, _ perturbed: (Int, Double) throws -> Double) rethrows -> [Double] {
            try (0..<count).map { index in (try perturbed(index, h) - perturbed(index, -h)) / (2 * h) }
        }
        let numericInput = try numeric(count: input.count) { index, step in
            var x = input
            x[index] += step
            return try loss(layer, x, residual)
        }
        let numericGamma = try numeric(count: layer.channelCount) { index, step in
            var copy = layer
            copy.gamma[index] += step
            return try loss(copy, input, residual)
        }
        let numericBeta = try numeric(count: layer.channelCount) { index, step in
            var copy = layer
            copy.beta[index] += step
            return try loss(copy, input, residual)
        }
        let context = "\(shape) \(epilogue?.rawValue ?? "plain") \(mode) seed \(generator.seed)"
        expectClose(gradients.input, numericInput, tolerance: 1e-7, context + " dx")
        expectClose(gradients.parameters.gamma, numericGamma, tolerance: 1e-7, context + " dgamma")
        expectClose(gradients.parameters.beta, numericBeta, tolerance: 1e-7, context + " dbeta")
        if let residual {
            let numericResidual = try numeric(count: residual.count) { index, step in
                var r = residual
                r[index] += step
                return try loss(layer, input, r)
            }
            expectClose(try #require(gradients.residual), numericResidual, tolerance: 1e-7, context + " dresidual")
        }
    }

    /// The frozen-statistics recipe leaves the layer alone: `forwardInference` and `backwardInference`
    /// are non-mutating, so the running statistics and `numBatchesTracked` stay exactly as they were
    /// over any number of training steps (each updating γ and β by SGD).
    @Test("frozen statistics never change")
    func frozenStatisticsStayFrozen() throws {
        let shape = try TensorShape([4, 3, 5])
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Float>.random(channelCount: 3, path: .fused, using: &generator)
        let before = (layer.runningMean, layer.runningVariance, layer.numBatchesTracked)
        let input = [Float].random(count: shape.elementCount, in: -2...2, using: &generator)
        let gradOutput = [Float].random(count: shape.elementCount, in: -1...1, using: &generator)
        for _ in 0..<3 {
            let y = try layer.forwardInference(input, shape: shape, activation: .relu)
            let gradients = try layer.backwardInference(
                gradOutput: gradOutput, input: input, forwardOutput: y, shape: shape, activation: .relu)
            layer.gamma = zip(layer.gamma, gradients.parameters.gamma).map { $0 - 0.01 * $1 }
            layer.beta = zip(layer.beta, gradients.parameters.beta).map { $0 - 0.01 * $1 }
        }
        #expect(layer.runningMean == before.0 && layer.runningVariance == before.1 && layer.numBatchesTracked == before.2)
    }
}
