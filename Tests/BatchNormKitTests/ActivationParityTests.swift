import Testing
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// What follows batch norm in a test: ReLU, residual add + ReLU, or the residual add alone.
enum EpilogueCase: String, CaseIterable, Sendable {
    case relu, addRelu = "add-relu", add

    var activation: FusedActivation { self == .add ? .identity : .relu }
    var hasResidual: Bool { self != .relu }
}

/// The fused residual add and ReLU, forward and backward, training and inference, against the float64
/// reference on fresh random data, every rank and layout, both precisions, both pinned kernel paths
/// (the activation entry points always run the fused kernels; pinning BLAS must not change that).
///
/// Besides the reference, each forward is held bit for bit against the composition PyTorch runs,
/// evaluated in the working precision: the plain batch-norm output of the same layer, then `+ r`, then
/// `v < 0 ? 0 : v`. The fused epilogue performs exactly those roundings, so any difference is a defect.
/// The backward uses the kernel's own `y` for the mask in the reference too (a `y` within rounding of 0
/// could otherwise flip the mask), and `dresidual` must be exactly `y <= 0 ? 0 : dy`.
/// Tolerances as in `ForwardParityTests` / `BackwardParityTests` (64u; ReLU and the add are each one
/// rounding, and the mask only replaces some `dy` by exact zeros).
@Suite("Fused ReLU and residual add against the float64 reference")
struct ActivationParityTests {
    static let cases = TestShapes.all.flatMap { entry in EpilogueCase.allCases.map { (entry, $0) } }

    @Test("training forward and backward", arguments: cases)
    func training(entry: ([Int], TensorLayout), epilogue: EpilogueCase) throws {
        for path in KernelPath.allCases {
            try checkTraining(Float.self, entry: entry, epilogue: epilogue, path: path)
            try checkTraining(Double.self, entry: entry, epilogue: epilogue, path: path)
        }
    }

    @Test("inference forward and backward", arguments: cases)
    func inference(entry: ([Int], TensorLayout), epilogue: EpilogueCase) throws {
        for path in KernelPath.allCases {
            try checkInference(Float.self, entry: entry, epilogue: epilogue, path: path)
            try checkInference(Double.self, entry: entry, epilogue: epilogue, path: path)
        }
    }

    func checkTraining<Scalar: BatchNormScalar>(
        _: Scalar.Type, entry: ([Int], TensorLayout), epilogue: EpilogueCase, path: KernelPath
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let shape = TestShapes.shape(entry)
        guard shape.valuesPerChannel > 1 else { return }
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Scalar>.random(channelCount: shape.channelCount, path: path, using: &generator)
        let input = [Scalar].random(count: shape.elementCount, in: -2...3, using: &generator)
        let residual = epilogue.hasResidual ? [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator) : nil
        let gradOutput = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        let context = "\(Scalar.self) \(shape) \(epilogue) \(path) seed \(generator.seed)"
        let before = layer

        var plainLayer = layer
        plainLayer.kernelPath = .fused
        let plain = try plainLayer.forwardTraining(input, shape: shape).output
        let (output, statistics) = try layer.forwardTraining(
            input, shape: shape, residual: residual, activation: epilogue.activation)
        #expect(output == composed(plain, residual: residual, relu: epilogue.activation == .relu), "\(context) composition")
        #expect(layer.runningMean == plainLayer.runningMean && layer.runningVariance == plainLayer.runningVariance,
                "\(context) running statistics")

        var expected = [Double](repeating: 0, count: input.count)
        let reference = NaiveBatchNorm.trainingForward(
            input.map(Double.init), shape: shape, residual: residual?.map(Double.init),
            relu: epilogue.activation == .relu, gamma: before.gammaInDouble, beta: before.betaInDouble,
            epsilon: Double(layer.epsilon), into: &expected)
        let u = unitRoundoff(Scalar.self)
        expectClose(output, expected, tolerance: 64 * u, context + " y")

        let gradients = try layer.backward(
            gradOutput: gradOutput, input: input, forwardOutput: output, shape: shape, statistics: statistics,
            activation: epilogue.activation, residualGradient: epilogue.hasResidual)
        let masked = epilogue.activation == .relu
            ? NaiveBatchNorm.reluGradient(gradOutput: gradOutput, forwardOutput: output) : gradOutput
        if epilogue.hasResidual {
            #expect(gradients.residual == masked, "\(context) dresidual")
        } else {
            #expect(gradients.residual == nil)
        }
        var expectedGradient = [Double](repeating: 0, count: input.count)
        let expectedParameters = NaiveBatchNorm.trainingBackward(
            gradOutput: masked.map(Double.init), input: input.map(Double.init), shape: shape, statistics: reference,
            gamma: layer.gammaInDouble, into: &expectedGradient)
        let m = Double(shape.valuesPerChannel)
        let inputGradientScale = trainingInputGradientScale(
            gamma: layer.gammaInDouble, mean: reference.mean, inverseStandardDeviation: reference.inverseStandardDeviation)
        expectClose(gradients.input, expectedGradient, tolerance: 64 * u, scale: inputGradientScale, context + " dx")
        expectClose(gradients.parameters.gamma, expectedParameters.gamma, tolerance: 64 * u, scale: m, context + " dgamma")
        expectClose(gradients.parameters.beta, expectedParameters.beta, tolerance: 64 * u, scale: m, context + " dbeta")
    }

    func checkInference<Scalar: BatchNormScalar>(
        _: Scalar.Type, entry: ([Int], TensorLayout), epilogue: EpilogueCase, path: KernelPath
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let shape = TestShapes.shape(entry)
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Scalar>.random(channelCount: shape.channelCount, path: .fused, using: &generator)
        let input = [Scalar].random(count: shape.elementCount, in: -2...3, using: &generator)
        let residual = epilogue.hasResidual ? [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator) : nil
        let gradOutput = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        let context = "\(Scalar.self) \(shape) \(epilogue) \(path) seed \(generator.seed)"

        let plain = try layer.forwardInference(input, shape: shape)
        layer.kernelPath = path
        let output = try layer.forwardInference(input, shape: shape, residual: residual, activation: epilogue.activation)
        #expect(output == composed(plain, residual: residual, relu: epilogue.activation == .relu), "\(context) composition")

        var expected = [Double](repeating: 0, count: input.count)
        NaiveBatchNorm.inferenceForward(
            input.map(Double.init), shape: shape, residual: residual?.map(Double.init),
            relu: epilogue.activation == .relu, runningMean: layer.runningMean.map(Double.init),
            runningVariance: layer.runningVariance.map(Double.init), gamma: layer.gammaInDouble,
            beta: layer.betaInDouble, epsilon: Double(layer.epsilon), into: &expected)
        let u = unitRoundoff(Scalar.self)
        expectClose(output, expected, tolerance: 16 * u, context + " y")

        let gradients = try layer.backwardInference(
            gradOutput: gradOutput, input: input, forwardOutput: output, shape: shape,
            activation: epilogue.activation, residualGradient: epilogue.hasResidual)
        let masked = epilogue.activation == .relu
            ? NaiveBatchNorm.reluGradient(gradOutput: gradOutput, forwardOutput: output) : gradOutput
        if epilogue.hasResidual { #expect(gradients.residual == masked, "\(context) dresidual") }
        var expectedGradient = [Double](repeating: 0, count: input.count)
        let expectedParameters = NaiveBatchNorm.inferenceBackward(
            gradOutput: masked.map(Double.init), input: input.map(Double.init), shape: shape,
            runningMean: layer.runningMean.map(Double.init), runningVariance: layer.runningVariance.map(Double.init),
            gamma: layer.gammaInDouble, epsilon: Double(layer.epsilon), into: &expectedGradient)
        let m = Double(shape.valuesPerChannel)
        expectClose(gradients.input, expectedGradient, tolerance: 4 * u, context + " dx")
        expectClose(gradients.parameters.gamma, expectedParameters.gamma, tolerance: 64 * u, scale: m, context + " dgamma")
        expectClose(gradients.parameters.beta, expectedParameters.beta, tolerance: 64 * u, scale: m, context + " dbeta")
    }
}

/// PyTorch's eager composition in the working precision: `v = y + r` (rounded), then `v < 0 ? 0 : v`.
func composed<Scalar: BatchNormScalar>(_ plain: [Scalar], residual: [Scalar]?, relu: Bool) -> [Scalar] {
    plain.indices.map { index in
        var value = plain[index]
        if let residual { value += residual[index] }
        return relu && value < 0 ? 0 : value
    }
}
