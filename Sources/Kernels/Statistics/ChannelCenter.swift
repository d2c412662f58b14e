/// The per-channel value a kernel subtracts before scaling: a mean, carried as `high + low` so that a
/// Float mean keeps the precision its data has (the rounding of a single Float mean of data near 1e4
/// is 5e-4, which after division by a standard deviation of 1e-2 would be a 5% error).
package struct ChannelCenter<Scalar: BatchNormScalar>: Sendable, Hashable {
    package var high: [Scalar]
    /// `nil` when the center is exactly `high` (e.g. a running mean).
    package var low: [Scalar]?

    package init(high: [Scalar], low: [Scalar]? = nil) {
        precondition(low == nil || low?.count == high.count)
        self.high = high
        self.low = low
    }

    package var channelCount: Int { high.count }
}
