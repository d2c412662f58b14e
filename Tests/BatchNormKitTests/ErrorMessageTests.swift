import Testing
import BatchNormKit

/// Every `BatchNormError` message, word for word: the numbers must land in the right places (a
/// message that swaps "has" and "needs" sends the user to fix the wrong argument).
@Suite("Error messages")
struct ErrorMessageTests {
    static let messages: [(BatchNormError, String)] = [
        (.rankTooSmall(shape: [7]), "shape [7] has rank 1; batch norm needs at least [N, C]"),
        (.emptyDimension(shape: [2, 0, 3]), "shape [2, 0, 3] has an empty dimension; every dimension must be at least 1"),
        (.sizeOverflow(shape: [1 << 40, 1 << 40]),
         "shape [1099511627776, 1099511627776] has more elements than Int can count"),
        (.invalidChannelCount(-2), "channel count -2 is invalid; it must be at least 1"),
        (.channelCountMismatch(layer: 3, shape: 4), "the layer has 3 channels but the shape has 4"),
        (.elementCountMismatch(argument: "input", expected: 24, actual: 23),
         "input has 23 elements but the shape needs 24"),
        (.parameterLengthMismatch(argument: "gamma", expected: 5, actual: 2),
         "gamma has length 2 but there are 5 channels"),
        (.singleValuePerChannel(shape: [1, 6]),
         "shape [1, 6] gives one value per channel; training statistics need more than one"),
        (.tooFewValuesPerChannel(count: 1),
         "the statistics run over 1 value per channel; training statistics need more than one"),
        (.tooFewValuesPerChannel(count: 0),
         "the statistics run over 0 values per channel; training statistics need more than one"),
        (.invalidValueCount(-5), "value count -5 is invalid; it must be at least 0"),
        (.invalidEpsilon(-0.5), "epsilon -0.5 is invalid; it must be finite and greater than 0"),
        (.invalidMomentum(1.5), "momentum 1.5 is invalid; it must lie in [0, 1] (or be nil for a cumulative average)"),
        (.runningStatisticsNotTracked,
         "the layer tracks no running statistics; use the training backward with the batch statistics"),
        (.channelCountTooLarge(count: 1 << 40, maximum: 123_456),
         "channel count 1099511627776 is too large; at most 123456 channels fit in this machine's memory"),
        (.invalidBatchCount(-3), "numBatchesTracked -3 is invalid; it must be at least 0"),
        (.valueCountOverflow(7, Int.max), "value counts 7 and 9223372036854775807 add up to more than Int can count"),
        (.invalidGroupSize(0), "group size 0 is invalid; it must be at least 1"),
        (.channelsNotDivisibleIntoGroups(channelCount: 10, groupSize: 4),
         "10 channels do not split into groups of 4; the group size must divide the channel count"),
        (.invalidIterationCount(0), "iteration count 0 is invalid; it must lie in [1, 1000]"),
        (.whiteningLengthMismatch(argument: "runningWhitening", expected: 32, actual: 30),
         "runningWhitening has length 30 but the groups need 32 values ([C/G, G, G])"),
        (.whiteningSizeUnsupported(shape: [1, 8, 1 << 31]),
         "shape [1, 8, 2147483648] has more than 2147483647 spatial positions or channels; group whitening needs its row stride within a 32-bit BLAS leading dimension"),
        (.weightRankMismatch(layout: "out-in-kh-kw", shape: [8, 3, 3], expectedRank: 4),
         "weight shape [8, 3, 3] has rank 3 but layout out-in-kh-kw needs rank 4"),
    ]

    @Test("each message word for word", arguments: messages)
    func message(error: BatchNormError, expected: String) {
        #expect(error.description == expected)
    }

    /// The table above names every case: adding a case without its message fails to compile here.
    @Test("the table covers every case")
    func coverage() {
        let covered = Set(Self.messages.map { caseName($0.0) })
        let all: Set<String> = [
            "rankTooSmall", "emptyDimension", "sizeOverflow", "invalidChannelCount", "channelCountMismatch",
            "elementCountMismatch", "parameterLengthMismatch", "singleValuePerChannel", "tooFewValuesPerChannel",
            "invalidValueCount", "invalidEpsilon", "invalidMomentum", "runningStatisticsNotTracked",
            "channelCountTooLarge", "invalidBatchCount", "valueCountOverflow",
            "invalidGroupSize", "channelsNotDivisibleIntoGroups", "invalidIterationCount", "whiteningLengthMismatch",
            "whiteningSizeUnsupported",
            "weightRankMismatch",
        ]
        #expect(covered == all)
    }

    func caseName(_ error: BatchNormError) -> String {
        switch error {
        case .rankTooSmall: "rankTooSmall"
        case .emptyDimension: "emptyDimension"
        case .sizeOverflow: "sizeOverflow"
        case .invalidChannelCount: "invalidChannelCount"
        case .channelCountMismatch: "channelCountMismatch"
        case .elementCountMismatch: "elementCountMismatch"
        case .parameterLengthMismatch: "parameterLengthMismatch"
        case .singleValuePerChannel: "singleValuePerChannel"
        case .tooFewValuesPerChannel: "tooFewValuesPerChannel"
        case .invalidValueCount: "invalidValueCount"
        case .invalidEpsilon: "invalidEpsilon"
        case .invalidMomentum: "invalidMomentum"
        case .runningStatisticsNotTracked: "runningStatisticsNotTracked"
        case .channelCountTooLarge: "channelCountTooLarge"
        case .invalidBatchCount: "invalidBatchCount"
        case .valueCountOverflow: "valueCountOverflow"
        case .invalidGroupSize: "invalidGroupSize"
        case .channelsNotDivisibleIntoGroups: "channelsNotDivisibleIntoGroups"
        case .invalidIterationCount: "invalidIterationCount"
        case .whiteningLengthMismatch: "whiteningLengthMismatch"
        case .whiteningSizeUnsupported: "whiteningSizeUnsupported"
        case .weightRankMismatch: "weightRankMismatch"
        }
    }
}
