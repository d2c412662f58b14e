import BatchNormKit

/// The small 4-D shapes the nasty-data suites use, one per way the fused kernels walk a tensor:
/// channels-first runs of 72 values (the run loops), channels-first runs of 35 (read as rows of samples,
/// `Fused.RowGrouping`), channels-last rows, and channels-last rows few enough (40) that the moments' first
/// rows are all of them (`Float` channels then take their variance from one read's sums about +0 or their
/// first value where those suit them, `Fused.shiftedSums(fromCenteredSums:squares:centers:shift:count:)`). (The two channels-first shapes
/// also differ in their values per channel, 432 and 210, which changes the summation error: a plain sum
/// in the scaled moments passed `OverflowTests` at 210 and failed at 432.)
enum TensorWalk: CaseIterable, Sendable, CustomStringConvertible {
    case channelsFirstRuns, channelsFirstRows, channelsLast, fewRows

    /// 3 channels; 6 samples of 72 (runs) or 35 (rows) channels-first values, or 35 channels-last rows each;
    /// few rows: 2 samples of 20 channels-last rows.
    var shape: TensorShape {
        let dimensions: [Int], layout: TensorLayout
        switch self {
        case .channelsFirstRuns: (dimensions, layout) = ([6, 3, 8, 9], .channelsFirst)
        case .channelsFirstRows: (dimensions, layout) = ([6, 3, 5, 7], .channelsFirst)
        case .channelsLast: (dimensions, layout) = ([6, 5, 7, 3], .channelsLast)
        case .fewRows: (dimensions, layout) = ([2, 4, 5, 3], .channelsLast)
        }
        // Valid by construction.
        return (try? TensorShape(dimensions, layout: layout)) ?? { preconditionFailure("invalid test shape") }()
    }

    var description: String {
        switch self {
        case .channelsFirstRuns: "channels-first runs"
        case .channelsFirstRows: "channels-first rows"
        case .channelsLast: "channels-last"
        case .fewRows: "channels-last, few rows"
        }
    }
}
