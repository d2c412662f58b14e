import ArgumentParser
import Foundation
import NumPyFile

/// `batchnorm`: benchmarks and parity checks of the batch-norm kernels, and a bridge to NumPy/PyTorch
/// through `.npy` files. The `batchnorm` executable runs ``main()``; the fuzzers and tests parse its
/// subcommands directly.
public struct BatchNormCommand: ParsableCommand {
    /// The subcommands; `bench` when none is named.
    public static let configuration = CommandConfiguration(
        commandName: "batchnorm",
        abstract: "Batch normalization on OpenBLAS: benchmarks, parity checks, and .npy in/out.",
        subcommands: [BenchCommand.self, ForwardCommand.self, BackwardCommand.self, WhiteningBenchCommand.self,
                      FoldCommand.self, ActivationCostBenchCommand.self],
        defaultSubcommand: BenchCommand.self
    )

    /// A root command has no options of its own.
    public init() {}

    /// Like ArgumentParser's default, except that a usage error (unknown or missing option, bad
    /// value) is one line on stderr, `batchnorm: error: ...`, with exit status 2 like every other
    /// refused option of the tool. Help and version requests print as usual.
    public static func main() {
        let command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            guard exitCode(for: error) != .success else { exit(withError: error) }
            let message = MessageText.errorLine(message(for: error))
            FileHandle.standardError.write(Data("batchnorm: error: \(message)\n".utf8))
            Foundation.exit(CommandFailure.usageStatus)
        }
        // Staged outputs are removed if the run is interrupted (SIGINT, SIGTERM, SIGHUP).
        NumPyFile.removeStagedFilesOnTermination()
        do {
            var runnable = command
            try runnable.run()
        } catch {
            exit(withError: error)
        }
    }
}
