import ArgumentParser
import BatchNormKit
import NumPyFile

/// `batchnorm forward`: one forward step on `.npy` files, with PyTorch's `batch_norm` semantics.
struct ForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Batch-normalize a .npy tensor (float32 or float64, rank >= 2).",
        discussion: """
            Training normalizes with the batch statistics; inference needs --running-mean/--running-var. \
            Without --gamma/--beta the layer is non-affine. Parameter files are 1-D of length C with the \
            input's dtype. --residual (the input's shape and dtype) is added to the batch-norm output before \
            --activation, as relu(batch_norm(x) + r) in PyTorch. On any error one line 'batchnorm: error: ...' goes to stderr, no output file is \
            created or changed, and the exit status is 2 (bad option) or 1 (bad file or data).
            """)

    @Option(help: ArgumentHelp("Input tensor, [N, C, *spatial] or [N, *spatial, C].", valueName: "path"))
    var input: String

    @Option(help: ArgumentHelp("Where to write the normalized tensor.", valueName: "path"))
    var output: String

    @Option(help: ArgumentHelp("channels-first or channels-last.", valueName: "layout"))
    var layout = LayoutArgument.channelsFirst

    @Option(help: ArgumentHelp("Scale per channel (needs --beta).", valueName: "path"))
    var gamma: String?

    @Option(help: ArgumentHelp("Shift per channel (needs --gamma).", valueName: "path"))
    var beta: String?

    @Option(
        parsing: .unconditional, help: ArgumentHelp("Added to the variance; finite, > 0.", valueName: "eps"),
        transform: OptionValues.epsilon)
    var eps = 1e-5

    @Option(help: ArgumentHelp("training or inference.", valueName: "mode"))
    var mode = StepMode.training

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Running-statistics update factor in [0, 1], or none (cumulative average).", valueName: "m"),
        transform: OptionValues.momentum)
    var momentum = MomentumArgument.factor(0.1)

    @Option(help: ArgumentHelp("Running mean per channel (with --running-var).", valueName: "path"))
    var runningMean: String?

    @Option(help: ArgumentHelp("Running variance per channel (with --running-mean).", valueName: "path"))
    var runningVar: String?

    @Option(
        help: ArgumentHelp("Training: write the updated running mean (from 0 if none given).", valueName: "path"))
    var updatedRunningMean: String?

    @Option(
        help: ArgumentHelp("Training: write the updated running variance (from 1 if none given).", valueName: "path"))
    var updatedRunningVar: String?

    @Option(help: ArgumentHelp("none or relu, applied after the residual add.", valueName: "activation"))
    var activation = ActivationArgument.none

    @Option(help: ArgumentHelp("Tensor added before the activation (the input's shape and dtype).", valueName: "path"))
    var residual: String?

    @Option(help: ArgumentHelp("Training: write the batch mean.", valueName: "path"))
    var savedMean: String?

    @Option(help: ArgumentHelp("Training: write the batch 1 / sqrt(var + eps).", valueName: "path"))
    var savedInvstd: String?

    @OptionGroup var whiteningOptions: WhiteningOptions

    func run() throws {
        try reportingErrors {
            if whiteningOptions.isRequested { return try runWhitened() }
            let settings = StepSettings(layout: layout.layout, mode: mode, epsilon: eps, momentum: momentum.value)
            let activation = activation.activation
            try OptionValues.requirePair(("--gamma", gamma), ("--beta", beta))
            try OptionValues.requirePair(("--running-mean", runningMean), ("--running-var", runningVar))
            if settings.mode == .inference && runningMean == nil {
                throw CommandFailure.usage("--mode inference needs --running-mean and --running-var")
            }
            try OptionValues.refuse(
                [("--updated-running-mean", updatedRunningMean), ("--updated-running-var", updatedRunningVar),
                 ("--saved-mean", savedMean), ("--saved-invstd", savedInvstd)],
                unless: settings.mode == .training, reason: "applies only to --mode training")
            var outputs = try OutputFiles([
                ("--output", output), ("--updated-running-mean", updatedRunningMean),
                ("--updated-running-var", updatedRunningVar), ("--saved-mean", savedMean),
                ("--saved-invstd", savedInvstd),
            ])

            let inputArray = try InputFiles.read("--input", path: input)
            switch inputArray.elementType {
            case .float32:
                try runForward(Float.self, inputArray, settings, activation, into: &outputs)
            case .float64:
                try runForward(Double.self, inputArray, settings, activation, into: &outputs)
            }
            try outputs.commit()
        }
    }

    /// Reads the parameter files, runs the step, and queues the outputs; writes nothing itself.
    func runForward<Scalar: NumPyScalar>(
        _ type: Scalar.Type, _ inputArray: NumPyArray, _ settings: StepSettings, _ activation: FusedActivation,
        into outputs: inout OutputFiles
    ) throws {
        let values = try InputFiles.values(of: inputArray, as: type, option: "--input", path: input)
        let residualValues = try residual.map { path throws(CommandFailure) in
            try InputFiles.readTensor("--residual", path: path, shape: inputArray.shape, as: type)
        }
        let shape = try InputFiles.shape(of: inputArray, layout: settings.layout, path: input)
        let channelCount = shape.channelCount
        // Running statistics are tracked when given, or when the updated ones are asked for (they then
        // start from PyTorch's initial 0 and 1).
        let tracksRunningStatistics = runningMean != nil || updatedRunningMean != nil || updatedRunningVar != nil
        var layer = try BatchNorm<Scalar>(
            channelCount: channelCount, epsilon: OptionValues.representableEpsilon(settings.epsilon, as: type),
            momentum: settings.momentum.map { Scalar($0) }, affine: gamma != nil,
            tracksRunningStatistics: tracksRunningStatistics)
        if let gamma, let beta {
            layer.gamma = try InputFiles.readVector("--gamma", path: gamma, channelCount: channelCount, as: type)
            layer.beta = try InputFiles.readVector("--beta", path: beta, channelCount: channelCount, as: type)
        }
        if let runningMean, let runningVar {
            layer.runningMean = try InputFiles.readVector(
                "--running-mean", path: runningMean, channelCount: channelCount, as: type)
            layer.runningVariance = try InputFiles.readVector(
                "--running-var", path: runningVar, channelCount: channelCount, as: type)
        }

        switch settings.mode {
        case .training:
            let (output, statistics) = try layer.forwardTraining(
                values, shape: shape, residual: residualValues, activation: activation)
            try outputs.add("--output", values: output, shape: inputArray.shape)
            try outputs.add("--updated-running-mean", values: layer.runningMean, shape: [channelCount])
            try outputs.add("--updated-running-var", values: layer.runningVariance, shape: [channelCount])
            try outputs.add("--saved-mean", values: statistics.mean, shape: [channelCount])
            try outputs.add("--saved-invstd", values: statistics.inverseStandardDeviation, shape: [channelCount])
        case .inference:
            let output = try layer.forwardInference(values, shape: shape, residual: residualValues, activation: activation)
            try outputs.add("--output", values: output, shape: inputArray.shape)
        }
    }
}
