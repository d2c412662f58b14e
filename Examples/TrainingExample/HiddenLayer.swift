import BatchNormKit

/// One hidden layer: dense (no bias when batch norm follows), batch norm (when on), activation;
/// with the buffers its training step writes and reads back.
/// ```
/// preActivation = input · weights (+ bias)             [batch, width]
/// normalized    = BatchNorm(preActivation)             (preActivation itself when batch norm is off)
/// output        = activation(normalized)
/// ```
public struct HiddenLayer<Scalar: NetworkScalar>: Sendable {
    public internal(set) var dense: DenseLayer<Scalar>
    /// The layer's batch norm; skipped when `usesBatchNorm` is false.
    public internal(set) var norm: BatchNorm<Scalar>
    public let usesBatchNorm: Bool
    public let activation: Activation

    /// What the last forward pass wrote (kept for the backward pass).
    var preActivation: [Scalar] = []
    var normalized: [Scalar] = []
    public internal(set) var output: [Scalar] = []
    var statistics: BatchStatistics<Scalar>?
    /// What the last backward pass wrote.
    var normalizedGradient: [Scalar] = []
    var preActivationGradient: [Scalar] = []
    /// `dL/dinput`, the previous layer's output gradient.
    var inputGradient: [Scalar] = []
    public internal(set) var normGradients: ParameterGradients<Scalar>
    var gammaVelocity: [Scalar]
    var betaVelocity: [Scalar]

    init(
        inputCount: Int, width: Int, usesBatchNorm: Bool, activation: Activation,
        generator: inout some RandomNumberGenerator
    ) throws(BatchNormError) {
        // He initialization for ReLU, LeCun's for sigmoid: unit-scale pre-activations either way.
        let gain: Double = activation == .relu ? 2 : 1
        dense = DenseLayer(
            inputCount: inputCount, outputCount: width, hasBias: !usesBatchNorm,
            standardDeviation: (gain / Double(inputCount)).squareRoot(), generator: &generator)
        norm = try BatchNorm<Scalar>(channelCount: width)
        self.usesBatchNorm = usesBatchNorm
        self.activation = activation
        let zeros = [Scalar](repeating: 0, count: width)
        normGradients = ParameterGradients(gamma: zeros, beta: zeros)
        gammaVelocity = zeros
        betaVelocity = zeros
    }

    /// Sizes every buffer for `batchSize` rows (allocates only when the batch size changes).
    mutating func prepare(batchSize: Int) {
        let count = batchSize * dense.outputCount
        guard preActivation.count != count else { return }
        for keyPath in [\Self.preActivation, \.normalized, \.output, \.normalizedGradient, \.preActivationGradient] {
            resize(&self[keyPath: keyPath], to: count)
        }
        resize(&inputGradient, to: batchSize * dense.inputCount)
    }
}
