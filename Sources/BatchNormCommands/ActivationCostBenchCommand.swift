import ArgumentParser
import BatchNormKit
import Foundation
import Kernels

/// `batchnorm bench-activation`: what the fused ReLU and residual add cost over plain batch norm, measured
/// as paired ratios so that a shared, noisy machine still gives a usable number.
///
/// Per shape, layout, direction and thread count, one workload per activation (`none`, `relu`, `relu-y`,
/// `add-relu`, each with its own buffers) is checked against the float64 reference once, warmed up, then
/// timed in rounds: each round calls every variant once, in an order that rotates from round to round,
/// and records each variant's time divided by the `none` time of the same round. A load spike that lasts
/// longer than one round then slows both sides of a ratio alike. The report gives each variant's median
/// milliseconds and the median and quartiles of its per-round ratio against plain batch norm.
///
/// Every variant's buffers are distinct, so an in-cache shape is timed colder than by `bench` (the other
/// variants' data passes through the cache between two calls); the ratios compare like with like.
struct ActivationCostBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-activation",
        abstract: "Cost of the fused ReLU and add+ReLU over plain batch norm, as paired per-round ratios.")

    @Option(name: .customLong("shape"), help: "A shape such as 32x64x56x56 in NCHW order (repeatable; default: the five benchmark shapes).")
    var shapes: [String] = []

    @Option(help: "channels-first, channels-last, or both.")
    var layout: LayoutChoice = .both

    @Option(help: "fwd-train, fwd-infer, bwd, or all.")
    var direction: DirectionChoice = .all

    @Option(name: .customLong("threads"), help: "Kernel threads (repeatable; default: the current setting).")
    var threadCounts: [Int] = []

    @Option(help: "Timed rounds per cell (each round times every variant once).")
    var rounds = 41

    @Flag(help: "One JSON object per line instead of the table.")
    var json = false

    static let defaultShapes = ["32x64x56x56", "32x256x14x14", "32x2048x7x7", "4096x1024", "64x128x56x56"]

    func validate() throws {
        for shape in shapes { _ = try BenchCommand.parseDimensions(shape) }
        guard threadCounts.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--threads must be at least 1") }
        guard rounds >= 3 else { throw ValidationError("--rounds must be at least 3") }
    }

    func run() throws {
        let dimensionsList = try (shapes.isEmpty ? Self.defaultShapes : shapes).map(BenchCommand.parseDimensions)
        let threads = threadCounts.isEmpty ? [KernelThreads.count] : threadCounts
        if !json {
            print("batchnorm bench-activation — \(BLASThreading.configuration); \(rounds) rounds per cell")
            print("ratio = variant / plain batch norm in the same round: median [first quartile, third quartile]")
            print("")
            print(Self.line(["shape", "layout", "dir", "thr", "plain ms", "relu", "relu-y", "add-relu", "parity"]))
        }
        var parityFailures = 0
        for dimensions in dimensionsList {
            for layout in layout.layouts {
                let shape = try TensorShape(BenchCommand.reorder(dimensions, for: layout), layout: layout)
                let variants = try BenchActivation.allCases.map { try BenchWorkload<Float>(shape: shape, activation: $0) }
                for direction in direction.directions {
                    for threadCount in threads {
                        KernelThreads.count = threadCount
                        let cell = try measure(variants, direction)
                        if !cell.parity { parityFailures += 1 }
                        report(shape, direction, threadCount, cell)
                    }
                }
            }
        }
        if parityFailures > 0 { throw ExitCode(1) }
    }

    /// The variants' per-round times (ms) and their ratios against the plain variant.
    struct Cell {
        var milliseconds: [BenchActivation: [Double]]
        var ratios: [BenchActivation: [Double]]
        var parity: Bool
    }

    private func measure(_ workloads: [BenchWorkload<Float>], _ direction: BenchDirection) throws -> Cell {
        var workloads = workloads
        var parity = true
        for index in workloads.indices {
            let expected = workloads[index].reference(direction)
            try workloads[index].run(direction, .kernel(.fused))
            parity = parity && workloads[index].maximumError(against: expected) <= BenchCommand.parityBound(Float.self)
            for _ in 0..<2 { try workloads[index].run(direction, .kernel(.fused)) }
        }
        var milliseconds: [BenchActivation: [Double]] = [:]
        var ratios: [BenchActivation: [Double]] = [:]
        for round in 0..<rounds {
            var times = [Double](repeating: 0, count: workloads.count)
            for step in workloads.indices {
                let index = (round + step) % workloads.count
                let start = BenchTiming.now()
                try workloads[index].run(direction, .kernel(.fused))
                times[index] = (BenchTiming.now() - start) * 1e3
            }
            for (index, workload) in workloads.enumerated() {
                milliseconds[workload.activation, default: []].append(times[index])
                ratios[workload.activation, default: []].append(times[index] / times[0])
            }
        }
        return Cell(milliseconds: milliseconds, ratios: ratios, parity: parity)
    }

    /// The `q`-quantile of `values` (nearest rank).
    static func quantile(_ values: [Double], _ q: Double) -> Double {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * q).rounded()))]
    }

    private func report(_ shape: TensorShape, _ direction: BenchDirection, _ threads: Int, _ cell: Cell) {
        let shapeText = shape.dimensions.map(String.init).joined(separator: "x")
        let layoutText = shape.layout == .channelsFirst ? "channels-first" : "channels-last"
        let plain = Self.quantile(cell.milliseconds[.none] ?? [], 0.5)
        func ratioText(_ activation: BenchActivation) -> String {
            let values = cell.ratios[activation] ?? []
            return "\(BenchReport.format(Self.quantile(values, 0.5), 2)) [\(BenchReport.format(Self.quantile(values, 0.25), 2)), "
                + "\(BenchReport.format(Self.quantile(values, 0.75), 2))]"
        }
        if json {
            func ratios(_ activation: BenchActivation) -> [Double] {
                let values = cell.ratios[activation] ?? []
                return [0.25, 0.5, 0.75].map { BenchReport.rounded(Self.quantile(values, $0), 3) }
            }
            func median(_ activation: BenchActivation) -> Double {
                BenchReport.rounded(Self.quantile(cell.milliseconds[activation] ?? [], 0.5), 4)
            }
            print(BenchReport.jsonLine(Record(
                shape: shapeText, layout: layoutText, direction: direction.rawValue, threads: threads, rounds: rounds,
                plainMilliseconds: median(.none), reluMilliseconds: median(.relu),
                reluFromOutputMilliseconds: median(.reluFromOutput), addReluMilliseconds: median(.addRelu),
                reluRatio: ratios(.relu), reluFromOutputRatio: ratios(.reluFromOutput), addReluRatio: ratios(.addRelu),
                parity: cell.parity)))
        } else {
            print(Self.line([
                shapeText, layoutText, direction.rawValue, "\(threads)", BenchReport.format(plain, 3),
                ratioText(.relu), ratioText(.reluFromOutput), ratioText(.addRelu), cell.parity ? "ok" : "FAIL",
            ]))
        }
    }

    /// One `--json` line: median milliseconds per variant, and each ratio's quartiles `[q1, median, q3]`.
    struct Record: Encodable {
        var shape: String
        var layout: String
        var direction: String
        var threads: Int
        var rounds: Int
        var plainMilliseconds: Double
        var reluMilliseconds: Double
        var reluFromOutputMilliseconds: Double
        var addReluMilliseconds: Double
        var reluRatio: [Double]
        var reluFromOutputRatio: [Double]
        var addReluRatio: [Double]
        var parity: Bool

        enum CodingKeys: String, CodingKey {
            case shape, layout, direction, threads, rounds
            case plainMilliseconds = "plain_ms", reluMilliseconds = "relu_ms", reluFromOutputMilliseconds = "relu_y_ms"
            case addReluMilliseconds = "add_relu_ms", reluRatio = "relu_ratio", reluFromOutputRatio = "relu_y_ratio"
            case addReluRatio = "add_relu_ratio", parity
        }
    }

    static let widths = [14, 14, 9, 3, 9, 19, 19, 19, 6]

    static func line(_ cells: [String]) -> String { BenchReport.line(cells, widths: widths) }
}
