/// What `bn-train` trains and how: the network's shape and the optimizer's settings.
public struct TrainingOptions: Sendable, Hashable {
    public var usesBatchNorm = true
    public var hiddenLayerCount = 8
    public var width = 100
    public var activation = Activation.sigmoid
    public var learningRate = 0.1
    public var momentum = 0.0
    public var epochs = 30
    public var batchSize = 32
    /// Seeds the weights and the order of the batches. The train/test split has its own fixed seed.
    public var seed: UInt64 = 1

    /// The fixed seed of the stratified train/test split, so every run tests on the same rows.
    public static let splitSeed: UInt64 = 2015
    /// The share of each class held out for testing.
    public static let testFraction = 0.2

    public init() {}

    /// The network these options train on data of `inputCount` features and `classCount` classes.
    public func networkConfiguration(inputCount: Int, classCount: Int) -> NetworkConfiguration {
        NetworkConfiguration(
            inputCount: inputCount, classCount: classCount, hiddenLayerCount: hiddenLayerCount, width: width,
            usesBatchNorm: usesBatchNorm, activation: activation, seed: seed)
    }

    /// Why the options cannot run, or nil (the network's sizes are checked by
    /// ``NetworkConfiguration/problem``).
    public var problem: String? {
        if !learningRate.isFinite || learningRate <= 0 { return "learning rate \(learningRate) must be finite and > 0" }
        if !(0..<1).contains(momentum) { return "momentum \(momentum) must lie in [0, 1)" }
        if epochs < 1 { return "epochs \(epochs) must be at least 1" }
        if !(2...NetworkConfiguration.maximumSize).contains(batchSize) {
            return "batch size \(batchSize) must lie in 2...\(NetworkConfiguration.maximumSize) (batch norm needs two rows)"
        }
        return nil
    }
}
