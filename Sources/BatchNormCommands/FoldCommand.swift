import ArgumentParser
import BatchNormKit
import NumPyFile

/// `batchnorm fold`: folds inference-mode batch norm into the preceding dense or convolution layer's
/// `.npy` weight and bias, so that `layer'(x) == bnInference(layer(x))`.
struct FoldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fold",
        abstract: "Fold inference-mode batch norm into the preceding layer's weight and bias (.npy).",
        discussion: """
            scale = gamma / sqrt(running-var + eps) per output channel (in float64); the folded weight is \
            weight · scale along its first (out) dimension and the folded bias (bias - running-mean) · scale \
            + beta (bias 0 without --bias). The dtype follows --weight; every other file must have it. \
            Without --gamma/--beta the batch norm is non-affine. On any error one line 'batchnorm: error: \
            ...' goes to stderr, no output file is created or changed, and the exit status is 2 (bad option) \
            or 1 (bad file or data).
            """)

    @Option(help: ArgumentHelp("The layer's weight, laid out as --weight-layout says.", valueName: "path"))
    var weight: String

    @Option(help: ArgumentHelp("The layer's bias, one value per output channel.", valueName: "path"))
    var bias: String?

    @Option(help: ArgumentHelp("out-in (dense), out-in-kh-kw (PyTorch conv) or out-kh-kw-in.", valueName: "layout"))
    var weightLayout: WeightLayout

    @Option(help: ArgumentHelp("Running mean per output channel.", valueName: "path"))
    var runningMean: String

    @Option(help: ArgumentHelp("Running variance per output channel.", valueName: "path"))
    var runningVar: String

    @Option(help: ArgumentHelp("Scale per output channel (needs --beta).", valueName: "path"))
    var gamma: String?

    @Option(help: ArgumentHelp("Shift per output channel (needs --gamma).", valueName: "path"))
    var beta: String?

    @Option(
        parsing: .unconditional, help: ArgumentHelp("Added to the variance; finite, > 0.", valueName: "eps"),
        transform: OptionValues.epsilon)
    var eps = 1e-5

    @Option(help: ArgumentHelp("Where to write the folded weight (the weight's shape).", valueName: "path"))
    var foldedWeight: String

    @Option(help: ArgumentHelp("Where to write the folded bias.", valueName: "path"))
    var foldedBias: String

    func run() throws {
        try reportingErrors {
            let layout = weightLayout, epsilon = eps
            try OptionValues.requirePair(("--gamma", gamma), ("--beta", beta))
            var outputs = try OutputFiles([("--folded-weight", foldedWeight), ("--folded-bias", foldedBias)])
            let weightArray = try InputFiles.read("--weight", path: weight)
            switch weightArray.elementType {
            case .float32: try runFold(Float.self, weightArray, layout, epsilon, into: &outputs)
            case .float64: try runFold(Double.self, weightArray, layout, epsilon, into: &outputs)
            }
            try outputs.commit()
        }
    }

    /// Reads the per-channel files (the weight's dtype, one value per output channel), folds, and
    /// queues the outputs; writes nothing itself.
    func runFold<Scalar: NumPyScalar>(
        _ type: Scalar.Type, _ weightArray: NumPyArray, _ layout: WeightLayout, _ epsilon: Double,
        into outputs: inout OutputFiles
    ) throws {
        let values = try InputFiles.values(of: weightArray, as: type, option: "--weight", path: weight, dtypeOf: "--weight")
        guard weightArray.shape.count == layout.rank, let outputCount = weightArray.shape.first else {
            throw BatchNormError.weightRankMismatch(layout: layout.rawValue, shape: weightArray.shape, expectedRank: layout.rank)
        }
        guard weightArray.shape.allSatisfy({ $0 >= 1 }) else { throw BatchNormError.emptyDimension(shape: weightArray.shape) }
        func vector(_ option: String, _ path: String?) throws -> [Scalar]? {
            guard let path else { return nil }
            let array = try InputFiles.read(option, path: path)
            let vector = try InputFiles.values(of: array, as: type, option: option, path: path, dtypeOf: "--weight")
            guard array.shape == [outputCount] else {
                throw CommandFailure.data(
                    "\(option) \(MessageText.quoted(path)) has shape \(MessageText.shape(array.shape)) but needs "
                        + "\(MessageText.shape([outputCount])): one value per output channel of --weight")
            }
            return vector
        }
        let folded = try BatchNorm<Scalar>.fold(
            weight: values, shape: weightArray.shape, bias: try vector("--bias", bias), layout: layout,
            runningMean: try vector("--running-mean", runningMean) ?? [],
            runningVariance: try vector("--running-var", runningVar) ?? [],
            gamma: try vector("--gamma", gamma), beta: try vector("--beta", beta),
            epsilon: try OptionValues.representableEpsilon(epsilon, as: type))
        try outputs.add("--folded-weight", values: folded.weight, shape: weightArray.shape)
        try outputs.add("--folded-bias", values: folded.bias, shape: [outputCount])
    }
}
