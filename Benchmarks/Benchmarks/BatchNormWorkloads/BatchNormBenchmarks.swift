import BatchNormKit
import Benchmark
import Foundation

/// Registers one benchmark per anchor shape (a–e), layout and precision for `direction`.
///
/// Names read `fwd-train a 32x64x56x56 channels-last Float` (shape in channels-first order, as the
/// anchors and `batchnorm bench --shape` write it), so `--filter` can pick any subset by regex.
/// The `threads` tag records `OPENBLAS_NUM_THREADS`, which sets both OpenBLAS's pool and the fused
/// kernels' threads; pin it when timing (see Benchmarks/README.md).
///
/// Only the public API is measured, so this times the **default kernel path**: `BatchNorm.kernelPath`
/// has `package` access and cannot be set from this package. The per-path comparison (naive, BLAS,
/// fused) is `batchnorm bench`'s job (`scripts/bench-compare.sh`).
public func registerBatchNormBenchmarks(_ direction: BenchmarkDirection) {
    let threads = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] ?? "unset"
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        tags: ["threads": threads],
        timeUnits: .microseconds,
        warmupIterations: 3,
        scalingFactor: .one,
        maxDuration: .seconds(1),
        maxIterations: 200
    )
    for shape in AnchorShape.all {
        for layout in [TensorLayout.channelsFirst, .channelsLast] {
            register(Float.self, direction, shape, layout)
            register(Double.self, direction, shape, layout)
        }
    }
}

private func register<Scalar: BatchNormScalar>(
    _: Scalar.Type, _ direction: BenchmarkDirection, _ shape: AnchorShape, _ layout: TensorLayout
) {
    let layoutName = layout == .channelsFirst ? "channels-first" : "channels-last"
    let name = "\(direction.rawValue) \(shape.name) \(shape.label) \(layoutName) \(Scalar.self)"
    Benchmark(name) { benchmark, workload in
        // Buffers come from setup; the measured closure only calls the kernel.
        for _ in benchmark.scaledIterations {
            blackHole(try workload.run(direction))
        }
    } setup: {
        try Workload<Scalar>(shape: shape.tensorShape(layout))
    }
}
