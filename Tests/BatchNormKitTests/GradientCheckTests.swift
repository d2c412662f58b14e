import Testing
import BatchNormKit
import Kernels
import BatchNormTestSupport

/// The analytic backward pass against central finite differences of the forward pass, in `Double`.
///
/// The loss is `L = Σ w ⊙ y` for fixed random weights `w`, so `dL/dy = w`. With step `h = 1e-5` the
/// central difference has truncation error `O(h²) ≈ 1e-10` and rounding error `O(u·|L|/h) ≈ 1e-10`;
/// a tolerance of `1e-7` (relative to magnitude 1) leaves three orders of margin, yet a wrong term in
/// `dx` (e.g. dropping `x̂·dγ`) shows up at 1e-1.
@Suite("Gradients against finite differences")
struct GradientCheckTests {
    static let shapes: [([Int], TensorLayout)] = [
        ([3, 2, 4], .channelsFirst), ([4, 3], .channelsFirst), ([2, 3, 2, 2], .channelsLast),
    ]
    static let cases: [([Int], TensorLayout, KernelPath)] = shapes.flatMap { entry in KernelPath.allCases.map { (entry.0, entry.1, $0) } }

    @Test("training backward matches finite differences", arguments: cases)
    func training(dimensions: [Int], layout: TensorLayout, path: KernelPath) throws {
        let shape = try TensorShape(dimensions, layout: layout)
        var generator = SeededGenerator.fresh()
        let layer = try BatchNorm<Double>.random(channelCount: shape.channelCount, path: path, using: &generator)
        let input = [Double].random(count: shape.elementCount, in: -2...2, using: &generator)
        let weights = [Double].random(count: shape.elementCount, in: -1...1, using: &generator)

        func loss(_ x: [Double], _ gamma: [Double], _ beta: [Double]) throws -> Double {
            var copy = layer
            copy.gamma = gamma
            copy.beta = beta
            return zip(try copy.forwardTraining(x, shape: shape).output, weights).reduce(0) { $0 + $1.0 * $1.1 }
        }
        var forwardLayer = layer
        let statistics = try forwardLayer.forwardTraining(input, shape: shape).statistics
        let gradients = try layer.backward(gradOutput: weights, input: input, shape: shape, statistics: statistics)

        let numericInput = try input.indices.map { i in try centralDifference(input, at: i) { try loss($0, layer.gamma, layer.beta) } }
        let numericGamma = try layer.gamma.indices.map { i in
            try centralDifference(layer.gamma, at: i) { try loss(input, $0, layer.beta) }
        }
        let numericBeta = try layer.beta.indices.map { i in
            try centralDifference(layer.beta, at: i) { try loss(input, layer.gamma, $0) }
        }
        let context = "\(shape) \(path) seed \(generator.seed)"
        expectClose(gradients.input, numericInput, tolerance: 1e-7, context + " dx")
        expectClose(gradients.parameters.gamma, numericGamma, tolerance: 1e-7, context + " dgamma")
        expectClose(gradients.parameters.beta, numericBeta, tolerance: 1e-7, context + " dbeta")
    }

    @Test("inference backward matches finite differences", arguments: cases)
    func inference(dimensions: [Int], layout: TensorLayout, path: KernelPath) throws {
        let shape = try TensorShape(dimensions, layout: layout)
        var generator = SeededGenerator.fresh()
        let layer = try BatchNorm<Double>.random(channelCount: shape.channelCount, path: path, using: &generator)
        let input = [Double].random(count: shape.elementCount, in: -2...2, using: &generator)
        let weights = [Double].random(count: shape.elementCount, in: -1...1, using: &generator)
        func loss(_ x: [Double], _ gamma: [Double]) throws -> Double {
            var copy = layer
            copy.gamma = gamma
            return zip(try copy.forwardInference(x, shape: shape), weights).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let gradients = try layer.backwardInference(gradOutput: weights, input: input, shape: shape)
        let numericInput = try input.indices.map { i in try centralDifference(input, at: i) { try loss($0, layer.gamma) } }
        let numericGamma = try layer.gamma.indices.map { i in try centralDifference(layer.gamma, at: i) { try loss(input, $0) } }
        let context = "\(shape) \(path) seed \(generator.seed)"
        expectClose(gradients.input, numericInput, tolerance: 1e-7, context + " dx")
        expectClose(gradients.parameters.gamma, numericGamma, tolerance: 1e-7, context + " dgamma")
    }
}
