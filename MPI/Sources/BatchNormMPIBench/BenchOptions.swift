import BatchNormKit

/// Command-line options of `batchnorm-mpi-bench`:
/// `[--shape 32x64x56x56] [--layout channels-first|channels-last] [--precision float|double]
///  [--steps 10] [--warmup 2]`. The shape is the whole batch; its `N` is split over the ranks.
struct BenchOptions {
    var dimensions = [32, 64, 56, 56]
    var layout = TensorLayout.channelsFirst
    var doublePrecision = false
    var steps = 10
    var warmup = 2

    static let usage = """
        usage: mpirun -np R batchnorm-mpi-bench [--shape 32x64x56x56] [--layout channels-first|channels-last]
                                               [--precision float|double] [--steps 10] [--warmup 2]
        """

    /// Parses `arguments` (without the program name); a failure names the first argument it cannot use.
    static func parse(_ arguments: [String]) -> Result<BenchOptions, BenchUsageError> {
        var options = BenchOptions()
        var remaining = arguments[...]
        while let option = remaining.popFirst() {
            guard let value = remaining.popFirst() else { return .failure(BenchUsageError("\(option) needs a value")) }
            switch option {
            case "--shape":
                let parts = value.split(separator: "x").map { Int($0) }
                guard parts.count >= 2, parts.allSatisfy({ ($0 ?? 0) >= 1 }) else {
                    return .failure(BenchUsageError("--shape \(value): expected e.g. 32x64x56x56"))
                }
                options.dimensions = parts.compactMap { $0 }
            case "--layout":
                switch value {
                case "channels-first": options.layout = .channelsFirst
                case "channels-last": options.layout = .channelsLast
                default: return .failure(BenchUsageError("--layout \(value): expected channels-first or channels-last"))
                }
            case "--precision":
                switch value {
                case "float": options.doublePrecision = false
                case "double": options.doublePrecision = true
                default: return .failure(BenchUsageError("--precision \(value): expected float or double"))
                }
            case "--steps", "--warmup":
                guard let count = Int(value), count >= (option == "--steps" ? 1 : 0) else {
                    return .failure(BenchUsageError("\(option) \(value): expected a count"))
                }
                if option == "--steps" { options.steps = count } else { options.warmup = count }
            default:
                return .failure(BenchUsageError("unknown option \(option)"))
            }
        }
        return .success(options)
    }

    /// How many of the `N` samples rank `rank` holds: `N / ranks`, one more on the first `N % ranks` ranks.
    func localBatchSize(rank: Int, ranks: Int) -> Int {
        dimensions[0] / ranks + (rank < dimensions[0] % ranks ? 1 : 0)
    }
}

/// A command line the bench does not understand.
struct BenchUsageError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
