import Testing
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// The split passes (what a distributed backend composes) against the single-process passes: a batch
/// cut along `N` into unequal parts — one of a single sample — each part run by its own copy of the
/// layer, the partial statistics merged and the gradient sums added, must give every part the outputs,
/// statistics, running statistics and gradients that one `forwardTraining`/`backward` over the whole
/// batch gives, within the parity suites' tolerances (64 unit roundoffs in the metric
/// `|Δ| / (|expected| + scale)`, sums relative to `M`; see ``ConditioningScales`` for channels whose
/// few values lie close together); and every copy of the layer must end bit-identical. A participant without samples takes part through the `WithoutLocalSamples` calls.
@Suite("Split passes against the single-process passes")
struct SplitPassesTests {
    /// `(dimensions, layout, batch sizes of the parts)`; the sizes add up to `N`.
    static let splits: [([Int], TensorLayout, [Int])] = [
        ([6, 5], .channelsFirst, [1, 3, 2]),              // NC
        ([7, 3, 17], .channelsFirst, [4, 1, 2]),          // NCL
        ([5, 4, 5, 7], .channelsFirst, [2, 1, 2]),        // NCHW
        ([4, 3, 3, 4, 5], .channelsFirst, [1, 3]),        // NCDHW
        ([6, 17, 3], .channelsLast, [3, 1, 2]),           // NLC
        ([5, 5, 7, 4], .channelsLast, [1, 1, 3]),         // NHWC
        ([3, 3, 4, 5, 3], .channelsLast, [2, 1]),         // NDHWC
        ([2, 1, 1, 6], .channelsLast, [1, 1]),            // one value per channel in each part
    ]

    static let cases = splits.flatMap { split in KernelPath.allCases.map { (split, $0) } }

    @Test("forward and backward of merged parts equal the whole batch", arguments: cases)
    func parity(split: ([Int], TensorLayout, [Int]), path: KernelPath) throws {
        for affine in [true, false] {
            try check(Float.self, split: split, path: path, affine: affine, momentum: 0.25)
            try check(Double.self, split: split, path: path, affine: affine, momentum: 0.25)
        }
        try check(Float.self, split: split, path: path, affine: true, momentum: nil)
        try check(Double.self, split: split, path: path, affine: true, momentum: nil)
    }

    func check<Scalar: BatchNormScalar>(
        _: Scalar.Type, split: ([Int], TensorLayout, [Int]), path: KernelPath, affine: Bool, momentum: Scalar?
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let (dimensions, layout, batchSizes) = split
        let shape = try TensorShape(dimensions, layout: layout)
        var generator = SeededGenerator.fresh()
        var whole = try BatchNorm<Scalar>.random(
            channelCount: shape.channelCount, path: path, momentum: momentum, affine: affine, using: &generator)
        let input = [Scalar].random(count: shape.elementCount, in: -2...3, using: &generator)
        let gradOutput = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        let partShapes = try batchSizes.map { size throws(BatchNormError) in
            var partDimensions = dimensions
            partDimensions[0] = size
            return try TensorShape(partDimensions, layout: layout)
        }
        let inputs = Self.slices(input, sizes: partShapes.map(\.elementCount))
        let gradOutputs = Self.slices(gradOutput, sizes: partShapes.map(\.elementCount))
        var parts = Array(repeating: whole, count: partShapes.count)
        var absent = whole    // a participant without samples
        // The reference's update of the same running statistics (independent of the layer's own code).
        let referenceRunning = NaiveBatchNorm.updatedRunningStatistics(
            runningMean: whole.runningMean.map(Double.init), runningVariance: whole.runningVariance.map(Double.init),
            statistics: NaiveBatchNorm.statistics(input.map(Double.init), shape: shape, epsilon: Double(whole.epsilon)),
            momentum: momentum.map(Double.init), numBatchesTrackedBefore: whole.numBatchesTracked)

        // The single-process passes over the whole batch.
        let (expectedOutput, expectedStatistics) = try whole.forwardTraining(input, shape: shape)
        let expectedGradients = try whole.backward(
            gradOutput: gradOutput, input: input, shape: shape, statistics: expectedStatistics)

        // The split passes: local statistics, merged in order (with an empty part in the middle).
        var global = try PartialStatistics<Scalar>.empty(channelCount: shape.channelCount)
        for index in parts.indices {
            global = try global.merged(with: parts[index].partialStatistics(inputs[index], shape: partShapes[index]))
            if index == 0 { global = try global.merged(with: .empty(channelCount: shape.channelCount)) }
        }
        #expect(global.count == shape.valuesPerChannel)
        var outputs = [[Scalar]](), statistics = [BatchStatistics<Scalar>]()
        for index in parts.indices {
            let result = try parts[index].forwardTraining(inputs[index], shape: partShapes[index], globalStatistics: global)
            outputs.append(result.output)
            statistics.append(result.statistics)
        }
        let absentStatistics = try absent.forwardTrainingWithoutLocalSamples(globalStatistics: global)
        var globalSums = try GradientSums<Scalar>.zero(channelCount: shape.channelCount)
        for index in parts.indices {
            globalSums = try globalSums.adding(parts[index].backwardSums(
                gradOutput: gradOutputs[index], input: inputs[index], shape: partShapes[index],
                statistics: statistics[index]))
        }
        let gradients = try parts.indices.map { index throws(BatchNormError) in
            try parts[index].backward(
                gradOutput: gradOutputs[index], input: inputs[index], shape: partShapes[index],
                statistics: statistics[index], globalSums: globalSums, globalCount: global.count)
        }
        let absentGradients = try absent.backwardWithoutLocalSamples(
            statistics: absentStatistics, globalSums: globalSums, globalCount: global.count)

        let u = unitRoundoff(Scalar.self)
        let m = Double(shape.valuesPerChannel)
        let context = "\(Scalar.self) \(shape) parts \(batchSizes) \(path) affine \(affine) momentum \(String(describing: momentum)) seed \(generator.seed)"
        let inDouble = { (values: [Scalar]) in values.map(Double.init) }
        let scales = ConditioningScales(
            mean: expectedStatistics.mean, inverseStandardDeviation: expectedStatistics.inverseStandardDeviation,
            gamma: affine ? whole.gamma : nil, valuesPerChannel: shape.valuesPerChannel)
        expectClose(outputs.flatMap { $0 }, inDouble(expectedOutput), tolerance: 64 * u, scale: scales.output,
                    context + " y")
        expectClose(statistics[0].mean, inDouble(expectedStatistics.mean), tolerance: 64 * u, context + " mean")
        expectClose(statistics[0].variance, inDouble(expectedStatistics.variance), tolerance: 64 * u, scale: 0,
                    context + " variance")
        expectClose(statistics[0].inverseStandardDeviation, inDouble(expectedStatistics.inverseStandardDeviation),
                    tolerance: 64 * u, scale: 0, context + " invstd")
        expectClose(parts[0].runningMean, inDouble(whole.runningMean), tolerance: 64 * u, context + " running mean")
        expectClose(parts[0].runningVariance, inDouble(whole.runningVariance), tolerance: 64 * u, scale: 0,
                    context + " running variance")
        expectClose(parts[0].runningMean, referenceRunning.mean, tolerance: 64 * u, context + " running mean (reference)")
        expectClose(parts[0].runningVariance, referenceRunning.variance, tolerance: 64 * u, scale: 0,
                    context + " running variance (reference)")
        expectClose(gradients.flatMap(\.input), inDouble(expectedGradients.input), tolerance: 64 * u,
                    scale: scales.inputGradient, context + " dx")
        expectClose(gradients[0].parameters.gamma, inDouble(expectedGradients.parameters.gamma),
                    tolerance: 64 * u, scale: scales.gammaGradient, context + " dgamma")
        expectClose(gradients[0].parameters.beta, inDouble(expectedGradients.parameters.beta),
                    tolerance: 64 * u, scale: m, context + " dbeta")
        // Every participant normalized with the same statistics and holds the same layer afterwards.
        for index in parts.indices {
            #expect(parts[index] == parts[0], "\(context): layer of part \(index) differs")
            #expect(statistics[index] == statistics[0], "\(context): statistics of part \(index) differ")
            #expect(gradients[index].parameters == gradients[0].parameters, "\(context): dγ/dβ of part \(index) differ")
        }
        #expect(absent == parts[0], "\(context): the layer without samples differs")
        #expect(absentStatistics == statistics[0], "\(context): statistics without samples differ")
        #expect(absentGradients == gradients[0].parameters, "\(context): dγ/dβ without samples differ")
        #expect(parts[0].numBatchesTracked == whole.numBatchesTracked)
    }

    /// The magnitudes the rounding of the outputs and gradients is relative to. For well-spread
    /// channels (`γ·invstd ≈ 1`, `|mean|·invstd ≲ 1`) they are the parity suites' scales: 1 for `y` and
    /// `dx`, `M` for `dγ`. A channel whose few values lie close together (two values per channel
    /// here) has a large `invstd`: `dx = γ·invstd·(dy - dβ/M - x̂·dγ/M)` then cancels terms of size
    /// `γ·invstd·|dy|`, and the rounding of a mean (`u·|mean|`, which a one-word mean of the whole batch
    /// carries while the merged two-word mean does not) is multiplied by `invstd` in `x̂`.
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

    /// `values` cut into consecutive pieces of the given sizes.
    static func slices<Element>(_ values: [Element], sizes: [Int]) -> [[Element]] {
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return Array(values[start..<(start + size)])
        }
    }

    // MARK: - Values exchanged

    @Test("partial statistics and gradient sums rebuilt from their parts are equal")
    func roundTrip() throws {
        let layer = try BatchNorm<Float>(channelCount: 3)
        var generator = SeededGenerator.fresh()
        let input = [Float].random(count: 30, in: 100...101, using: &generator)
        let statistics = try layer.partialStatistics(input, shape: TensorShape([10, 3]))
        let rebuilt = try PartialStatistics(
            count: statistics.count, mean: statistics.mean, meanLow: statistics.meanLow,
            sumOfSquaredDeviations: statistics.sumOfSquaredDeviations)
        #expect(rebuilt == statistics)
        #expect(statistics.count == 10 && statistics.channelCount == 3)
        let sums = try GradientSums<Float>(sumGradient: [1, 2, 3], sumGradientTimesCentered: [4, 5, 6])
        #expect(try sums.adding(.zero(channelCount: 3)) == sums)
        #expect(try PartialStatistics<Double>(count: 0, mean: [7], sumOfSquaredDeviations: [8])
                == .empty(channelCount: 1))
    }

    @Test("malformed exchanged values are refused")
    func malformedValues() throws {
        #expect(throws: BatchNormError.invalidValueCount(-1)) {
            try PartialStatistics<Float>(count: -1, mean: [0], sumOfSquaredDeviations: [0])
        }
        #expect(throws: BatchNormError.invalidChannelCount(0)) {
            try PartialStatistics<Float>(count: 2, mean: [], sumOfSquaredDeviations: [])
        }
        #expect(throws: BatchNormError.parameterLengthMismatch(argument: "meanLow", expected: 2, actual: 1)) {
            try PartialStatistics<Float>(count: 2, mean: [0, 0], meanLow: [0], sumOfSquaredDeviations: [0, 0])
        }
        #expect(throws: BatchNormError.parameterLengthMismatch(argument: "sumOfSquaredDeviations", expected: 2, actual: 3)) {
            try PartialStatistics<Float>(count: 2, mean: [0, 0], sumOfSquaredDeviations: [0, 0, 0])
        }
        #expect(throws: BatchNormError.invalidChannelCount(0)) { try PartialStatistics<Double>.empty(channelCount: 0) }
        #expect(throws: BatchNormError.parameterLengthMismatch(argument: "other.mean", expected: 2, actual: 3)) {
            try PartialStatistics<Double>.empty(channelCount: 2).merged(with: .empty(channelCount: 3))
        }
        #expect(throws: BatchNormError.parameterLengthMismatch(
            argument: "sumGradientTimesCentered", expected: 2, actual: 1)) {
            try GradientSums<Float>(sumGradient: [0, 0], sumGradientTimesCentered: [0])
        }
        #expect(throws: BatchNormError.invalidChannelCount(-1)) { try GradientSums<Float>.zero(channelCount: -1) }
        #expect(throws: BatchNormError.parameterLengthMismatch(argument: "other.sumGradient", expected: 1, actual: 2)) {
            try GradientSums<Float>.zero(channelCount: 1).adding(.zero(channelCount: 2))
        }
    }

    // MARK: - Errors leave everything untouched

    @Test("split forward refusals")
    func forwardRefusals() throws {
        let input = [Float](repeating: 1, count: 24)
        let shape = try TensorShape([2, 3, 4])
        let global = try PartialStatistics<Float>(count: 10, mean: [0, 0, 0], sumOfSquaredDeviations: [9, 9, 9])
        let single = try PartialStatistics<Float>(count: 1, mean: [0, 0, 0], sumOfSquaredDeviations: [0, 0, 0])
        let fourChannels = try PartialStatistics<Float>(count: 10, mean: [0, 0, 0, 0], sumOfSquaredDeviations: [9, 9, 9, 9])
        try expectRefusal(.tooFewValuesPerChannel(count: 1)) { layer, output throws(BatchNormError) in
            _ = try layer.forwardTraining(input.span, shape: shape, globalStatistics: single, into: &output)
        }
        try expectRefusal(.tooFewValuesPerChannel(count: 0)) { layer, output throws(BatchNormError) in
            _ = try layer.forwardTraining(input.span, shape: shape, globalStatistics: .empty(channelCount: 3), into: &output)
        }
        try expectRefusal(.parameterLengthMismatch(argument: "globalStatistics.mean", expected: 3, actual: 4)) {
            layer, output throws(BatchNormError) in
            _ = try layer.forwardTraining(input.span, shape: shape, globalStatistics: fourChannels, into: &output)
        }
        try expectRefusal(.channelCountMismatch(layer: 3, shape: 4)) { layer, output throws(BatchNormError) in
            _ = try layer.forwardTraining(input.span, shape: TensorShape([2, 4, 3]), globalStatistics: global, into: &output)
        }
        try expectRefusal(.elementCountMismatch(argument: "input", expected: 24, actual: 23)) { layer, output throws(BatchNormError) in
            _ = try layer.forwardTraining(Array(input.dropLast()).span, shape: shape, globalStatistics: global, into: &output)
        }
        try expectRefusal(.parameterLengthMismatch(argument: "gamma", expected: 3, actual: 2),
                          layer: { $0.gamma = [1, 1] }) { layer, output throws(BatchNormError) in
            _ = try layer.forwardTraining(input.span, shape: shape, globalStatistics: global, into: &output)
        }
        try expectRefusal(.parameterLengthMismatch(argument: "runningVariance", expected: 3, actual: 1),
                          layer: { $0.runningVariance = [1] }) { layer, output throws(BatchNormError) in
            _ = try layer.forwardTraining(input.span, shape: shape, globalStatistics: global, into: &output)
        }
        try expectRefusal(.tooFewValuesPerChannel(count: 1)) { layer, _ throws(BatchNormError) in
            _ = try layer.forwardTrainingWithoutLocalSamples(globalStatistics: single)
        }
        try expectRefusal(.parameterLengthMismatch(argument: "globalStatistics.mean", expected: 3, actual: 4)) {
            layer, _ throws(BatchNormError) in
            _ = try layer.forwardTrainingWithoutLocalSamples(globalStatistics: fourChannels)
        }
        try expectRefusal(.channelCountMismatch(layer: 3, shape: 2)) { layer, _ throws(BatchNormError) in
            _ = try layer.partialStatistics(input, shape: TensorShape([3, 4, 2], layout: .channelsLast))
        }
        try expectRefusal(.elementCountMismatch(argument: "input", expected: 24, actual: 12)) { layer, _ throws(BatchNormError) in
            _ = try layer.partialStatistics(Array(input.prefix(12)), shape: shape)
        }
        // The local statistics already refuse what the forward pass would refuse of the layer.
        try expectRefusal(.parameterLengthMismatch(argument: "gamma", expected: 3, actual: 2),
                          layer: { $0.gamma = [1, 1] }) { layer, _ throws(BatchNormError) in
            _ = try layer.partialStatistics(input, shape: shape)
        }
        try expectRefusal(.parameterLengthMismatch(argument: "runningMean", expected: 3, actual: 0),
                          layer: { $0.runningMean = [] }) { layer, _ throws(BatchNormError) in
            _ = try layer.partialStatistics(input, shape: shape)
        }
    }

    @Test("split backward refusals")
    func backwardRefusals() throws {
        let input = [Float](repeating: 1, count: 24)
        let shape = try TensorShape([2, 3, 4])
        let statistics = BatchStatistics<Float>(mean: [0, 0, 0], variance: [1, 1, 1], inverseStandardDeviation: [1, 1, 1])
        let sums = try GradientSums<Float>.zero(channelCount: 3)
        try expectRefusal(.tooFewValuesPerChannel(count: 1)) { layer, output throws(BatchNormError) in
            _ = try layer.backward(gradOutput: input.span, input: input.span, shape: shape, statistics: statistics,
                                   globalSums: sums, globalCount: 1, into: &output)
        }
        try expectRefusal(.parameterLengthMismatch(argument: "globalSums.sumGradient", expected: 3, actual: 2)) {
            layer, output throws(BatchNormError) in
            _ = try layer.backward(gradOutput: input.span, input: input.span, shape: shape, statistics: statistics,
                                   globalSums: .zero(channelCount: 2), globalCount: 48, into: &output)
        }
        try expectRefusal(.parameterLengthMismatch(argument: "statistics.inverseStandardDeviation", expected: 3, actual: 2)) {
            layer, output throws(BatchNormError) in
            let short = BatchStatistics<Float>(mean: [0, 0, 0], variance: [1, 1, 1], inverseStandardDeviation: [1, 1])
            _ = try layer.backward(gradOutput: input.span, input: input.span, shape: shape, statistics: short,
                                   globalSums: sums, globalCount: 48, into: &output)
        }
        try expectRefusal(.elementCountMismatch(argument: "gradOutput", expected: 24, actual: 20)) { layer, output throws(BatchNormError) in
            _ = try layer.backward(gradOutput: Array(input.prefix(20)).span, input: input.span, shape: shape,
                                   statistics: statistics, globalSums: sums, globalCount: 48, into: &output)
        }
        try expectRefusal(.parameterLengthMismatch(argument: "gamma", expected: 3, actual: 4),
                          layer: { $0.gamma = [1, 1, 1, 1] }) { layer, output throws(BatchNormError) in
            _ = try layer.backward(gradOutput: input.span, input: input.span, shape: shape, statistics: statistics,
                                   globalSums: sums, globalCount: 48, into: &output)
        }
        try expectRefusal(.parameterLengthMismatch(argument: "statistics.mean", expected: 3, actual: 1)) { layer, _ throws(BatchNormError) in
            let short = BatchStatistics<Float>(mean: [0], variance: [1, 1, 1], inverseStandardDeviation: [1, 1, 1])
            _ = try layer.backwardSums(gradOutput: input, input: input, shape: shape, statistics: short)
        }
        try expectRefusal(.tooFewValuesPerChannel(count: 0)) { layer, _ throws(BatchNormError) in
            _ = try layer.backwardWithoutLocalSamples(statistics: statistics, globalSums: sums, globalCount: 0)
        }
        // The local sums already refuse what the elementwise step would refuse of the statistics and layer.
        try expectRefusal(.parameterLengthMismatch(argument: "statistics.inverseStandardDeviation", expected: 3, actual: 2)) {
            layer, _ throws(BatchNormError) in
            let short = BatchStatistics<Float>(mean: [0, 0, 0], variance: [1, 1, 1], inverseStandardDeviation: [1, 1])
            _ = try layer.backwardSums(gradOutput: input, input: input, shape: shape, statistics: short)
        }
        try expectRefusal(.parameterLengthMismatch(argument: "beta", expected: 3, actual: 1),
                          layer: { $0.beta = [0] }) { layer, _ throws(BatchNormError) in
            _ = try layer.backwardSums(gradOutput: input, input: input, shape: shape, statistics: statistics)
        }
    }
}
