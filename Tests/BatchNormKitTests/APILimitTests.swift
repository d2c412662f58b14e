import Testing
import BatchNormKit

/// Values at the edges of what the public API accepts get a typed error or a defined result, never a
/// trap: channel counts too large to allocate, a negative or saturated batch counter, value counts
/// whose sum overflows.
@Suite("API limits")
struct APILimitTests {
    /// `channelCount: Int.max` used to crash (SIGSEGV) and `1 << 40` to fail its allocation; both are
    /// larger than any machine's memory holds.
    @Test("channel counts too large to allocate", arguments: [Int.max, 1 << 40, Int.max / 2])
    func hugeChannelCounts(count: Int) {
        expectTooLarge(count) { () throws(BatchNormError) in _ = try BatchNorm<Float>(channelCount: count) }
        expectTooLarge(count) { () throws(BatchNormError) in _ = try BatchNorm<Double>(channelCount: count) }
        expectTooLarge(count) { () throws(BatchNormError) in _ = try PartialStatistics<Float>.empty(channelCount: count) }
        expectTooLarge(count) { () throws(BatchNormError) in _ = try GradientSums<Double>.zero(channelCount: count) }
    }

    func expectTooLarge(
        _ count: Int, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws(BatchNormError) -> Void
    ) {
        do {
            try body()
            Issue.record("channel count \(count) was accepted", sourceLocation: sourceLocation)
        } catch {
            guard case .channelCountTooLarge(let reported, let maximum) = error else {
                Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
                return
            }
            #expect(reported == count && maximum >= 1 && maximum < count, sourceLocation: sourceLocation)
            #expect(error.description.contains("\(count)") && error.description.contains("\(maximum)"),
                    "\(error.description)", sourceLocation: sourceLocation)
        }
    }

    /// A negative counter made the cumulative factor `1 / 0` and the running statistics NaN.
    @Test("a negative numBatchesTracked is refused before anything is written")
    func negativeCounter() throws {
        let input = (0..<24).map { Float($0 % 5) }
        let shape = try TensorShape([2, 3, 4])
        try expectRefusal(.invalidBatchCount(-1), layer: { $0.numBatchesTracked = -1 }) { layer, output throws(BatchNormError) in
            _ = try layer.forwardTraining(input.span, shape: shape, into: &output)
        }
        var layer = try BatchNorm<Float>(channelCount: 3, momentum: nil)
        layer.numBatchesTracked = -1
        #expect(throws: BatchNormError.invalidBatchCount(-1)) { try layer.partialStatistics(input, shape: shape) }
        let global = try layer.copyWithCounter(0).partialStatistics(input, shape: shape)
        #expect(throws: BatchNormError.invalidBatchCount(-1)) {
            try layer.forwardTrainingWithoutLocalSamples(globalStatistics: global)
        }
        #expect(BatchNormError.invalidBatchCount(-1).description == "numBatchesTracked -1 is invalid; it must be at least 0")
        // Without running statistics the counter is never read or updated.
        var untracked = try BatchNorm<Float>(channelCount: 3, tracksRunningStatistics: false)
        untracked.numBatchesTracked = -1
        _ = try untracked.forwardTraining(input, shape: shape)
    }

    /// At `Int.max` the increment used to trap; the counter now saturates and the cumulative factor
    /// is `1 / Int.max`, so the running statistics barely move.
    @Test("numBatchesTracked at Int.max saturates")
    func saturatedCounter() throws {
        let input = (0..<24).map { Double($0 % 5) }
        let shape = try TensorShape([2, 3, 4])
        var layer = try BatchNorm<Double>(channelCount: 3, momentum: nil)
        layer.numBatchesTracked = Int.max
        _ = try layer.forwardTraining(input, shape: shape)
        #expect(layer.numBatchesTracked == Int.max)
        #expect(layer.runningMean.allSatisfy { $0.isFinite && abs($0) < 1e-15 })
        #expect(layer.runningVariance.allSatisfy { abs($0 - 1) < 1e-15 })
    }

    /// Merging counts whose sum overflows `Int` trapped inside `merged(with:)`.
    @Test("merging value counts that overflow Int")
    func countOverflow() throws {
        let huge = try PartialStatistics<Float>(count: Int.max, mean: [1], sumOfSquaredDeviations: [2])
        let one = try PartialStatistics<Float>(count: 1, mean: [3], sumOfSquaredDeviations: [0])
        #expect(throws: BatchNormError.valueCountOverflow(Int.max, 1)) { try huge.merged(with: one) }
        #expect(BatchNormError.valueCountOverflow(Int.max, 1).description
                == "value counts 9223372036854775807 and 1 add up to more than Int can count")
        #expect(try huge.merged(with: PartialStatistics<Float>.empty(channelCount: 1)).count == Int.max)
    }
}

extension BatchNorm {
    func copyWithCounter(_ counter: Int) -> Self {
        var copy = self
        copy.numBatchesTracked = counter
        return copy
    }
}
