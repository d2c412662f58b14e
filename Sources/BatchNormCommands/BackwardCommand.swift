import ArgumentParser
import BatchNormKit
import NumPyFile

/// `batchnorm backward`: the gradients of one forward step on `.npy` files, with PyTorch's
/// `batch_norm` semantics.
struct BackwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backward",
        abstract: "Gradients of batch norm for a .npy input and output gradient.",
        discussion: """
            Training recomputes the batch statistics of --input; inference uses --running-mean/--running-var \
            (required). Without --gamma the layer is non-affine; --grad-gamma/--grad-beta are computed either \
            way. Inference without --grad-gamma and --grad-beta computes dx alone (frozen batch norm with fixed \
            gamma and beta) from --grad-output (and --forward-output with relu); --input is still read and \
            checked. With --activation relu, --forward-output (the forward's y) gives the mask: dy passes where \
            y > 0 (PyTorch's threshold_backward). --grad-residual (with --residual, the forward's residual) \
            receives the gradient of the residual. On any error one line 'batchnorm: error: ...' goes to stderr, no output file is created or \
            changed, and the exit status is 2 (bad option) or 1 (bad file or data).
            """)

    @Option(help: ArgumentHelp("Input tensor x of the forward step.", valueName: "path"))
    var input: String

    @Option(help: ArgumentHelp("dL/dy, same shape and dtype as --input.", valueName: "path"))
    var gradOutput: String

    @Option(help: ArgumentHelp("Where to write dL/dx.", valueName: "path"))
    var gradInput: String

    @Option(help: ArgumentHelp("channels-first or channels-last.", valueName: "layout"))
    var layout = LayoutArgument.channelsFirst

    @Option(help: ArgumentHelp("Scale per channel.", valueName: "path"))
    var gamma: String?

    @Option(
        parsing: .unconditional, help: ArgumentHelp("Added to the variance; finite, > 0.", valueName: "eps"),
        transform: OptionValues.epsilon)
    var eps = 1e-5

    @Option(help: ArgumentHelp("training or inference.", valueName: "mode"))
    var mode = StepMode.training

    @Option(help: ArgumentHelp("Inference: running mean per channel.", valueName: "path"))
    var runningMean: String?

    @Option(help: ArgumentHelp("Inference: running variance per channel.", valueName: "path"))
    var runningVar: String?

    @Option(help: ArgumentHelp("none or relu: the forward's activation.", valueName: "activation"))
    var activation = ActivationArgument.none

    @Option(help: ArgumentHelp("The forward's output y (needed with --activation relu).", valueName: "path"))
    var forwardOutput: String?

    @Option(help: ArgumentHelp("The forward's residual (with --grad-residual).", valueName: "path"))
    var residual: String?

    @Option(help: ArgumentHelp("Where to write dL/dresidual (with --residual).", valueName: "path"))
    var gradResidual: String?

    @Option(help: ArgumentHelp("Where to write dL/dgamma.", valueName: "path"))
    var gradGamma: String?

    @Option(help: ArgumentHelp("Where to write dL/dbeta.", valueName: "path"))
    var gradBeta: String?

    @OptionGroup var whiteningOptions: WhiteningOptions

    func run() throws {
        try reportingErrors {
            if whiteningOptions.isRequested { return try runWhitened() }
            let settings = StepSettings(layout: layout.layout, mode: mode, epsilon: eps, momentum: nil)
            let activation = activation.activation
            if activation == .relu && forwardOutput == nil {
                throw CommandFailure.usage("--activation relu needs --forward-output (the forward's y)")
            }
            try OptionValues.requirePair(("--residual", residual), ("--grad-residual", gradResidual))
            try OptionValues.requirePair(("--running-mean", runningMean), ("--running-var", runningVar))
            switch (settings.mode, runningMean) {
            case (.training, .some):
                throw CommandFailure.usage(
                    "--running-mean/--running-var apply only to --mode inference (training uses the batch statistics)")
            case (.inference, nil):
                throw CommandFailure.usage("--mode inference needs --running-mean and --running-var")
            default:
                break
            }
            var outputs = try OutputFiles([
                ("--grad-input", gradInput), ("--grad-gamma", gradGamma), ("--grad-beta", gradBeta),
                ("--grad-residual", gradResidual),
            ])

            let inputArray = try InputFiles.read("--input", path: input)
            switch inputArray.elementType {
            case .float32:
                try runBackward(Float.self, inputArray, settings, activation, into: &outputs)
            case .float64:
                try runBackward(Double.self, inputArray, settings, activation, into: &outputs)
            }
            try outputs.commit()
        }
    }

    /// Reads the other files, computes the gradients, and queues the outputs; writes nothing itself.
    func runBackward<Scalar: NumPyScalar>(
        _ type: Scalar.Type, _ inputArray: NumPyArray, _ settings: StepSettings, _ activation: FusedActivation,
        into outputs: inout OutputFiles
    ) throws {
        let values = try InputFiles.values(of: inputArray, as: type, option: "--input", path: input)
        let shape = try InputFiles.shape(of: inputArray, layout: settings.layout, path: input)
        let channelCount = shape.channelCount
        let gradOutputValues = try InputFiles.readTensor(
            "--grad-output", path: gradOutput, shape: inputArray.shape, as: type)
        // y is read whenever given (and checked); without ReLU it does not enter the gradients, and dy
        // stands in when it is absent. The residual is checked only: the mask comes from y, dresidual = dz.
        let forwardOutputValues = try forwardOutput.map { path throws(CommandFailure) in
            try InputFiles.readTensor("--forward-output", path: path, shape: inputArray.shape, as: type)
        } ?? gradOutputValues
        if let residual {
            _ = try InputFiles.readTensor("--residual", path: residual, shape: inputArray.shape, as: type)
        }
        var layer = try BatchNorm<Scalar>(
            channelCount: channelCount, epsilon: OptionValues.representableEpsilon(settings.epsilon, as: type),
            affine: gamma != nil, tracksRunningStatistics: settings.mode == .inference)
        if let gamma {
            // beta enters no gradient; the layer keeps its zeros.
            layer.gamma = try InputFiles.readVector("--gamma", path: gamma, channelCount: channelCount, as: type)
        }
        if let runningMean, let runningVar {
            layer.runningMean = try InputFiles.readVector(
                "--running-mean", path: runningMean, channelCount: channelCount, as: type)
            layer.runningVariance = try InputFiles.readVector(
                "--running-var", path: runningVar, channelCount: channelCount, as: type)
        }

        let gradients: BatchNormGradients<Scalar>
        switch settings.mode {
        case .training:
            // The batch statistics, from a training forward on a scratch copy (no running statistics).
            var scratch = layer
            let statistics = try scratch.forwardTraining(values, shape: shape).statistics
            gradients = try layer.backward(
                gradOutput: gradOutputValues, input: values, forwardOutput: forwardOutputValues, shape: shape,
                statistics: statistics, activation: activation, residualGradient: gradResidual != nil)
        case .inference where gradGamma == nil && gradBeta == nil:
            // Frozen batch norm with fixed γ and β: dx alone, which never reads x (checked above all the same).
            let inputGradients = try layer.inputGradientInference(
                gradOutput: gradOutputValues, forwardOutput: forwardOutputValues, shape: shape,
                activation: activation, residualGradient: gradResidual != nil)
            gradients = BatchNormGradients(
                input: inputGradients.input, parameters: ParameterGradients(gamma: [], beta: []),
                residual: inputGradients.residual)
        case .inference:
            gradients = try layer.backwardInference(
                gradOutput: gradOutputValues, input: values, forwardOutput: forwardOutputValues, shape: shape,
                activation: activation, residualGradient: gradResidual != nil)
        }
        try outputs.add("--grad-input", values: gradients.input, shape: inputArray.shape)
        try outputs.add("--grad-gamma", values: gradients.parameters.gamma, shape: [channelCount])
        try outputs.add("--grad-beta", values: gradients.parameters.beta, shape: [channelCount])
        if let residualGradient = gradients.residual {
            try outputs.add("--grad-residual", values: residualGradient, shape: inputArray.shape)
        }
    }
}
