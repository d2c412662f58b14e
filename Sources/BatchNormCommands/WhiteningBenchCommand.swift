import ArgumentParser
import BatchNormKit
import BatchNormReference
import Foundation
import Kernels

/// `batchnorm bench-whitening`: times decorrelated batch norm (Float, either layout) beside plain
/// batch norm on the same tensor, with the anchors' timing policy (warm-up, then the median of at
/// least 20 calls). Directions as the PyTorch anchor (`py/dbn_torch.py`) names them: `fwd_train`,
/// `fwdbwd` (forward then backward), plus `bwd` alone.
struct WhiteningBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-whitening",
        abstract: "Time decorrelated batch norm (ZCA, IterNorm) against plain batch norm on one tensor.")

    @Option(help: ArgumentHelp("Tensor shape NxCxHxW in NCHW order (float32).", valueName: "shape"))
    var shape = "64x128x28x28"

    @Option(help: ArgumentHelp("channels-first (the PyTorch anchor's layout) or channels-last.", valueName: "layout"))
    var layout: LayoutArgument = .channelsFirst

    @Option(help: ArgumentHelp("Group sizes.", valueName: "G"))
    var groupSize: [Int] = [16, 64]

    @Option(help: ArgumentHelp("OpenBLAS and fused-path threads.", valueName: "N"))
    var threads: [Int] = [1]

    func run() throws {
        let dimensions = shape.split(separator: "x").compactMap { Int($0) }
        let tensorShape = try TensorShape(
            BenchCommand.reorder(dimensions, for: layout.layout), layout: layout.layout)
        var generator = SplitMix64(seed: 13)
        let input = (0..<tensorShape.elementCount).map { _ in Float.random(in: -0.5..<1.5, using: &generator) }
        let gradOutput = (0..<tensorShape.elementCount).map { _ in Float.random(in: -0.5..<0.5, using: &generator) }
        let timing = BenchTiming()
        print("shape,threads,method,G,direction,median_ms,min_ms,runs")
        for threadCount in threads {
            BLASThreading.setThreadCount(threadCount)
            var plain = try BatchNorm<Float>(channelCount: tensorShape.channelCount)
            var statistics = try plain.forwardTraining(input, shape: tensorShape).statistics
            let forward = timing.measure { statistics = (try? plain.forwardTraining(input, shape: tensorShape))?.statistics ?? statistics }
            report(threadCount, "batchnorm", 1, "fwd_train", forward)
            let backward = timing.measure { _ = try? plain.backward(gradOutput: gradOutput, input: input, shape: tensorShape, statistics: statistics) }
            report(threadCount, "batchnorm", 1, "bwd", backward)
            for size in groupSize {
                for whitening in [Whitening.zca, .iterNorm(iterations: 5)] {
                    var layer = try DecorrelatedBatchNorm<Float>(
                        channelCount: tensorShape.channelCount, groupSize: size, whitening: whitening)
                    var saved = try layer.forwardTraining(input, shape: tensorShape).statistics
                    let name = whitening == .zca ? "zca" : "iternorm"
                    report(threadCount, name, size, "fwd_train", timing.measure {
                        saved = (try? layer.forwardTraining(input, shape: tensorShape))?.statistics ?? saved
                    })
                    report(threadCount, name, size, "bwd", timing.measure {
                        _ = try? layer.backward(gradOutput: gradOutput, input: input, shape: tensorShape, statistics: saved)
                    })
                    report(threadCount, name, size, "fwdbwd", timing.measure {
                        if let step = try? layer.forwardTraining(input, shape: tensorShape) {
                            _ = try? layer.backward(gradOutput: gradOutput, input: input, shape: tensorShape, statistics: step.statistics)
                        }
                    })
                }
            }
        }
    }

    func report(_ threads: Int, _ method: String, _ groupSize: Int, _ direction: String, _ result: BenchTiming.Result) {
        print("\(shape)\(layout == .channelsLast ? "-nhwc" : ""),\(threads),\(method),\(groupSize),\(direction),"
              + "\(String(format: "%.3g", result.medianMilliseconds)),\(String(format: "%.3g", result.minimumMilliseconds)),\(result.runs)")
    }
}
