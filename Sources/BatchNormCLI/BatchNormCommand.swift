import ArgumentParser

/// `batchnorm`: benchmarks and parity checks of the batch-norm kernels, and a bridge to NumPy/PyTorch
/// through `.npy` files.
@main
struct BatchNormCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batchnorm",
        abstract: "Batch normalization on OpenBLAS: benchmarks, parity checks, and .npy in/out.",
        subcommands: [BenchCommand.self, ForwardCommand.self, BackwardCommand.self],
        defaultSubcommand: BenchCommand.self
    )
}
