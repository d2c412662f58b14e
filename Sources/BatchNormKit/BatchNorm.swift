@_exported public import Kernels

/// A batch-normalization layer: learnable per-channel scale and shift plus running statistics, with
/// PyTorch's `BatchNorm{1,2,3}d` semantics ([Ioffe & Szegedy 2015](https://arxiv.org/abs/1502.03167)).
///
/// ```
/// training:   y = (x - mean_B) / sqrt(var_B + eps) * gamma + beta      (mean_B, var_B over N and space)
///             running = (1 - momentum) * running + momentum * batch    (variance: unbiased, M / (M - 1))
/// inference:  y = (x - runningMean) / sqrt(runningVariance + eps) * gamma + beta
/// ```
/// `momentum == nil` makes the running statistics a cumulative average: the factor is
/// `1 / numBatchesTracked`. A value type: copies are independent; it is `Sendable`, and its methods
/// may run concurrently on different (or, for the non-mutating ones, the same) values.
///
/// NaN and infinity in the data propagate as IEEE arithmetic does within their own channel: a
/// non-finite value makes that channel's mean and variance NaN (or infinite), hence its outputs, its
/// gradients and its running statistics after a training step. Other channels are unaffected.
public struct BatchNorm<Scalar: BatchNormScalar>: Sendable, Hashable {
    /// Number of channels `C`.
    public let channelCount: Int
    /// Added to the variance before the square root. Finite and `> 0`; default `1e-5`.
    public let epsilon: Scalar
    /// Weight of the batch statistics in the running update, in `[0, 1]`; `nil` for a cumulative
    /// average. Default `0.1`.
    public let momentum: Scalar?
    /// Whether the layer has `gamma` and `beta`.
    public let affine: Bool
    /// Whether the layer keeps running statistics. Without them, inference uses batch statistics.
    public let tracksRunningStatistics: Bool

    /// Scale per channel (`C` values; initially 1). Empty for a non-affine layer. Checked at each call.
    public var gamma: [Scalar]
    /// Shift per channel (`C` values; initially 0). Empty for a non-affine layer. Checked at each call.
    public var beta: [Scalar]
    /// Running mean per channel (initially 0). Empty when running statistics are not tracked.
    public var runningMean: [Scalar]
    /// Running (unbiased) variance per channel (initially 1). Empty when not tracked.
    public var runningVariance: [Scalar]
    /// Number of training steps that updated the running statistics. A training step of a layer
    /// that tracks running statistics refuses a negative value (`BatchNormError.invalidBatchCount`);
    /// at `Int.max` the counter stays there (the cumulative factor `1 / numBatchesTracked` is then
    /// about 1e-19 either way).
    public var numBatchesTracked: Int

    /// Which kernel implementation runs; tests and benchmarks pin it, users leave the default.
    /// The default is the fused Swift SIMD path: `batchnorm bench` measured it faster than the BLAS
    /// composition on every shape, layout and direction (docs/BENCHMARKS.md); the BLAS path stays,
    /// tested for parity, as the reference composition.
    package var kernelPath: KernelPath = .fused

    /// Equality of what a user sets and sees: every public property. Which kernel implementation runs
    /// (a test and benchmark seam) is not part of a layer's value.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.channelCount == rhs.channelCount && lhs.epsilon == rhs.epsilon && lhs.momentum == rhs.momentum
            && lhs.affine == rhs.affine && lhs.tracksRunningStatistics == rhs.tracksRunningStatistics
            && lhs.gamma == rhs.gamma && lhs.beta == rhs.beta && lhs.runningMean == rhs.runningMean
            && lhs.runningVariance == rhs.runningVariance && lhs.numBatchesTracked == rhs.numBatchesTracked
    }

    /// Hashes the public properties, as ``==(_:_:)`` compares them.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(channelCount)
        hasher.combine(epsilon)
        hasher.combine(momentum)
        hasher.combine(affine)
        hasher.combine(tracksRunningStatistics)
        hasher.combine(gamma)
        hasher.combine(beta)
        hasher.combine(runningMean)
        hasher.combine(runningVariance)
        hasher.combine(numBatchesTracked)
    }

    /// - Parameters:
    ///   - channelCount: `C`, at least 1, and small enough that the per-channel vectors fit in the
    ///     machine's physical memory.
    ///   - epsilon: finite and `> 0`; default `1e-5`.
    ///   - momentum: in `[0, 1]`, or `nil` for a cumulative moving average; default `0.1`.
    ///   - affine: whether to learn `gamma` and `beta`; default `true`.
    ///   - tracksRunningStatistics: whether to keep running statistics; default `true`.
    /// - Throws: `BatchNormError.invalidChannelCount`, `.channelCountTooLarge`, `.invalidEpsilon`,
    ///   `.invalidMomentum`.
    public init(
        channelCount: Int, epsilon: Scalar = 1e-5, momentum: Scalar? = 0.1,
        affine: Bool = true, tracksRunningStatistics: Bool = true
    ) throws(BatchNormError) {
        try ChannelCountLimit.validate(channelCount, Scalar.self)
        guard epsilon.isFinite, epsilon > 0 else { throw .invalidEpsilon(Double(epsilon)) }
        if let momentum, !(momentum >= 0 && momentum <= 1) { throw .invalidMomentum(Double(momentum)) }
        self.channelCount = channelCount
        self.epsilon = epsilon
        self.momentum = momentum
        self.affine = affine
        self.tracksRunningStatistics = tracksRunningStatistics
        self.gamma = affine ? .init(repeating: 1, count: channelCount) : []
        self.beta = affine ? .init(repeating: 0, count: channelCount) : []
        self.runningMean = tracksRunningStatistics ? .init(repeating: 0, count: channelCount) : []
        self.runningVariance = tracksRunningStatistics ? .init(repeating: 1, count: channelCount) : []
        self.numBatchesTracked = 0
    }
}
