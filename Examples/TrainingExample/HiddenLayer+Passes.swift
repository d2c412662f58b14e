import BatchNormKit

/// How batch norm normalizes in a forward pass.
public enum NormalizationMode: Sendable {
    /// Batch statistics, running statistics updated: a training step.
    case training
    /// Running statistics: evaluation.
    case inference
    /// Batch statistics, running statistics left as they are: evaluation that checks the running
    /// statistics against the batch statistics they estimate.
    case batchStatistics
}

extension HiddenLayer {
    /// `output = activation(BatchNorm(input · weights))` (or without batch norm, with bias).
    mutating func forward(
        _ input: [Scalar], batchSize: Int, mode: NormalizationMode, times: inout PhaseTimes
    ) throws(BatchNormError) {
        prepare(batchSize: batchSize)
        dense.forward(input, batchSize: batchSize, into: &preActivation, times: &times)
        guard usesBatchNorm else {
            activation.apply(preActivation, into: &output)
            return
        }
        let shape = try TensorShape([batchSize, dense.outputCount])
        let start = ContinuousClock.now
        switch mode {
        case .training:
            statistics = try norm.forwardTraining(preActivation, shape: shape, into: &normalized)
        case .inference:
            try norm.forwardInference(preActivation, shape: shape, into: &normalized)
        case .batchStatistics:
            var probe = norm  // a copy: its running statistics take the update, the layer's do not
            _ = try probe.forwardTraining(preActivation, shape: shape, into: &normalized)
        }
        times.batchNorm += ContinuousClock.now - start
        activation.apply(normalized, into: &output)
    }

    /// Backward of a `.training` forward: from `dL/doutput` to the parameter gradients and, when
    /// `needsInputGradient`, `dL/dinput` (in ``inputGradient``).
    mutating func backward(
        outputGradient: [Scalar], input: [Scalar], batchSize: Int, needsInputGradient: Bool,
        times: inout PhaseTimes
    ) throws(BatchNormError) {
        if usesBatchNorm {
            activation.backward(outputGradient: outputGradient, output: output, into: &normalizedGradient)
            let shape = try TensorShape([batchSize, dense.outputCount])
            guard let statistics else { preconditionFailure("backward before a training forward") }
            let start = ContinuousClock.now
            normGradients = try norm.backward(
                gradOutput: normalizedGradient, input: preActivation, shape: shape, statistics: statistics,
                into: &preActivationGradient)
            times.batchNorm += ContinuousClock.now - start
        } else {
            activation.backward(outputGradient: outputGradient, output: output, into: &preActivationGradient)
        }
        dense.backwardParameters(
            outputGradient: preActivationGradient, input: input, batchSize: batchSize, times: &times)
        if needsInputGradient {
            dense.backwardInput(
                outputGradient: preActivationGradient, batchSize: batchSize, into: &inputGradient, times: &times)
        }
    }

    /// One SGD step on the dense weights (and bias) and, with batch norm, on `gamma` and `beta`.
    mutating func step(learningRate: Scalar, momentum: Scalar) {
        dense.step(learningRate: learningRate, momentum: momentum)
        guard usesBatchNorm else { return }
        SGD.step(&norm.gamma, velocity: &gammaVelocity, gradient: normGradients.gamma, learningRate: learningRate, momentum: momentum)
        SGD.step(&norm.beta, velocity: &betaVelocity, gradient: normGradients.beta, learningRate: learningRate, momentum: momentum)
    }
}
