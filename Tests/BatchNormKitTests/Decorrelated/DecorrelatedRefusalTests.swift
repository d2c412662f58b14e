import Testing
import BatchNormKit

/// Bad construction arguments and bad calls get their typed error, and a refused call leaves the
/// layer (parameters, running statistics, counter) exactly as it was.
@Suite("Decorrelated batch norm: refusals")
struct DecorrelatedRefusalTests {
    @Test("construction refuses bad group sizes, iteration counts, eps and momentum")
    func construction() {
        #expect(throws: BatchNormError.invalidGroupSize(0)) { try DecorrelatedBatchNorm<Float>(channelCount: 4, groupSize: 0) }
        #expect(throws: BatchNormError.channelsNotDivisibleIntoGroups(channelCount: 10, groupSize: 4)) {
            try DecorrelatedBatchNorm<Float>(channelCount: 10, groupSize: 4)
        }
        #expect(throws: BatchNormError.invalidIterationCount(0)) {
            try DecorrelatedBatchNorm<Float>(channelCount: 4, groupSize: 2, whitening: .iterNorm(iterations: 0))
        }
        #expect(throws: BatchNormError.invalidIterationCount(1001)) {
            try DecorrelatedBatchNorm<Float>(channelCount: 4, groupSize: 2, whitening: .iterNorm(iterations: 1001))
        }
        #expect(throws: BatchNormError.invalidChannelCount(0)) { try DecorrelatedBatchNorm<Float>(channelCount: 0, groupSize: 1) }
        #expect(throws: BatchNormError.invalidEpsilon(0)) {
            try DecorrelatedBatchNorm<Double>(channelCount: 4, groupSize: 2, epsilon: 0)
        }
        #expect(throws: BatchNormError.invalidMomentum(-0.5)) {
            try DecorrelatedBatchNorm<Double>(channelCount: 4, groupSize: 2, momentum: -0.5)
        }
        #expect((try? DecorrelatedBatchNorm<Float>(channelCount: 4, groupSize: 2, whitening: .iterNorm(iterations: 1000))) != nil)
    }

    @Test("bad calls throw and change nothing")
    func calls() throws {
        var layer = try DecorrelatedBatchNorm<Float>(channelCount: 4, groupSize: 2)
        layer.gamma = [1, 2, 3, 4]
        layer.runningMean = [0.1, 0.2, 0.3, 0.4]
        let shape = try TensorShape([3, 4, 2])
        let input = (0..<24).map { Float($0 % 7) }
        let statistics = try layer.forwardTraining(input, shape: shape).statistics

        func refused(
            _ error: BatchNormError, breaking: (inout DecorrelatedBatchNorm<Float>) -> Void = { _ in },
            _ body: (inout DecorrelatedBatchNorm<Float>) throws -> Void
        ) {
            var copy = layer
            breaking(&copy)
            let before = copy
            #expect(throws: error) { try body(&copy) }
            #expect(copy == before, "layer changed by a refused call (\(error))")
        }
        refused(.elementCountMismatch(argument: "input", expected: 24, actual: 23)) { _ = try $0.forwardTraining(Array(input.dropLast()), shape: shape) }
        refused(.channelCountMismatch(layer: 4, shape: 3)) { _ = try $0.forwardTraining(Array(input.prefix(18)), shape: try TensorShape([3, 3, 2])) }
        refused(.singleValuePerChannel(shape: [1, 4])) { _ = try $0.forwardTraining([1, 2, 3, 4], shape: try TensorShape([1, 4])) }
        refused(.whiteningLengthMismatch(argument: "runningWhitening", expected: 8, actual: 7), breaking: { $0.runningWhitening.removeLast() }) {
            _ = try $0.forwardTraining(input, shape: shape)
        }
        refused(.whiteningLengthMismatch(argument: "runningWhitening", expected: 8, actual: 9), breaking: { $0.runningWhitening.append(0) }) {
            _ = try $0.forwardInference(input, shape: shape)
        }
        refused(.parameterLengthMismatch(argument: "beta", expected: 4, actual: 3), breaking: { $0.beta.removeLast() }) {
            _ = try $0.forwardTraining(input, shape: shape)
        }
        refused(.elementCountMismatch(argument: "gradOutput", expected: 24, actual: 20)) {
            _ = try $0.backward(gradOutput: Array(input.prefix(20)), input: input, shape: shape, statistics: statistics)
        }
        let otherLayer = try DecorrelatedBatchNorm<Float>(channelCount: 4, groupSize: 4)
        var other = otherLayer
        let otherStatistics = try other.forwardTraining(input, shape: shape).statistics
        refused(.whiteningLengthMismatch(argument: "statistics.whitening", expected: 8, actual: 16)) {
            _ = try $0.backward(gradOutput: input, input: input, shape: shape, statistics: otherStatistics)
        }
        // A row stride beyond CBLAS's 32-bit leading dimension is refused; a sample count beyond 32 bits
        // is not (the kernels split it), so that shape fails only on the (empty) input's length.
        let wide = try TensorShape([1, 4, 1 << 31])
        refused(.whiteningSizeUnsupported(shape: [1, 4, 1 << 31])) { _ = try $0.forwardTraining([], shape: wide) }
        let tall = try TensorShape([(1 << 31) + 1, 4])
        refused(.elementCountMismatch(argument: "input", expected: tall.elementCount, actual: 0)) {
            _ = try $0.forwardTraining([], shape: tall)
        }
    }
}
