import ArgumentParser
import BatchNormKit
import NumPyFile

/// `batchnorm backward --whitening ...`: the gradients of one training step of decorrelated batch norm.
extension BackwardCommand {
    /// Checks the option combination, runs the step and writes the outputs (all or none).
    func runWhitened() throws {
        let (whitening, groupSize) = try whiteningOptions.parsed()
        let settings = StepSettings(layout: layout.layout, mode: mode, epsilon: eps, momentum: nil)
        guard settings.mode == .training else {
            throw CommandFailure.usage("--whitening backward supports only --mode training (the batch statistics)")
        }
        try OptionValues.refuse(
            [("--activation", activation == .none ? nil : activation.rawValue), ("--forward-output", forwardOutput),
             ("--residual", residual), ("--grad-residual", gradResidual)],
            unless: false, reason: "does not apply to --whitening (no fused residual add or ReLU there)")
        try OptionValues.refuse(
            [("--running-mean", runningMean), ("--running-var", runningVar),
             ("--running-whitening", whiteningOptions.runningWhitening),
             ("--updated-running-whitening", whiteningOptions.updatedRunningWhitening)],
            unless: false, reason: "does not apply to --whitening backward (it uses the batch statistics)")
        var outputs = try OutputFiles([
            ("--grad-input", gradInput), ("--grad-gamma", gradGamma), ("--grad-beta", gradBeta),
        ])
        let inputArray = try InputFiles.read("--input", path: input)
        switch inputArray.elementType {
        case .float32:
            try runWhitenedBackward(Float.self, inputArray, settings, whitening, groupSize, into: &outputs)
        case .float64:
            try runWhitenedBackward(Double.self, inputArray, settings, whitening, groupSize, into: &outputs)
        }
        try outputs.commit()
    }

    func runWhitenedBackward<Scalar: NumPyScalar>(
        _ type: Scalar.Type, _ inputArray: NumPyArray, _ settings: StepSettings, _ whitening: Whitening,
        _ groupSize: Int, into outputs: inout OutputFiles
    ) throws {
        let values = try InputFiles.values(of: inputArray, as: type, option: "--input", path: input)
        let shape = try InputFiles.shape(of: inputArray, layout: settings.layout, path: input)
        let channelCount = shape.channelCount
        let gradOutputValues = try InputFiles.readTensor(
            "--grad-output", path: gradOutput, shape: inputArray.shape, as: type)
        var layer = try DecorrelatedBatchNorm<Scalar>(
            channelCount: channelCount, groupSize: groupSize, whitening: whitening,
            epsilon: OptionValues.representableEpsilon(settings.epsilon, as: type), affine: gamma != nil)
        if let gamma {
            layer.gamma = try InputFiles.readVector("--gamma", path: gamma, channelCount: channelCount, as: type)
        }
        // The batch statistics, from a training forward on a scratch copy.
        var scratch = layer
        let statistics = try scratch.forwardTraining(values, shape: shape).statistics
        let gradients = try layer.backward(
            gradOutput: gradOutputValues, input: values, shape: shape, statistics: statistics)
        try outputs.add("--grad-input", values: gradients.input, shape: inputArray.shape)
        try outputs.add("--grad-gamma", values: gradients.parameters.gamma, shape: [channelCount])
        try outputs.add("--grad-beta", values: gradients.parameters.beta, shape: [channelCount])
    }
}
