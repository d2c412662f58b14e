import ArgumentParser
import Foundation
import BatchNormKit
import Kernels
#if canImport(Glibc)
import Glibc
#endif

/// `batchnorm bench`: checks every implementation against the float64 reference and times it, in one
/// run beside the machine's copy bandwidth: milliseconds (median), GB/s of minimal traffic (read x
/// [and dy] once, write the output once), percent of copy bandwidth, speed-up over the naive reference,
/// and the largest error.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Check parity against the float64 reference and time naive vs BLAS (vs fused) kernels.")

    static let defaultShapes = ["32x64x56x56", "32x256x14x14", "32x2048x7x7", "4096x1024"]
    static let quickShapes = ["4x16x12x12", "8x64x5x5", "256x96"]

    @Flag(help: "Small shapes and few repetitions (a smoke test).")
    var quick = false

    @Option(name: .customLong("shape"), help: "A shape such as 32x64x56x56 in NCHW order (repeatable; default: ResNet-50's three and 4096x1024).")
    var shapes: [String] = []

    @Option(help: "channels-first, channels-last, or both.")
    var layout: LayoutChoice = .both

    @Option(help: "fwd-train, fwd-infer, bwd, bwd-infer (running statistics as constants), bwd-infer-dx (its dx alone), or all (the first three).")
    var direction: DirectionChoice = .all

    @Option(help: "none, relu or add-relu: what follows batch norm (fused; the blas path is skipped).")
    var activation: BenchActivation = .none

    @Option(help: "float, double, or both.")
    var precision: PrecisionChoice = .float

    @Option(name: .customLong("threads"), help: "OpenBLAS threads (repeatable; default: as OPENBLAS_NUM_THREADS or OpenBLAS decides).")
    var threadCounts: [Int] = []

    @Option(name: .customLong("path"), help: "naive, blas or fused (repeatable; default: all three).")
    var paths: [String] = []

    @Flag(help: "One JSON object per line instead of the table.")
    var json = false

    func validate() throws {
        for shape in shapes { _ = try Self.parseDimensions(shape) }
        guard threadCounts.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--threads must be at least 1") }
        let known = BenchImplementation.all.map(\.description)
        for path in paths where !known.contains(path) {
            throw ValidationError("unknown --path '\(path)'; expected one of \(known.joined(separator: ", "))")
        }
    }

    func run() throws {
        let timing = quick ? BenchTiming.quick : BenchTiming()
        let dimensionsList = try (shapes.isEmpty ? (quick ? Self.quickShapes : Self.defaultShapes) : shapes)
            .map(Self.parseDimensions)
        let layouts = layout.layouts
        let directions = direction.directions
        let threads = threadCounts.isEmpty ? [BLASThreading.threadCount] : threadCounts
        var report = BenchReport(json: json)

        progress("measuring copy bandwidth")
        let bandwidth = CopyBandwidth.measure(megabytes: quick ? 16 : 256, timing: timing)
        report.header(bandwidth: bandwidth, blasConfiguration: BLASThreading.configuration)

        let total = dimensionsList.count * layouts.count * precision.count * directions.count * threads.count
        var done = 0
        for dimensions in dimensionsList {
            for layout in layouts {
                let shape = try TensorShape(Self.reorder(dimensions, for: layout), layout: layout)
                if precision.includesFloat {
                    try bench(Float.self, shape, directions, threads, timing, bandwidth, &report, &done, total)
                }
                if precision.includesDouble {
                    try bench(Double.self, shape, directions, threads, timing, bandwidth, &report, &done, total)
                }
            }
        }
        progress(nil)
        report.footer()
        if report.parityFailures > 0 {
            throw ExitCode(1)
        }
    }

    private func bench<Scalar: BatchNormScalar>(
        _: Scalar.Type, _ shape: TensorShape, _ directions: [BenchDirection], _ threads: [Int],
        _ timing: BenchTiming, _ bandwidth: Double, _ report: inout BenchReport, _ done: inout Int, _ total: Int
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        var workload = try BenchWorkload<Scalar>(shape: shape, activation: activation)
        let precisionName = Scalar.self == Float.self ? "float" : "double"
        for direction in directions {
            let expected = workload.reference(direction)
            for threadCount in threads {
                done += 1
                BLASThreading.setThreadCount(threadCount)
                var naiveMilliseconds: Double?
                // The activation entry points run the fused kernels whatever the pinned path: no blas rows.
                for implementation in BenchImplementation.all
                where (paths.isEmpty || paths.contains(implementation.description))
                    && (activation == .none || implementation != .kernel(.blas)) {
                    progress("[\(done)/\(total)] \(shape) \(precisionName) \(activation.label(direction)) \(implementation) \(threadCount)t")
                    try workload.run(direction, implementation)
                    let maximumError = workload.maximumError(against: expected)
                    var failure: Error?
                    let result = timing.measure {
                        do { try workload.run(direction, implementation) } catch { failure = error }
                    }
                    if let failure { throw failure }
                    if implementation == .kernel(.blas) && threadCount > 1 { Self.waitForIdleBLASThreads() }
                    if implementation == .naive { naiveMilliseconds = result.medianMilliseconds }
                    let bytes = Double(activation.trafficMultiple(direction) * shape.elementCount * MemoryLayout<Scalar>.stride)
                    report.row(BenchReport.Row(
                        shape: shape, precision: precisionName, direction: activation.label(direction),
                        implementation: implementation.description, threads: threadCount,
                        timing: result, gigabytesPerSecond: bytes / (result.medianMilliseconds * 1e-3) / 1e9,
                        copyBandwidth: bandwidth,
                        speedUp: naiveMilliseconds.map { $0 / result.medianMilliseconds },
                        maximumError: maximumError, errorBound: Self.parityBound(Scalar.self)))
                }
            }
        }
    }

    /// OpenBLAS's pthread workers spin for about 2^28 cycles (its default `THREAD_TIMEOUT`, about
    /// 0.1 s here) after each threaded call before they sleep; a fused cell timed right after a blas
    /// cell shares its cores with them (32x14x14x256 channels-last training forward, 2 threads: 0.37-0.51
    /// ms against 0.25 with `OPENBLAS_THREAD_TIMEOUT=4`). The peers are timed in their own processes, so
    /// each cell here waits that out too.
    static func waitForIdleBLASThreads() {
        usleep(250_000)
    }

    /// Parity bound on `|y - y₆₄| / (|y₆₄| + 1)`: 1024 unit roundoffs (6.1e-5 for Float, 1.1e-13 for
    /// Double). Sums over up to 10⁵–10⁶ values per channel round with error growing like √M·u in
    /// blocked SIMD sums; the measured worst cases are well under a tenth of this.
    static func parityBound<Scalar: BinaryFloatingPoint>(_: Scalar.Type) -> Double {
        1024 * Double(Scalar.ulpOfOne) / 2
    }

    /// `"32x64x56x56"` -> `[32, 64, 56, 56]` (NCHW order, rank >= 2, every dimension >= 1).
    static func parseDimensions(_ text: String) throws -> [Int] {
        let parts = text.split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count >= 2, parts.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("invalid shape '\(text)': expected dimensions like 32x64x56x56")
        }
        return parts.compactMap { $0 }
    }

    /// NCHW-ordered dimensions as the given layout lists them (NHWC moves C last).
    static func reorder(_ dimensions: [Int], for layout: TensorLayout) -> [Int] {
        guard layout == .channelsLast, dimensions.count > 2 else { return dimensions }
        return [dimensions[0]] + dimensions[2...] + [dimensions[1]]
    }

    private func progress(_ message: String?) {
        guard isatty(STDERR_FILENO) != 0 else { return }
        let line = message.map { "\r\u{1B}[K\($0)" } ?? "\r\u{1B}[K"
        FileHandle.standardError.write(Data(line.utf8))
    }
}

enum LayoutChoice: String, ExpressibleByArgument, CaseIterable {
    case channelsFirst = "channels-first", channelsLast = "channels-last", both
    var layouts: [TensorLayout] {
        switch self {
        case .channelsFirst: [.channelsFirst]
        case .channelsLast: [.channelsLast]
        case .both: [.channelsFirst, .channelsLast]
        }
    }
}

enum DirectionChoice: String, ExpressibleByArgument, CaseIterable {
    case forwardTraining = "fwd-train", forwardInference = "fwd-infer", backward = "bwd"
    case backwardInference = "bwd-infer", inferenceInputGradient = "bwd-infer-dx", all
    var directions: [BenchDirection] {
        switch self {
        case .forwardTraining: [.forwardTraining]
        case .forwardInference: [.forwardInference]
        case .backward: [.backward]
        case .backwardInference: [.backwardInference]
        case .inferenceInputGradient: [.inferenceInputGradient]
        case .all: BenchDirection.compared
        }
    }
}

enum PrecisionChoice: String, ExpressibleByArgument, CaseIterable {
    case float, double, both
    var includesFloat: Bool { self != .double }
    var includesDouble: Bool { self != .float }
    var count: Int { self == .both ? 2 : 1 }
}
