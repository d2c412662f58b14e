import BatchNormKit
import BatchNormReference

/// A fully connected classifier: ``HiddenLayer``s (dense, batch norm, activation), then a dense output
/// layer with bias; softmax cross-entropy; SGD with momentum. Buffers live in the layers and are reused
/// from step to step (they are reallocated only when the batch size changes).
///
/// Row-major `[batch, features]` matrices throughout: batch norm sees each layer's pre-activations as a
/// `[batch, width]` tensor (rank 2, one channel per unit).
public struct Network<Scalar: NetworkScalar>: Sendable {
    public let configuration: NetworkConfiguration
    public internal(set) var hiddenLayers: [HiddenLayer<Scalar>]
    public internal(set) var outputLayer: DenseLayer<Scalar>
    /// The last forward pass's output, `[batch, classCount]`.
    public internal(set) var logits: [Scalar] = []
    var logitGradient: [Scalar] = []
    /// `dL/d(last hidden output)`.
    var hiddenOutputGradient: [Scalar] = []
    /// Time spent in batch norm and in the matrix products since the caller last reset it.
    public var phaseTimes = PhaseTimes()

    /// A network with weights drawn from `configuration.seed`.
    /// - Precondition: `configuration.problem == nil`.
    /// - Throws: `BatchNormError` if a batch-norm layer refuses its width (never for a valid configuration).
    public init(_ configuration: NetworkConfiguration) throws(BatchNormError) {
        precondition(configuration.problem == nil, configuration.problem ?? "")
        self.configuration = configuration
        var generator = SplitMix64(seed: configuration.seed)
        var layers: [HiddenLayer<Scalar>] = []
        for index in 0..<configuration.hiddenLayerCount {
            layers.append(try HiddenLayer(
                inputCount: index == 0 ? configuration.inputCount : configuration.width, width: configuration.width,
                usesBatchNorm: configuration.usesBatchNorm, activation: configuration.activation,
                generator: &generator))
        }
        hiddenLayers = layers
        let lastWidth = configuration.hiddenLayerCount == 0 ? configuration.inputCount : configuration.width
        outputLayer = DenseLayer(
            inputCount: lastWidth, outputCount: configuration.classCount, hasBias: true,
            standardDeviation: (1 / Double(lastWidth)).squareRoot(), generator: &generator)
    }

    /// Computes ``logits`` for `batchSize` rows of `input` (`[batchSize, inputCount]`). In `.training`
    /// mode batch norm uses and saves batch statistics and updates its running statistics.
    public mutating func forward(_ input: [Scalar], batchSize: Int, mode: NormalizationMode) throws(BatchNormError) {
        precondition(input.count == batchSize * configuration.inputCount, "input has \(input.count) values")
        for index in hiddenLayers.indices {
            let layerInput = index == 0 ? input : hiddenLayers[index - 1].output
            try hiddenLayers[index].forward(layerInput, batchSize: batchSize, mode: mode, times: &phaseTimes)
        }
        resize(&logits, to: batchSize * configuration.classCount)
        outputLayer.forward(hiddenLayers.last?.output ?? input, batchSize: batchSize, into: &logits, times: &phaseTimes)
    }

    /// Gradients of the mean loss over the batch of the last `.training` forward pass (which `input`
    /// and `labels` must be) with respect to every parameter; left in the layers' gradient properties.
    public mutating func backward(_ input: [Scalar], labels: ArraySlice<Int>) throws(BatchNormError) {
        let batchSize = labels.count
        resize(&logitGradient, to: logits.count)
        SoftmaxCrossEntropy.gradientOfMean(
            logits: logits, labels: labels, classCount: configuration.classCount, into: &logitGradient)
        let lastOutput = hiddenLayers.last?.output ?? input
        outputLayer.backwardParameters(
            outputGradient: logitGradient, input: lastOutput, batchSize: batchSize, times: &phaseTimes)
        guard !hiddenLayers.isEmpty else { return }
        resize(&hiddenOutputGradient, to: lastOutput.count)
        outputLayer.backwardInput(
            outputGradient: logitGradient, batchSize: batchSize, into: &hiddenOutputGradient, times: &phaseTimes)
        for index in hiddenLayers.indices.reversed() {
            let outputGradient = index == hiddenLayers.count - 1 ? hiddenOutputGradient : hiddenLayers[index + 1].inputGradient
            let layerInput = index == 0 ? input : hiddenLayers[index - 1].output
            try hiddenLayers[index].backward(
                outputGradient: outputGradient, input: layerInput, batchSize: batchSize, needsInputGradient: index > 0,
                times: &phaseTimes)
        }
    }

    /// One SGD step with the gradients of the last ``backward(_:labels:)``.
    public mutating func step(learningRate: Scalar, momentum: Scalar) {
        for index in hiddenLayers.indices { hiddenLayers[index].step(learningRate: learningRate, momentum: momentum) }
        outputLayer.step(learningRate: learningRate, momentum: momentum)
    }

    /// Forward (training mode), backward and SGD step on one batch.
    /// - Returns: the batch's mean loss before the step (NaN or infinite once training diverged).
    public mutating func trainingStep(
        _ input: [Scalar], labels: ArraySlice<Int>, learningRate: Scalar, momentum: Scalar
    ) throws(BatchNormError) -> Double {
        try forward(input, batchSize: labels.count, mode: .training)
        let lossSum = evaluate(labels: labels).lossSum
        try backward(input, labels: labels)
        step(learningRate: learningRate, momentum: momentum)
        return lossSum / Double(labels.count)
    }

    /// Summed loss and correct count of the last forward pass against `labels`.
    public func evaluate(labels: ArraySlice<Int>) -> (lossSum: Double, correctCount: Int) {
        SoftmaxCrossEntropy.evaluate(logits: logits, labels: labels, classCount: configuration.classCount)
    }
}

/// Makes `buffer` `count` long (zeros), allocating only when its length differs.
func resize<Scalar: NetworkScalar>(_ buffer: inout [Scalar], to count: Int) {
    if buffer.count != count { buffer = [Scalar](repeating: 0, count: count) }
}
