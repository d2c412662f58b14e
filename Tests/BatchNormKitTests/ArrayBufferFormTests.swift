import Testing
import BatchNormKit
import BatchNormTestSupport

/// The `into: inout [Scalar]` forms are the span forms on an existing array: bit-identical outputs,
/// statistics, running statistics and gradients; the array written in place, never resized; and a
/// refused call leaves the array and the layer as they were.
@Suite("Array buffer forms")
struct ArrayBufferFormTests {
    static let shapes: [([Int], TensorLayout)] = [([8, 5], .channelsFirst), ([3, 4, 6], .channelsFirst), ([2, 3, 3, 4], .channelsLast)]

    @Test("equal the span forms bit for bit", arguments: shapes)
    func equalSpanForms(entry: ([Int], TensorLayout)) throws {
        try check(Float.self, entry)
        try check(Double.self, entry)
    }

    func check<Scalar: BatchNormScalar>(_: Scalar.Type, _ entry: ([Int], TensorLayout)) throws
    where Scalar.RawSignificand: FixedWidthInteger {
        var generator = SeededGenerator.fresh()
        let shape = try TensorShape(entry.0, layout: entry.1)
        let channelCount = shape.channelCount
        var spanLayer = try BatchNorm<Scalar>.random(channelCount: channelCount, path: .fused, using: &generator)
        var arrayLayer = spanLayer
        let input = [Scalar].random(count: shape.elementCount, in: -3...5, using: &generator)
        let gradOutput = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        let context = Comment(rawValue: "\(Scalar.self) \(shape) seed \(generator.seed)")

        var spanOutput = [Scalar](repeating: 0, count: shape.elementCount)
        var spanOutputSpan = spanOutput.mutableSpan
        let spanStatistics = try spanLayer.forwardTraining(input.span, shape: shape, into: &spanOutputSpan)
        _ = consume spanOutputSpan
        var arrayOutput = [Scalar](repeating: .nan, count: shape.elementCount)
        let arrayStatistics = try arrayLayer.forwardTraining(input, shape: shape, into: &arrayOutput)
        #expect(arrayOutput == spanOutput, context)
        #expect(arrayStatistics == spanStatistics, context)
        #expect(arrayLayer == spanLayer, "running statistics differ: \(context)")

        var spanGradient = [Scalar](repeating: 0, count: shape.elementCount)
        var spanGradientSpan = spanGradient.mutableSpan
        let spanParameters = try spanLayer.backward(
            gradOutput: gradOutput.span, input: input.span, shape: shape, statistics: spanStatistics,
            into: &spanGradientSpan)
        _ = consume spanGradientSpan
        var arrayGradient = [Scalar](repeating: .nan, count: shape.elementCount)
        let arrayParameters = try arrayLayer.backward(
            gradOutput: gradOutput, input: input, shape: shape, statistics: arrayStatistics, into: &arrayGradient)
        #expect(arrayGradient == spanGradient, context)
        #expect(arrayParameters == spanParameters, context)

        var spanInference = [Scalar](repeating: 0, count: shape.elementCount)
        var spanInferenceSpan = spanInference.mutableSpan
        try spanLayer.forwardInference(input.span, shape: shape, into: &spanInferenceSpan)
        _ = consume spanInferenceSpan
        var arrayInference = [Scalar](repeating: .nan, count: shape.elementCount)
        try arrayLayer.forwardInference(input, shape: shape, into: &arrayInference)
        #expect(arrayInference == spanInference, context)
    }

    @Test("write in place without reallocating")
    func writeInPlace() throws {
        var layer = try BatchNorm<Float>(channelCount: 3)
        let shape = try TensorShape([4, 3])
        let input: [Float] = (0..<12).map { Float($0 * $0 % 7) }
        var output = [Float](repeating: 0, count: 12)
        let before = output.withUnsafeBufferPointer { $0.baseAddress }
        _ = try layer.forwardTraining(input, shape: shape, into: &output)
        try layer.forwardInference(input, shape: shape, into: &output)
        #expect(output.withUnsafeBufferPointer { $0.baseAddress } == before)
        #expect(output.count == 12)
    }

    @Test("refuse a wrong-sized array and write nothing")
    func refuseWrongSize() throws {
        let shape = try TensorShape([2, 3, 4])
        let input = [Float](repeating: 1, count: 24)
        let statistics = BatchStatistics<Float>(mean: [0, 0, 0], variance: [1, 1, 1], inverseStandardDeviation: [1, 1, 1])
        for badCount in [23, 25] {
            let mismatch = BatchNormError.elementCountMismatch(argument: "output", expected: 24, actual: badCount)
            try expectRefusal(mismatch) { (layer, _) throws(BatchNormError) in
                var short = [Float](repeating: refusalSentinel, count: badCount)
                defer { #expect(short.allSatisfy { $0 == refusalSentinel } && short.count == badCount) }
                _ = try layer.forwardTraining(input, shape: shape, into: &short)
            }
            try expectRefusal(mismatch) { (layer, _) throws(BatchNormError) in
                var short = [Float](repeating: refusalSentinel, count: badCount)
                defer { #expect(short.allSatisfy { $0 == refusalSentinel } && short.count == badCount) }
                try layer.forwardInference(input, shape: shape, into: &short)
            }
            let gradientMismatch = BatchNormError.elementCountMismatch(argument: "inputGradient", expected: 24, actual: badCount)
            try expectRefusal(gradientMismatch) { (layer, _) throws(BatchNormError) in
                var short = [Float](repeating: refusalSentinel, count: badCount)
                defer { #expect(short.allSatisfy { $0 == refusalSentinel } && short.count == badCount) }
                _ = try layer.backward(gradOutput: input, input: input, shape: shape, statistics: statistics, into: &short)
            }
        }
    }
}
