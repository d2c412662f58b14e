import BatchNormKit

// Shared by `forward` and `backward`: the `--activation` spellings and the fused epilogue's files.

extension OptionValues {
    /// `none` or `relu` (the batch-norm output, plus `--residual` when given, goes through it).
    static func parseActivation(_ text: String) throws(CommandFailure) -> Activation {
        switch text {
        case "none": .identity
        case "relu": .relu
        default: throw .usage("--activation \(MessageText.quoted(text)) is invalid; use none or relu")
        }
    }
}
