import BatchNormKit

/// The shapes the peer anchors (`../shared/anchors`) were measured on, so our numbers line up with
/// theirs: ResNet-50's three batch-norm sizes, a fully connected layer, and one far larger than the
/// last-level cache.
public struct AnchorShape: Sendable, Hashable {
    /// The anchors' one-letter name, `a` to `e`.
    public let name: String
    /// `[N, C, *spatial]` (channels-first order, as `batchnorm bench --shape` takes them).
    public let channelsFirstDimensions: [Int]

    /// a 32x64x56x56, b 32x256x14x14, c 32x2048x7x7, d 4096x1024 (NC), e 64x128x56x56.
    public static let all: [AnchorShape] = [
        AnchorShape(name: "a", channelsFirstDimensions: [32, 64, 56, 56]),
        AnchorShape(name: "b", channelsFirstDimensions: [32, 256, 14, 14]),
        AnchorShape(name: "c", channelsFirstDimensions: [32, 2048, 7, 7]),
        AnchorShape(name: "d", channelsFirstDimensions: [4096, 1024]),
        AnchorShape(name: "e", channelsFirstDimensions: [64, 128, 56, 56]),
    ]

    /// `"32x64x56x56"`, always in channels-first order.
    public var label: String { channelsFirstDimensions.map(String.init).joined(separator: "x") }

    /// The dimensions as `layout` lists them: channels-last moves `C` to the end (`[N, *spatial, C]`).
    public func dimensions(for layout: TensorLayout) -> [Int] {
        guard layout == .channelsLast, channelsFirstDimensions.count > 2 else { return channelsFirstDimensions }
        let dimensions = channelsFirstDimensions
        return [dimensions[0]] + dimensions[2...] + [dimensions[1]]
    }

    /// The shape in `layout`.
    public func tensorShape(_ layout: TensorLayout) throws(BatchNormError) -> TensorShape {
        try TensorShape(dimensions(for: layout), layout: layout)
    }
}
