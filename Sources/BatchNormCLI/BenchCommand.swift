import ArgumentParser

/// `batchnorm bench`: parity of every path against the float64 reference, and naive-vs-BLAS timings.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Check parity and time the naive reference against the BLAS path.")

    @Flag(help: "Small shapes and few repetitions (for tests).")
    var quick = false

    func run() throws {
        print("bench: not yet implemented")
    }
}
