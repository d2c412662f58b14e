import BatchNormWorkloads
import Benchmark

/// `BatchNorm.forwardTraining(_:shape:into:)` on the anchor shapes a–e, channels-first
/// and channels-last, Float and Double, through the public API (the default kernel path).
let benchmarks: @Sendable () -> Void = {
    registerBatchNormBenchmarks(.forwardTraining)
}
