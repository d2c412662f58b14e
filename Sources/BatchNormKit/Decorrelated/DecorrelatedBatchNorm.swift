/// Decorrelated batch normalization: channels in groups of `G` are centered and *whitened* together, so
/// that within a group they are standardized and uncorrelated, then scaled and shifted per channel
/// ([Huang, Yang, Lang & Deng 2018](https://arxiv.org/abs/1804.08450);
/// [Huang et al. 2019](https://arxiv.org/abs/1904.03441) for IterNorm).
///
/// Per group, over the `M = N · product(spatial)` samples:
/// ```
/// training:   μ = mean(x),  Σ = (x - μ)(x - μ)ᵀ / M + eps·I,  Φ = Σ^(-1/2)  (ZCA or IterNorm)
///             y = gamma ⊙ Φ (x - μ) + beta
///             runningMean = (1 - momentum) · runningMean + momentum · μ
///             runningWhitening = (1 - momentum) · runningWhitening + momentum · Φ
/// inference:  y = gamma ⊙ runningWhitening (x - runningMean) + beta
/// ```
/// `G = 1` is plain batch normalization (`Φ = 1 / sqrt(var + eps)`); `G = C` whitens all channels
/// together. With `tracksRunningStatistics: false` inference uses the batch statistics too. `momentum == nil` makes the running statistics a cumulative average. A value type,
/// `Sendable`; its methods may run concurrently on different values.
public struct DecorrelatedBatchNorm<Scalar: BatchNormScalar>: Sendable, Hashable {
    /// Number of channels `C`.
    public let channelCount: Int
    /// Channels per whitening group `G`; divides `C`.
    public let groupSize: Int
    /// ZCA or IterNorm.
    public let whitening: Whitening
    /// Added to the covariance's diagonal. Finite and `> 0`; default `1e-5`.
    public let epsilon: Scalar
    /// Weight of the batch statistics in the running update, in `[0, 1]`; `nil` for a cumulative
    /// average. Default `0.1`.
    public let momentum: Scalar?
    /// Whether the layer has `gamma` and `beta`.
    public let affine: Bool
    /// Whether the layer keeps ``runningMean`` and ``runningWhitening``. Without them (PyTorch's
    /// `track_running_stats=False`) inference whitens with the batch's own statistics and
    /// ``backwardInference(gradOutput:input:shape:into:)`` is refused.
    public let tracksRunningStatistics: Bool

    /// Scale per channel (`C` values; initially 1). Empty for a non-affine layer. Checked at each call.
    public var gamma: [Scalar]
    /// Shift per channel (`C` values; initially 0). Empty for a non-affine layer. Checked at each call.
    public var beta: [Scalar]
    /// Running mean per channel (initially 0). Empty when running statistics are not tracked.
    public var runningMean: [Scalar]
    /// Running whitening matrices, `[C/G][G][G]` row-major (initially identities). Empty when running
    /// statistics are not tracked.
    public var runningWhitening: [Scalar]
    /// Number of training steps that updated the running statistics.
    public var numBatchesTracked: Int

    /// Number of groups `C / G`.
    public var groupCount: Int { channelCount / groupSize }

    /// - Parameters:
    ///   - channelCount: `C`, at least 1.
    ///   - groupSize: `G`, at least 1 and a divisor of `C`.
    ///   - whitening: `.zca` or `.iterNorm(iterations:)` (iterations in `[1, 1000]`); default `.zca`.
    ///   - epsilon: finite and `> 0`; default `1e-5`.
    ///   - momentum: in `[0, 1]`, or `nil` for a cumulative moving average; default `0.1`.
    ///   - affine: whether to learn `gamma` and `beta`; default `true`.
    ///   - tracksRunningStatistics: whether to keep running statistics; default `true`.
    /// - Throws: `BatchNormError.invalidChannelCount`, `.invalidGroupSize`,
    ///   `.channelsNotDivisibleIntoGroups`, `.invalidIterationCount`, `.invalidEpsilon`, `.invalidMomentum`.
    public init(
        channelCount: Int, groupSize: Int, whitening: Whitening = .zca, epsilon: Scalar = 1e-5,
        momentum: Scalar? = 0.1, affine: Bool = true, tracksRunningStatistics: Bool = true
    ) throws(BatchNormError) {
        guard channelCount >= 1 else { throw .invalidChannelCount(channelCount) }
        guard groupSize >= 1 else { throw .invalidGroupSize(groupSize) }
        guard channelCount % groupSize == 0 else {
            throw .channelsNotDivisibleIntoGroups(channelCount: channelCount, groupSize: groupSize)
        }
        if case .iterNorm(let iterations) = whitening, !(1...Whitening.maximumIterations).contains(iterations) {
            throw .invalidIterationCount(iterations)
        }
        guard epsilon.isFinite, epsilon > 0 else { throw .invalidEpsilon(Double(epsilon)) }
        if let momentum, !(momentum >= 0 && momentum <= 1) { throw .invalidMomentum(Double(momentum)) }
        self.channelCount = channelCount
        self.groupSize = groupSize
        self.whitening = whitening
        self.epsilon = epsilon
        self.momentum = momentum
        self.affine = affine
        self.tracksRunningStatistics = tracksRunningStatistics
        self.gamma = affine ? .init(repeating: 1, count: channelCount) : []
        self.beta = affine ? .init(repeating: 0, count: channelCount) : []
        self.runningMean = tracksRunningStatistics ? .init(repeating: 0, count: channelCount) : []
        var identities = [Scalar](repeating: 0, count: tracksRunningStatistics ? channelCount * groupSize : 0)
        for channel in 0..<identities.count / groupSize { identities[channel * groupSize + channel % groupSize] = 1 }
        self.runningWhitening = identities
        self.numBatchesTracked = 0
    }

    /// Elements of ``runningWhitening``: `(C / G) · G · G`.
    public var whiteningElementCount: Int { channelCount * groupSize }
}
