import BatchNormKit
import BatchNormMPI

/// Calls that must fail on every rank — never leave a rank waiting in a collective — with the
/// expected typed error on each, and write nothing. Each rank checks its own side.
enum RefusalCases {
    static func run(communicator: Communicator, log: inout TestLog) throws {
        let rank = communicator.rank, size = communicator.size
        let last = size - 1

        if size > 1 {
            mismatchedLayers(communicator: communicator, log: &log)
        }

        // One rank's input has a different channel count: refused there, abandoned everywhere.
        var synchronized = try SynchronizedBatchNorm(BatchNorm<Float>(channelCount: 4), communicator: communicator)
        let layerBefore = synchronized.layer
        let sentinel: Float = 42
        let channels = rank == last ? 5 : 4
        let shape = try TensorShape([2, channels, 3])
        let input = (0..<shape.elementCount).map { Float($0 % 7) }
        var output = [Float](repeating: sentinel, count: shape.elementCount)
        let expectedForward: SynchronizedBatchNormError = rank == last
            ? .refused(.channelCountMismatch(layer: 4, shape: 5)) : .refusedOnOtherRanks(ranks: [last])
        expectFailure(expectedForward, log: &log, "input with \(channels) channels on rank \(rank)") {
            var outputSpan = output.mutableSpan
            _ = try synchronized.forwardTraining(input.span, shape: shape, into: &outputSpan)
        }
        log.expect(output.allSatisfy { $0 == sentinel }, "refused forward wrote its output")
        log.expect(synchronized.layer == layerBefore, "refused forward changed the layer")

        // One rank's gradient has the wrong length: refused there, abandoned everywhere.
        let goodShape = try TensorShape([2, 4, 3])
        let goodInput = (0..<goodShape.elementCount).map { Float($0 % 5) }
        let statistics = try synchronized.forwardTraining(goodInput, shape: goodShape).statistics
        let gradOutput = [Float](repeating: 0.5, count: rank == 0 ? goodShape.elementCount - 1 : goodShape.elementCount)
        var inputGradient = [Float](repeating: sentinel, count: goodShape.elementCount)
        let expectedBackward: SynchronizedBatchNormError = rank == 0
            ? .refused(.elementCountMismatch(argument: "gradOutput", expected: 24, actual: 23))
            : .refusedOnOtherRanks(ranks: [0])
        expectFailure(expectedBackward, log: &log, "gradient of \(gradOutput.count) values on rank \(rank)") {
            var inputGradientSpan = inputGradient.mutableSpan
            _ = try synchronized.backward(
                gradOutput: gradOutput.span, input: goodInput.span, shape: goodShape, statistics: statistics,
                into: &inputGradientSpan)
        }
        log.expect(inputGradient.allSatisfy { $0 == sentinel }, "refused backward wrote its input gradient")

        // The whole batch has one value per channel (one sample on rank 0, none elsewhere).
        let layerBeforeSingle = synchronized.layer
        expectFailure(.refused(.tooFewValuesPerChannel(count: 1)), log: &log, "one value per channel in total") {
            if rank == 0 {
                _ = try synchronized.forwardTraining([1, 2, 3, 4], shape: TensorShape([1, 4]))
            } else {
                _ = try synchronized.forwardTrainingWithoutLocalSamples()
            }
        }
        log.expect(synchronized.layer == layerBeforeSingle, "refused single-value forward changed the layer")

        // Ranks in different collectives (a program-order mistake): told so, on every rank.
        if size > 1 {
            let operations = (0..<size).map { $0 == 0 ? "forward statistics" : "backward sums" }
            expectFailure(.operationMismatch(operations: operations), log: &log, "operations \(operations)") {
                if rank == 0 {
                    _ = try synchronized.allGatherStatistics(.empty(channelCount: 4))
                } else {
                    _ = try synchronized.allReduceGradientSums(.zero(channelCount: 4))
                }
            }
        }
    }

    /// Layers that differ across ranks (needs two ranks or more): refused by the handshake everywhere.
    private static func mismatchedLayers(communicator: Communicator, log: inout TestLog) {
        let rank = communicator.rank, size = communicator.size
        let last = size - 1

        // Layers with different channel counts: refused by the handshake on every rank.
        let channelCounts = (0..<size).map { $0 == 0 ? 3 : 4 }
        expectFailure(.channelCountMismatch(channelCounts: channelCounts), log: &log, "channel counts \(channelCounts)") {
            _ = try SynchronizedBatchNorm(BatchNorm<Float>(channelCount: channelCounts[rank]), communicator: communicator)
        }

        // Layers of different element types.
        let scalarTypes = (0..<size).map { $0 == last ? "Double" : "Float" }
        expectFailure(.scalarTypeMismatch(scalarTypes: scalarTypes), log: &log, "element types \(scalarTypes)") {
            if rank == last {
                _ = try SynchronizedBatchNorm(BatchNorm<Double>(channelCount: 4), communicator: communicator)
            } else {
                _ = try SynchronizedBatchNorm(BatchNorm<Float>(channelCount: 4), communicator: communicator)
            }
        }

        // Layers with different hyperparameters.
        let epsilons = (0..<size).map { $0 == 0 ? "0.001" : "1e-05" }
        expectFailure(.configurationMismatch(parameter: "epsilon", values: epsilons), log: &log, "epsilons \(epsilons)") {
            _ = try SynchronizedBatchNorm(
                BatchNorm<Double>(channelCount: 4, epsilon: rank == 0 ? 1e-3 : 1e-5), communicator: communicator)
        }
    }

    /// Expects `body` to throw exactly `expected`.
    private static func expectFailure(
        _ expected: SynchronizedBatchNormError, log: inout TestLog, _ context: String,
        _ body: () throws -> Void
    ) {
        do {
            try body()
            log.expect(false, "\(context): no error, expected \(expected)")
        } catch let error as SynchronizedBatchNormError {
            log.expect(error == expected, "\(context): \(error), expected \(expected)")
        } catch {
            log.expect(false, "\(context): \(error), expected \(expected)")
        }
    }
}
