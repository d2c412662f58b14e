/// Which public `BatchNorm` call a benchmark times; names as `batchnorm bench --direction` spells them.
public enum BenchmarkDirection: String, Sendable, CaseIterable {
    /// `forwardTraining(_:shape:into:)`: batch statistics, output, running-statistics update.
    case forwardTraining = "fwd-train"
    /// `forwardInference(_:shape:into:)` with the running statistics.
    case forwardInference = "fwd-infer"
    /// `backward(gradOutput:input:shape:statistics:into:)`: `dx`, `dγ`, `dβ`.
    case backward = "bwd"

    /// Minimal memory traffic in units of the tensor's size: forward reads `x` and writes `y` once,
    /// backward reads `x` and `dy` and writes `dx` once (the anchors' convention).
    public var trafficMultiple: Int { self == .backward ? 3 : 2 }
}
