import BatchNormKit
import BatchNormReference

/// Trains a ``Network`` on a training set epoch by epoch and evaluates it on a test set.
///
/// An epoch visits the training rows in a fresh seeded order in batches of `batchSize`; the last
/// incomplete batch is left out (its rows come up in other epochs), so every step sees the same batch
/// size. Evaluation runs the whole test set as one batch twice: with the running statistics
/// (inference, the reported accuracy) and with the test batch's own statistics (which the running
/// statistics estimate: the two accuracies should be close).
public struct Trainer<Scalar: NetworkScalar>: Sendable {
    public let options: TrainingOptions
    public private(set) var network: Network<Scalar>
    public private(set) var epoch = 0
    let train: Dataset
    let test: Dataset
    let trainFeatures: [Scalar]
    let testFeatures: [Scalar]
    var batchOrder: SplitMix64

    /// - Precondition: `options.problem == nil`, and `train` has at least `options.batchSize` rows.
    public init(options: TrainingOptions, train: Dataset, test: Dataset) throws(BatchNormError) {
        precondition(options.problem == nil && train.count >= options.batchSize, options.problem ?? "too few rows")
        self.options = options
        self.train = train
        self.test = test
        trainFeatures = train.features.map(Scalar.init)
        testFeatures = test.features.map(Scalar.init)
        network = try Network(options.networkConfiguration(inputCount: train.featureCount, classCount: train.classCount))
        batchOrder = SplitMix64(seed: options.seed ^ 0x5EED_0F_BA7C4)
    }

    /// One pass over the training set, then the evaluation.
    ///
    /// Specialized for `Float` here: the executable is another module, which would otherwise run the
    /// generic activation, loss and update loops through witness tables (10x slower per epoch).
    @_specialize(where Scalar == Float)
    public mutating func runEpoch() throws(BatchNormError) -> EpochReport {
        epoch += 1
        let clock = ContinuousClock()
        network.phaseTimes = PhaseTimes()
        let start = clock.now
        let order = Array(0..<train.count).shuffled(using: &batchOrder)
        let batchSize = options.batchSize
        let featureCount = train.featureCount
        var batchInput = [Scalar](repeating: 0, count: batchSize * featureCount)
        var batchLabels = [Int](repeating: 0, count: batchSize)
        var lossSum = 0.0
        let batchCount = train.count / batchSize
        for batch in 0..<batchCount {
            for (row, index) in order[batch * batchSize..<(batch + 1) * batchSize].enumerated() {
                for feature in 0..<featureCount {
                    batchInput[row * featureCount + feature] = trainFeatures[index * featureCount + feature]
                }
                batchLabels[row] = train.labels[index]
            }
            lossSum += try network.trainingStep(
                batchInput, labels: batchLabels[...], learningRate: Scalar(options.learningRate),
                momentum: Scalar(options.momentum))
        }
        let trainingEnd = clock.now
        let trainingTimes = network.phaseTimes

        try network.forward(testFeatures, batchSize: test.count, mode: .inference)
        let inference = network.evaluate(labels: test.labels[...])
        try network.forward(testFeatures, batchSize: test.count, mode: .batchStatistics)
        let batchStatistics = network.evaluate(labels: test.labels[...])
        return EpochReport(
            epoch: epoch, trainLoss: lossSum / Double(batchCount), testLoss: inference.lossSum / Double(test.count),
            testAccuracy: Double(inference.correctCount) / Double(test.count),
            testAccuracyBatchStatistics: Double(batchStatistics.correctCount) / Double(test.count),
            seconds: (trainingEnd - start).seconds, batchNormSeconds: trainingTimes.batchNorm.seconds,
            matrixProductSeconds: trainingTimes.matrixProduct.seconds,
            evaluationSeconds: (clock.now - trainingEnd).seconds)
    }
}
