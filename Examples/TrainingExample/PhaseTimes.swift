/// Wall-clock time spent in each part of training, measured with `ContinuousClock` around the calls.
public struct PhaseTimes: Sendable, Hashable {
    /// In BatchNormKit (training forward, backward, and inference forward in evaluation).
    public var batchNorm: Duration = .zero
    /// In OpenBLAS's matrix product (`cblas_sgemm`/`cblas_dgemm`: forward, weight and input gradients).
    public var matrixProduct: Duration = .zero

    public init() {}

    /// Runs `body` and adds its duration to the phase at `phase`.
    @inline(__always)
    mutating func measure<Result, Failure: Error>(
        _ phase: WritableKeyPath<PhaseTimes, Duration>, _ body: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let start = ContinuousClock.now
        defer { self[keyPath: phase] += ContinuousClock.now - start }
        return try body()
    }
}

extension Duration {
    /// The duration in seconds as a `Double`.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
