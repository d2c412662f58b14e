import BatchNormKit
import BatchNormMPI
import BatchNormReference

/// One parity case: a layer configuration, the shape of one sample, and how many samples each rank
/// holds. Every rank draws the whole batch from the seed, runs the synchronized passes on its own
/// part and one `BatchNorm` over the whole batch, and compares (outputs and `dx` of its part, the
/// statistics, `dγ`, `dβ`, running statistics after each step, and inference after the last).
struct ParityCase: CustomStringConvertible {
    /// Dimensions without the batch: `[C, *spatial]` channels-first, `[*spatial, C]` channels-last.
    var sampleDimensions: [Int]
    var layout: TensorLayout
    /// Samples per rank; some may be zero, the total must give more than one value per channel.
    var batchSizes: [Int]
    var affine: Bool
    var momentum: Double?
    var steps = 2

    var channelCount: Int { layout == .channelsFirst ? sampleDimensions[0] : sampleDimensions[sampleDimensions.count - 1] }
    var valuesPerSample: Int { sampleDimensions.reduce(1, *) }

    var description: String {
        "sample \(sampleDimensions) \(layout) batches \(batchSizes) affine \(affine) momentum \(momentum.map { "\($0)" } ?? "nil")"
    }

    func shape(batchSize: Int) throws(BatchNormError) -> TensorShape {
        try TensorShape([batchSize] + sampleDimensions, layout: layout)
    }

    /// Runs the case for one precision on this rank, recording into `log`.
    func run<Scalar: BatchNormScalar>(
        _: Scalar.Type, seed: UInt64, communicator: Communicator, log: inout TestLog
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let rank = communicator.rank
        var generator = SeededGenerator(seed: seed)
        var whole = try BatchNorm<Scalar>(
            channelCount: channelCount, momentum: momentum.map { Scalar($0) }, affine: affine)
        if affine {
            whole.gamma = .random(count: channelCount, in: 0.5...1.5, using: &generator)
            whole.beta = .random(count: channelCount, in: -1...1, using: &generator)
        }
        whole.runningMean = .random(count: channelCount, in: -1...1, using: &generator)
        whole.runningVariance = .random(count: channelCount, in: 0.5...2, using: &generator)
        var synchronized = try SynchronizedBatchNorm(whole, communicator: communicator)

        let totalBatch = batchSizes.reduce(0, +)
        let wholeShape = try shape(batchSize: totalBatch)
        let localBatch = batchSizes[rank]
        let localStart = batchSizes[..<rank].reduce(0, +) * valuesPerSample
        let localValues = localStart..<(localStart + localBatch * valuesPerSample)
        let m = Double(wholeShape.valuesPerChannel)
        let name = "\(Scalar.self)"
        var lastInput = [Scalar]()
        // The reference's running update, chained step by step (independent of the layer's own code).
        var referenceRunningMean = whole.runningMean.map(Double.init)
        var referenceRunningVariance = whole.runningVariance.map(Double.init)

        for step in 0..<steps {
            let context = "\(Scalar.self) \(self) step \(step) seed \(seed)"
            // Data away from zero (mean ~ 3, spread 5), as the core parity tests use.
            let input = [Scalar].random(count: wholeShape.elementCount, in: -2...3, using: &generator)
            let gradOutput = [Scalar].random(count: wholeShape.elementCount, in: -1...1, using: &generator)
            (referenceRunningMean, referenceRunningVariance) = NaiveBatchNorm.updatedRunningStatistics(
                runningMean: referenceRunningMean, runningVariance: referenceRunningVariance,
                statistics: NaiveBatchNorm.statistics(
                    input.map(Double.init), shape: wholeShape, epsilon: Double(whole.epsilon)),
                momentum: momentum, numBatchesTrackedBefore: whole.numBatchesTracked)
            let (expectedOutput, expectedStatistics) = try whole.forwardTraining(input, shape: wholeShape)
            let expectedGradients = try whole.backward(
                gradOutput: gradOutput, input: input, shape: wholeShape, statistics: expectedStatistics)

            let scales = ConditioningScales(
                mean: expectedStatistics.mean, inverseStandardDeviation: expectedStatistics.inverseStandardDeviation,
                gamma: affine ? whole.gamma : nil, valuesPerChannel: wholeShape.valuesPerChannel)
            let statistics: SynchronizedBatchStatistics<Scalar>
            let parameters: ParameterGradients<Scalar>
            if localBatch > 0 {
                let localShape = try shape(batchSize: localBatch)
                let localInput = Array(input[localValues])
                let (output, forwardStatistics) = try synchronized.forwardTraining(localInput, shape: localShape)
                let gradients = try synchronized.backward(
                    gradOutput: Array(gradOutput[localValues]), input: localInput, shape: localShape,
                    statistics: forwardStatistics)
                log.expectClose(output, Array(expectedOutput[localValues]), scale: scales.output,
                                quantity: name + " y", context)
                log.expectClose(gradients.input, Array(expectedGradients.input[localValues]),
                                scale: scales.inputGradient, quantity: name + " dx", context)
                statistics = forwardStatistics
                parameters = gradients.parameters
                lastInput = localInput
            } else {
                statistics = try synchronized.forwardTrainingWithoutLocalSamples()
                parameters = try synchronized.backwardWithoutLocalSamples(statistics: statistics)
            }
            log.expect(statistics.globalStatistics.count == wholeShape.valuesPerChannel,
                       "\(context): global count \(statistics.globalStatistics.count), expected \(wholeShape.valuesPerChannel)")
            log.expectClose(statistics.batchStatistics.mean, expectedStatistics.mean, quantity: name + " mean", context)
            log.expectClose(statistics.batchStatistics.variance, expectedStatistics.variance, scale: 0,
                            quantity: name + " variance", context)
            log.expectClose(statistics.batchStatistics.inverseStandardDeviation,
                            expectedStatistics.inverseStandardDeviation, scale: 0, quantity: name + " invstd", context)
            log.expectClose(parameters.gamma, expectedGradients.parameters.gamma, scale: scales.gammaGradient,
                            quantity: name + " dgamma", context)
            log.expectClose(parameters.beta, expectedGradients.parameters.beta, scale: m,
                            quantity: name + " dbeta", context)
            log.expectClose(synchronized.layer.runningMean, whole.runningMean,
                            quantity: name + " runningMean", context)
            log.expectClose(synchronized.layer.runningVariance, whole.runningVariance, scale: 0,
                            quantity: name + " runningVariance", context)
            log.expectClose(synchronized.layer.runningMean, referenceRunningMean.map { Scalar($0) },
                            quantity: name + " runningMean", context + " (reference)")
            log.expectClose(synchronized.layer.runningVariance, referenceRunningVariance.map { Scalar($0) }, scale: 0,
                            quantity: name + " runningVariance", context + " (reference)")
            log.expect(synchronized.layer.numBatchesTracked == whole.numBatchesTracked,
                       "\(context): numBatchesTracked \(synchronized.layer.numBatchesTracked)")
            try expectIdenticalAcrossRanks(
                synchronized.layer.runningMean + synchronized.layer.runningVariance + parameters.gamma + parameters.beta,
                communicator: communicator, log: &log, context + " running statistics and dγ/dβ")
        }

        // Inference: local, with running statistics that agree across ranks.
        if localBatch > 0 {
            let localShape = try shape(batchSize: localBatch)
            let expected = try whole.forwardInference(lastInput, shape: localShape)
            let output = try synchronized.forwardInference(lastInput, shape: localShape)
            log.expectClose(output, expected, quantity: name + " inference y", "\(Scalar.self) \(self) inference seed \(seed)")
        }
    }
}

/// The magnitudes the rounding of the outputs and gradients is relative to (as in the core package's
/// split-pass tests). For well-spread channels (`γ·invstd ≈ 1`, `|mean|·invstd ≲ 1`) they are the
/// core parity tests' scales: 1 for `y` and `dx`, `M` for `dγ`. A channel whose few values lie close
/// together has a large `invstd`: `dx` then cancels terms of size `γ·invstd·|dy|`, and the rounding of
/// a mean (`u·|mean|`) is multiplied by `invstd` in `x̂`.
struct ConditioningScales {
    var output: Double
    var inputGradient: Double
    var gammaGradient: Double

    init<Scalar: BatchNormScalar>(
        mean: [Scalar], inverseStandardDeviation: [Scalar], gamma: [Scalar]?, valuesPerChannel: Int
    ) {
        let channels = mean.indices
        let centering = channels.map { max(1, abs(Double(mean[$0]) * Double(inverseStandardDeviation[$0]))) }
        let scale = channels.map { abs(Double(gamma?[$0] ?? 1) * Double(inverseStandardDeviation[$0])) }
        output = channels.map { max(1, scale[$0] * abs(Double(mean[$0]))) }.reduce(1, max)
        inputGradient = channels.map { max(1, scale[$0]) * centering[$0] }.reduce(1, max)
        gammaGradient = Double(valuesPerChannel) * centering.reduce(1, max)
    }
}

/// Checks that `values` are bit-identical on every rank (one all-gather of doubles; collective).
func expectIdenticalAcrossRanks<Scalar: BatchNormScalar>(
    _ values: [Scalar], communicator: Communicator, log: inout TestLog, _ context: String
) throws {
    let gathered = try communicator.allGather(values.map(Double.init))
    let differing = gathered.indices.filter { gathered[$0] != gathered[0] }
    log.expect(differing.isEmpty, "\(context): ranks \(differing) differ from rank 0")
}
