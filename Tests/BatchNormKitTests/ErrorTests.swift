import Testing
import BatchNormKit
import Kernels

/// Every refusal is a typed error thrown before anything is written: outputs keep their sentinel
/// values and the layer (parameters, running statistics, counter) compares equal to its old self.
@Suite("Errors leave everything untouched")
struct ErrorTests {
    @Test("shape validation")
    func shapes() {
        #expect(throws: BatchNormError.rankTooSmall(shape: [5])) { try TensorShape([5]) }
        #expect(throws: BatchNormError.rankTooSmall(shape: [])) { try TensorShape([]) }
        #expect(throws: BatchNormError.emptyDimension(shape: [4, 0, 3])) { try TensorShape([4, 0, 3]) }
        #expect(throws: BatchNormError.emptyDimension(shape: [-2, 3])) { try TensorShape([-2, 3]) }
        #expect(throws: BatchNormError.sizeOverflow(shape: [1 << 40, 1 << 40])) { try TensorShape([1 << 40, 1 << 40]) }
    }

    @Test("layer construction")
    func construction() {
        #expect(throws: BatchNormError.invalidChannelCount(0)) { try BatchNorm<Float>(channelCount: 0) }
        #expect(throws: BatchNormError.invalidEpsilon(0)) { try BatchNorm<Float>(channelCount: 2, epsilon: 0) }
        #expect(throws: BatchNormError.invalidEpsilon(-1)) { try BatchNorm<Float>(channelCount: 2, epsilon: -1) }
        #expect(throws: BatchNormError.invalidEpsilon(.infinity)) { try BatchNorm<Double>(channelCount: 2, epsilon: .infinity) }
        #expect(throws: BatchNormError.self) { try BatchNorm<Double>(channelCount: 2, epsilon: .nan) }
        #expect(throws: BatchNormError.self) { try BatchNorm<Float>(channelCount: 2, momentum: -0.1) }
        #expect(throws: BatchNormError.invalidMomentum(1.5)) { try BatchNorm<Double>(channelCount: 2, momentum: 1.5) }
        #expect(throws: BatchNormError.self) { try BatchNorm<Float>(channelCount: 2, momentum: .nan) }
        #expect((try? BatchNorm<Float>(channelCount: 2, momentum: 0)) != nil)
        #expect((try? BatchNorm<Float>(channelCount: 2, momentum: 1)) != nil)
    }

    @Test("training forward refusals")
    func trainingForward() throws {
        let input = [Float](repeating: 1, count: 24)
        let input23 = Array(input.dropLast()), input18 = Array(input.prefix(18)), input3 = Array(input.prefix(3))
        let input12 = Array(input.prefix(12)), input20 = Array(input.prefix(20)), input0 = [Float]()
        let shape = try TensorShape([2, 3, 4])
        try expectRefusal(.channelCountMismatch(layer: 3, shape: 4)) { layer, output throws(BatchNormError) in
            _ = try layer.forwardTraining(input.span, shape: try TensorShape([2, 4, 3]), into: &output)
        }
        try expectRefusal(.elementCountMismatch(argument: "input", expected: 24, actual: 23)) { layer, output throws(BatchNormError) in
            _ = try layer.forwardTraining(input23.span, shape: shape, into: &output)
        }
        try expectRefusal(.elementCountMismatch(argument: "output", expected: 18, actual: 24)) { layer, output throws(BatchNormError) in
            _ = try layer.forwardTraining(input18.span, shape: try TensorShape([2, 3, 3]), into: &output)
        }
        try expectRefusal(.singleValuePerChannel(shape: [1, 3])) { layer, output throws(BatchNormError) in
            var small = [Float](repeating: 0, count: 3)
            var smallSpan = small.mutableSpan
            _ = try layer.forwardTraining(input3.span, shape: try TensorShape([1, 3]), into: &smallSpan)
        }
        try expectRefusal(.singleValuePerChannel(shape: [1, 3, 1, 1])) { layer, output throws(BatchNormError) in
            var small = [Float](repeating: 0, count: 3)
            var smallSpan = small.mutableSpan
            _ = try layer.forwardTraining(input3.span, shape: try TensorShape([1, 3, 1, 1]), into: &smallSpan)
        }
        try expectRefusal(.parameterLengthMismatch(argument: "gamma", expected: 3, actual: 2),
                          layer: { $0.gamma = [1, 1] }) { layer, output throws(BatchNormError) in
            _ = try layer.forwardTraining(input.span, shape: shape, into: &output)
        }
        try expectRefusal(.parameterLengthMismatch(argument: "beta", expected: 3, actual: 4),
                          layer: { $0.beta = [1, 1, 1, 1] }) { layer, output throws(BatchNormError) in
            _ = try layer.forwardTraining(input.span, shape: shape, into: &output)
        }
        try expectRefusal(.parameterLengthMismatch(argument: "runningMean", expected: 3, actual: 0),
                          layer: { $0.runningMean = [] }) { layer, output throws(BatchNormError) in
            _ = try layer.forwardTraining(input.span, shape: shape, into: &output)
        }
        try expectRefusal(.parameterLengthMismatch(argument: "runningVariance", expected: 3, actual: 1),
                          layer: { $0.runningVariance = [1] }) { layer, output throws(BatchNormError) in
            _ = try layer.forwardTraining(input.span, shape: shape, into: &output)
        }
    }

    @Test("inference forward refusals")
    func inferenceForward() throws {
        let input = [Float](repeating: 1, count: 24)
        let input23 = Array(input.dropLast()), input18 = Array(input.prefix(18)), input3 = Array(input.prefix(3))
        let input12 = Array(input.prefix(12)), input20 = Array(input.prefix(20)), input0 = [Float]()
        let shape = try TensorShape([2, 3, 4])
        try expectRefusal(.channelCountMismatch(layer: 3, shape: 2)) { layer, output throws(BatchNormError) in
            try layer.forwardInference(input.span, shape: try TensorShape([3, 4, 2], layout: .channelsLast), into: &output)
        }
        try expectRefusal(.elementCountMismatch(argument: "input", expected: 24, actual: 12)) { layer, output throws(BatchNormError) in
            try layer.forwardInference(input12.span, shape: shape, into: &output)
        }
        try expectRefusal(.parameterLengthMismatch(argument: "runningMean", expected: 3, actual: 2),
                          layer: { $0.runningMean = [0, 0] }) { layer, output throws(BatchNormError) in
            try layer.forwardInference(input.span, shape: shape, into: &output)
        }
        // Without running statistics inference uses batch statistics, so one value per channel is refused.
        var untracked = try BatchNorm<Float>(channelCount: 3, tracksRunningStatistics: false)
        var small = [Float](repeating: refusalSentinel, count: 3)
        var smallSpan = small.mutableSpan
        #expect(throws: BatchNormError.singleValuePerChannel(shape: [1, 3])) {
            try untracked.forwardInference(input3.span, shape: try TensorShape([1, 3]), into: &smallSpan)
        }
        _ = consume smallSpan
        #expect(small == [refusalSentinel, refusalSentinel, refusalSentinel])
        untracked.numBatchesTracked += 0
    }

    @Test("backward refusals")
    func backward() throws {
        let input = [Float](repeating: 1, count: 24)
        let input23 = Array(input.dropLast()), input18 = Array(input.prefix(18)), input3 = Array(input.prefix(3))
        let input12 = Array(input.prefix(12)), input20 = Array(input.prefix(20)), input0 = [Float]()
        let shape = try TensorShape([2, 3, 4])
        let statistics = BatchStatistics<Float>(mean: [0, 0, 0], variance: [1, 1, 1], inverseStandardDeviation: [1, 1, 1])
        try expectRefusal(.elementCountMismatch(argument: "gradOutput", expected: 24, actual: 20)) { layer, output throws(BatchNormError) in
            _ = try layer.backward(gradOutput: input20.span, input: input.span, shape: shape,
                                   statistics: statistics, into: &output)
        }
        try expectRefusal(.elementCountMismatch(argument: "input", expected: 24, actual: 0)) { layer, output throws(BatchNormError) in
            _ = try layer.backward(gradOutput: input.span, input: input0.span, shape: shape,
                                   statistics: statistics, into: &output)
        }
        try expectRefusal(.parameterLengthMismatch(argument: "statistics.mean", expected: 3, actual: 2)) { layer, output throws(BatchNormError) in
            let short = BatchStatistics<Float>(mean: [0, 0], variance: [1, 1, 1], inverseStandardDeviation: [1, 1, 1])
            _ = try layer.backward(gradOutput: input.span, input: input.span, shape: shape, statistics: short, into: &output)
        }
        try expectRefusal(.parameterLengthMismatch(argument: "statistics.inverseStandardDeviation", expected: 3, actual: 4)) {
            layer, output throws(BatchNormError) in
            let long = BatchStatistics<Float>(mean: [0, 0, 0], variance: [1, 1, 1], inverseStandardDeviation: [1, 1, 1, 1])
            _ = try layer.backward(gradOutput: input.span, input: input.span, shape: shape, statistics: long, into: &output)
        }
        try expectRefusal(.runningStatisticsNotTracked) { layer, output throws(BatchNormError) in
            var untracked = try BatchNorm<Float>(channelCount: 3, tracksRunningStatistics: false)
            untracked.gamma = layer.gamma
            _ = try untracked.backwardInference(gradOutput: input.span, input: input.span, shape: shape, into: &output)
        }
        try expectRefusal(.elementCountMismatch(argument: "inputGradient", expected: 12, actual: 24)) { layer, output throws(BatchNormError) in
            _ = try layer.backwardInference(gradOutput: input12.span, input: input12.span,
                                            shape: try TensorShape([4, 3]), into: &output)
        }
    }
}
