import BatchNormKit

/// A fully connected layer `output = input · weights + bias` on row-major `[batch, features]` matrices,
/// its gradients and its SGD velocity. The matrix products run on OpenBLAS (``MatrixProduct``).
public struct DenseLayer<Scalar: NetworkScalar>: Sendable {
    /// Features in, features out.
    public let inputCount: Int
    public let outputCount: Int
    /// `[inputCount, outputCount]`, row-major.
    public internal(set) var weights: [Scalar]
    /// `outputCount` values, or empty for a layer without bias (one followed by batch norm, whose
    /// `beta` takes the bias's place: a bias before batch norm is subtracted again with the mean).
    public internal(set) var bias: [Scalar]
    /// `dL/dweights` and `dL/dbias` of the last backward pass.
    public internal(set) var weightGradient: [Scalar]
    public internal(set) var biasGradient: [Scalar]
    var weightVelocity: [Scalar]
    var biasVelocity: [Scalar]

    /// Weights drawn from `N(0, standardDeviation²)`, bias 0.
    init(
        inputCount: Int, outputCount: Int, hasBias: Bool, standardDeviation: Double,
        generator: inout some RandomNumberGenerator
    ) {
        self.inputCount = inputCount
        self.outputCount = outputCount
        weights = (0..<inputCount * outputCount).map { _ in
            Scalar(standardDeviation * standardNormal(using: &generator))
        }
        bias = hasBias ? [Scalar](repeating: 0, count: outputCount) : []
        weightGradient = [Scalar](repeating: 0, count: weights.count)
        biasGradient = [Scalar](repeating: 0, count: bias.count)
        weightVelocity = weightGradient
        biasVelocity = biasGradient
    }

    /// `output = input · weights + bias` for `batchSize` rows. `output` must hold `batchSize · outputCount`.
    func forward(_ input: [Scalar], batchSize: Int, into output: inout [Scalar], times: inout PhaseTimes) {
        times.measure(\.matrixProduct) {
            Scalar.matrixProduct.multiply(
                input, .plain, weights, .plain, rows: batchSize, columns: outputCount, inner: inputCount, into: &output)
        }
        guard !bias.isEmpty else { return }
        for row in 0..<batchSize {
            for column in 0..<outputCount { output[row * outputCount + column] += bias[column] }
        }
    }

    /// `weightGradient = inputᵀ · outputGradient`, `biasGradient = Σ_rows outputGradient`.
    mutating func backwardParameters(
        outputGradient: [Scalar], input: [Scalar], batchSize: Int, times: inout PhaseTimes
    ) {
        times.measure(\.matrixProduct) {
            Scalar.matrixProduct.multiply(
                input, .transposed, outputGradient, .plain, rows: inputCount, columns: outputCount, inner: batchSize,
                into: &weightGradient)
        }
        guard !bias.isEmpty else { return }
        for column in 0..<outputCount { biasGradient[column] = 0 }
        for row in 0..<batchSize {
            for column in 0..<outputCount { biasGradient[column] += outputGradient[row * outputCount + column] }
        }
    }

    /// `inputGradient = outputGradient · weightsᵀ`.
    func backwardInput(
        outputGradient: [Scalar], batchSize: Int, into inputGradient: inout [Scalar], times: inout PhaseTimes
    ) {
        times.measure(\.matrixProduct) {
            Scalar.matrixProduct.multiply(
                outputGradient, .plain, weights, .transposed, rows: batchSize, columns: inputCount, inner: outputCount,
                into: &inputGradient)
        }
    }

    /// SGD with momentum (PyTorch's form): `velocity = momentum · velocity + gradient`,
    /// `parameter -= learningRate · velocity`.
    mutating func step(learningRate: Scalar, momentum: Scalar) {
        SGD.step(&weights, velocity: &weightVelocity, gradient: weightGradient, learningRate: learningRate, momentum: momentum)
        SGD.step(&bias, velocity: &biasVelocity, gradient: biasGradient, learningRate: learningRate, momentum: momentum)
    }
}
