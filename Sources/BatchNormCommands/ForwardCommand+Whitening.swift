import ArgumentParser
import BatchNormKit
import NumPyFile

/// `batchnorm forward --whitening ...`: one step of decorrelated batch norm on `.npy` files.
extension ForwardCommand {
    /// Checks the option combination, runs the step and writes the outputs (all or none).
    func runWhitened() throws {
        let (whitening, groupSize) = try whiteningOptions.parsed()
        let settings = StepSettings(layout: layout.layout, mode: mode, epsilon: eps, momentum: momentum.value)
        try OptionValues.requirePair(("--gamma", gamma), ("--beta", beta))
        try OptionValues.refuse(
            [("--residual", residual), ("--activation", activation == .none ? nil : activation.rawValue)],
            unless: false, reason: "does not apply to --whitening (no fused residual add or ReLU there)")
        try OptionValues.refuse(
            [("--running-var", runningVar), ("--updated-running-var", updatedRunningVar), ("--saved-invstd", savedInvstd)],
            unless: false, reason: "does not apply to --whitening (use --running-whitening / --updated-running-whitening)")
        try OptionValues.requirePair(("--running-mean", runningMean), ("--running-whitening", whiteningOptions.runningWhitening))
        if settings.mode == .inference && runningMean == nil {
            throw CommandFailure.usage("--mode inference needs --running-mean and --running-whitening")
        }
        try OptionValues.refuse(
            [("--updated-running-mean", updatedRunningMean),
             ("--updated-running-whitening", whiteningOptions.updatedRunningWhitening), ("--saved-mean", savedMean)],
            unless: settings.mode == .training, reason: "applies only to --mode training")
        var outputs = try OutputFiles([
            ("--output", output), ("--updated-running-mean", updatedRunningMean),
            ("--updated-running-whitening", whiteningOptions.updatedRunningWhitening), ("--saved-mean", savedMean),
        ])
        let inputArray = try InputFiles.read("--input", path: input)
        switch inputArray.elementType {
        case .float32:
            try runWhitenedForward(Float.self, inputArray, settings, whitening, groupSize, into: &outputs)
        case .float64:
            try runWhitenedForward(Double.self, inputArray, settings, whitening, groupSize, into: &outputs)
        }
        try outputs.commit()
    }

    func runWhitenedForward<Scalar: NumPyScalar>(
        _ type: Scalar.Type, _ inputArray: NumPyArray, _ settings: StepSettings, _ whitening: Whitening,
        _ groupSize: Int, into outputs: inout OutputFiles
    ) throws {
        let values = try InputFiles.values(of: inputArray, as: type, option: "--input", path: input)
        let shape = try InputFiles.shape(of: inputArray, layout: settings.layout, path: input)
        let channelCount = shape.channelCount
        var layer = try DecorrelatedBatchNorm<Scalar>(
            channelCount: channelCount, groupSize: groupSize, whitening: whitening,
            epsilon: OptionValues.representableEpsilon(settings.epsilon, as: type),
            momentum: settings.momentum.map { Scalar($0) }, affine: gamma != nil)
        if let gamma, let beta {
            layer.gamma = try InputFiles.readVector("--gamma", path: gamma, channelCount: channelCount, as: type)
            layer.beta = try InputFiles.readVector("--beta", path: beta, channelCount: channelCount, as: type)
        }
        if let runningMean, let runningWhitening = whiteningOptions.runningWhitening {
            layer.runningMean = try InputFiles.readVector(
                "--running-mean", path: runningMean, channelCount: channelCount, as: type)
            layer.runningWhitening = try WhiteningOptions.readWhitening(
                "--running-whitening", path: runningWhitening, channelCount: channelCount, groupSize: groupSize, as: type)
        }
        switch settings.mode {
        case .training:
            let (output, statistics) = try layer.forwardTraining(values, shape: shape)
            try outputs.add("--output", values: output, shape: inputArray.shape)
            try outputs.add("--updated-running-mean", values: layer.runningMean, shape: [channelCount])
            try outputs.add(
                "--updated-running-whitening", values: layer.runningWhitening,
                shape: [channelCount / groupSize, groupSize, groupSize])
            try outputs.add("--saved-mean", values: statistics.mean, shape: [channelCount])
        case .inference:
            try outputs.add("--output", values: try layer.forwardInference(values, shape: shape), shape: inputArray.shape)
        }
    }
}
