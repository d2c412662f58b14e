package import Kernels

/// The dimensions of a batch-norm input and where its channels are.
///
/// Rank is at least 2 (`[N, C]`), every dimension is at least 1, and the element count fits in `Int`.
/// Statistics are per channel over the batch and every spatial position:
/// `valuesPerChannel = N * product(spatial)`.
public struct TensorShape: Sendable, Hashable, CustomStringConvertible {
    /// The dimensions in logical order for `layout`, e.g. `[32, 64, 56, 56]` (NCHW) or
    /// `[32, 56, 56, 64]` (NHWC).
    public let dimensions: [Int]
    /// Where the channel dimension is: second (`channelsFirst`) or last (`channelsLast`).
    public let layout: TensorLayout
    /// Number of elements (`product(dimensions)`).
    public let elementCount: Int

    /// - Parameters:
    ///   - dimensions: `[N, C, *spatial]` for `.channelsFirst`, `[N, *spatial, C]` for `.channelsLast`.
    ///   - layout: defaults to `.channelsFirst`.
    /// - Throws: `BatchNormError.rankTooSmall` for fewer than 2 dimensions,
    ///   `.emptyDimension` for a dimension `< 1`, `.sizeOverflow` when the element count overflows `Int`.
    public init(_ dimensions: [Int], layout: TensorLayout = .channelsFirst) throws(BatchNormError) {
        guard dimensions.count >= 2 else { throw .rankTooSmall(shape: dimensions) }
        guard dimensions.allSatisfy({ $0 >= 1 }) else { throw .emptyDimension(shape: dimensions) }
        var count = 1
        for dimension in dimensions {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw .sizeOverflow(shape: dimensions) }
            count = product
        }
        self.dimensions = dimensions
        self.layout = layout
        self.elementCount = count
    }

    /// The batch size `N`.
    public var batchSize: Int { dimensions[0] }
    /// The channel count `C`.
    public var channelCount: Int { layout == .channelsFirst ? dimensions[1] : dimensions[dimensions.count - 1] }
    /// `product(spatial)`, 1 for rank 2.
    public var spatialCount: Int { elementCount / (batchSize * channelCount) }
    /// Values each channel's statistics run over: `N * product(spatial)`.
    public var valuesPerChannel: Int { batchSize * spatialCount }

    public var description: String {
        dimensions.map(String.init).joined(separator: "x") + (layout == .channelsFirst ? " (channels-first)" : " (channels-last)")
    }

    /// The kernels' view of the memory.
    package var geometry: ChannelGeometry {
        switch layout {
        case .channelsFirst:
            ChannelGeometry(outerCount: batchSize, channelCount: channelCount, innerCount: spatialCount)
        case .channelsLast:
            ChannelGeometry(outerCount: batchSize * spatialCount, channelCount: channelCount, innerCount: 1)
        }
    }
}
