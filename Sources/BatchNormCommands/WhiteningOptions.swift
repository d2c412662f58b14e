import ArgumentParser
import BatchNormKit

/// The options that turn `forward` and `backward` into decorrelated batch norm (group whitening).
struct WhiteningOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Decorrelated batch norm: zca or iternorm (needs --group-size).", valueName: "method"))
    var whitening: WhiteningArgument?

    @Option(
        help: ArgumentHelp("Channels per whitening group; divides C.", valueName: "G"),
        transform: OptionValues.groupSize)
    var groupSize: Int?

    @Option(
        help: ArgumentHelp("IterNorm: Newton-Schulz iterations in [1, 1000] (default 5).", valueName: "T"),
        transform: OptionValues.iterations)
    var iterations: Int?

    @Option(help: ArgumentHelp("Whitening: running whitening matrices [C/G, G, G].", valueName: "path"))
    var runningWhitening: String?

    @Option(help: ArgumentHelp("Whitening, training: write the updated running whitening [C/G, G, G].", valueName: "path"))
    var updatedRunningWhitening: String?

    /// Whether any whitening option was given (then `--whitening` and `--group-size` are required).
    var isRequested: Bool {
        whitening != nil || groupSize != nil || iterations != nil || runningWhitening != nil
            || updatedRunningWhitening != nil
    }

    /// The parsed method and group size; refuses a missing or malformed value and `--iterations` with ZCA.
    func parsed() throws(CommandFailure) -> (whitening: Whitening, groupSize: Int) {
        guard let whitening else { throw .usage("whitening options need --whitening zca|iternorm") }
        guard let groupSize else { throw .usage("--whitening needs --group-size") }
        switch whitening {
        case .zca:
            if iterations != nil { throw .usage("--iterations applies only to --whitening iternorm") }
            return (.zca, groupSize)
        case .iternorm:
            return (iterations.map { .iterNorm(iterations: $0) } ?? .iterNorm(), groupSize)
        }
    }

    /// Reads a `[C/G, G, G]` whitening file for `option`.
    static func readWhitening<Scalar: NumPyScalar>(
        _ option: String, path: String, channelCount: Int, groupSize: Int, as type: Scalar.Type
    ) throws(CommandFailure) -> [Scalar] {
        let array = try InputFiles.read(option, path: path)
        let values = try InputFiles.values(of: array, as: type, option: option, path: path)
        let expected = [channelCount / groupSize, groupSize, groupSize]
        guard array.shape == expected else {
            throw .data(
                "\(option) \(MessageText.quoted(path)) has shape \(MessageText.shape(array.shape)) but needs "
                    + "\(MessageText.shape(expected)): [C/G, G, G] for --group-size \(groupSize)")
        }
        return values
    }
}
