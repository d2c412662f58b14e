/// How a tensor's elements map to channels, for both layouts at once.
///
/// Element `(outer, channel, inner)` lives at `(outer * channelCount + channel) * innerCount + inner`.
/// - Channels-first `[N, C, *spatial]`: `outerCount = N`, `innerCount = product(spatial)`.
/// - Channels-last `[N, *spatial, C]` (and `[N, C]`): `outerCount = N * product(spatial)`, `innerCount = 1`.
///
/// A channel's statistics run over `outerCount * innerCount` values.
package struct ChannelGeometry: Sendable, Hashable {
    package let outerCount: Int
    package let channelCount: Int
    package let innerCount: Int

    package init(outerCount: Int, channelCount: Int, innerCount: Int) {
        precondition(outerCount >= 0 && channelCount >= 0 && innerCount >= 0)
        self.outerCount = outerCount
        self.channelCount = channelCount
        self.innerCount = innerCount
    }

    /// Number of tensor elements.
    package var elementCount: Int { outerCount * channelCount * innerCount }
    /// Values that share one channel (the `M` of the batch-norm formulas).
    package var valuesPerChannel: Int { outerCount * innerCount }
    /// Number of contiguous runs of one channel's values (`outerCount * channelCount`).
    package var rowCount: Int { outerCount * channelCount }
}
