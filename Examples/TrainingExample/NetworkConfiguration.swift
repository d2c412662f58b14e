/// The shape of the classifier: `hiddenLayerCount` hidden layers of `width` units (dense, batch norm
/// when `usesBatchNorm`, activation), then a dense output layer with bias and softmax.
public struct NetworkConfiguration: Sendable, Hashable {
    public var inputCount: Int
    public var classCount: Int
    public var hiddenLayerCount: Int
    public var width: Int
    public var usesBatchNorm: Bool
    public var activation: Activation
    /// Seeds the weights (and nothing else).
    public var seed: UInt64

    /// Largest layer size accepted: keeps every matrix dimension and product far below CBLAS's `Int32`.
    public static let maximumSize = 1 << 14

    public init(
        inputCount: Int, classCount: Int, hiddenLayerCount: Int, width: Int, usesBatchNorm: Bool,
        activation: Activation, seed: UInt64
    ) {
        self.inputCount = inputCount
        self.classCount = classCount
        self.hiddenLayerCount = hiddenLayerCount
        self.width = width
        self.usesBatchNorm = usesBatchNorm
        self.activation = activation
        self.seed = seed
    }

    /// Why the configuration cannot be built, or nil.
    public var problem: String? {
        let limit = Self.maximumSize
        if !(1...limit).contains(inputCount) { return "input count \(inputCount) must lie in 1...\(limit)" }
        if !(2...limit).contains(classCount) { return "class count \(classCount) must lie in 2...\(limit)" }
        if !(0...1000).contains(hiddenLayerCount) { return "layer count \(hiddenLayerCount) must lie in 0...1000" }
        if !(1...limit).contains(width) { return "width \(width) must lie in 1...\(limit)" }
        return nil
    }
}
