/// Why a batch-norm call refused its arguments. Every check runs before anything is written: when
/// one of these is thrown, outputs, parameters and running statistics are exactly as they were.
public enum BatchNormError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A shape with fewer than two dimensions (batch norm needs at least `[N, C]`).
    case rankTooSmall(shape: [Int])
    /// A shape with a dimension below 1 (zero-size batches and channels are refused, as in PyTorch).
    case emptyDimension(shape: [Int])
    /// The element count of a shape does not fit in `Int`.
    case sizeOverflow(shape: [Int])
    /// A layer built with a channel count below 1.
    case invalidChannelCount(Int)
    /// A channel count whose per-channel vectors would not fit in the machine's memory (allocating
    /// them would trap): at most `maximum` channels of this precision fit.
    case channelCountTooLarge(count: Int, maximum: Int)
    /// A layer whose `numBatchesTracked` is negative when a training step would update it.
    case invalidBatchCount(Int)
    /// Two value counts whose sum does not fit in `Int` (merging ``PartialStatistics``).
    case valueCountOverflow(Int, Int)
    /// The shape's channel count differs from the layer's.
    case channelCountMismatch(layer: Int, shape: Int)
    /// A tensor argument whose element count differs from the shape's.
    case elementCountMismatch(argument: String, expected: Int, actual: Int)
    /// A per-channel vector (gamma, beta, running statistics, saved statistics) of the wrong length.
    case parameterLengthMismatch(argument: String, expected: Int, actual: Int)
    /// Training statistics over one value per channel (the variance is undefined; PyTorch refuses too).
    case singleValuePerChannel(shape: [Int])
    /// Merged (global) statistics over fewer than two values per channel: the same refusal as
    /// ``singleValuePerChannel(shape:)`` when the batch is split across processes and no single
    /// shape describes it.
    case tooFewValuesPerChannel(count: Int)
    /// A negative number of values in ``PartialStatistics``.
    case invalidValueCount(Int)
    /// Epsilon must be finite and greater than zero.
    case invalidEpsilon(Double)
    /// Momentum must lie in `[0, 1]` (or be `nil` for a cumulative average).
    case invalidMomentum(Double)
    /// Inference backward asked of a layer that tracks no running statistics.
    case runningStatisticsNotTracked
    /// A decorrelated layer built with a whitening group size below 1.
    case invalidGroupSize(Int)
    /// The channel count is not a multiple of the whitening group size.
    case channelsNotDivisibleIntoGroups(channelCount: Int, groupSize: Int)
    /// An IterNorm iteration count outside `[1, 1000]`.
    case invalidIterationCount(Int)
    /// Running or saved whitening matrices whose element count is not `(C / G) · G · G`.
    case whiteningLengthMismatch(argument: String, expected: Int, actual: Int)
    /// Group whitening on a tensor with more than `Int32.max` spatial positions (channels-first) or
    /// channels: its BLAS-3 calls take the tensor's row stride as a 32-bit leading dimension (sample
    /// counts are split).
    case whiteningSizeUnsupported(shape: [Int])
    /// A weight to fold batch norm into whose rank is not its layout's (`out-in`: 2; the convolution
    /// layouts: 4).
    case weightRankMismatch(layout: String, shape: [Int], expectedRank: Int)

    public var description: String {
        switch self {
        case .rankTooSmall(let shape):
            "shape \(shape) has rank \(shape.count); batch norm needs at least [N, C]"
        case .emptyDimension(let shape):
            "shape \(shape) has an empty dimension; every dimension must be at least 1"
        case .sizeOverflow(let shape):
            "shape \(shape) has more elements than Int can count"
        case .invalidChannelCount(let count):
            "channel count \(count) is invalid; it must be at least 1"
        case .channelCountTooLarge(let count, let maximum):
            "channel count \(count) is too large; at most \(maximum) channels fit in this machine's memory"
        case .invalidBatchCount(let count):
            "numBatchesTracked \(count) is invalid; it must be at least 0"
        case .valueCountOverflow(let first, let second):
            "value counts \(first) and \(second) add up to more than Int can count"
        case .channelCountMismatch(let layer, let shape):
            "the layer has \(layer) channels but the shape has \(shape)"
        case .elementCountMismatch(let argument, let expected, let actual):
            "\(argument) has \(actual) elements but the shape needs \(expected)"
        case .parameterLengthMismatch(let argument, let expected, let actual):
            "\(argument) has length \(actual) but there are \(expected) channels"
        case .singleValuePerChannel(let shape):
            "shape \(shape) gives one value per channel; training statistics need more than one"
        case .tooFewValuesPerChannel(let count):
            "the statistics run over \(count) value\(count == 1 ? "" : "s") per channel; training statistics need more than one"
        case .invalidValueCount(let count):
            "value count \(count) is invalid; it must be at least 0"
        case .invalidEpsilon(let value):
            "epsilon \(value) is invalid; it must be finite and greater than 0"
        case .invalidMomentum(let value):
            "momentum \(value) is invalid; it must lie in [0, 1] (or be nil for a cumulative average)"
        case .runningStatisticsNotTracked:
            "the layer tracks no running statistics; use the training backward with the batch statistics"
        case .invalidGroupSize(let size):
            "group size \(size) is invalid; it must be at least 1"
        case .channelsNotDivisibleIntoGroups(let channelCount, let groupSize):
            "\(channelCount) channels do not split into groups of \(groupSize); the group size must divide the channel count"
        case .invalidIterationCount(let count):
            "iteration count \(count) is invalid; it must lie in [1, 1000]"
        case .whiteningLengthMismatch(let argument, let expected, let actual):
            "\(argument) has length \(actual) but the groups need \(expected) values ([C/G, G, G])"
        case .whiteningSizeUnsupported(let shape):
            "shape \(shape) has more than 2147483647 spatial positions or channels; group whitening needs its row stride within a 32-bit BLAS leading dimension"
        case .weightRankMismatch(let layout, let shape, let expectedRank):
            "weight shape \(shape) has rank \(shape.count) but layout \(layout) needs rank \(expectedRank)"
        }
    }
}
