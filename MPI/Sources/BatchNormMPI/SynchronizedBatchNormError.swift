public import BatchNormKit

/// Why a synchronized batch-norm call failed. Every collective call either succeeds on every rank or
/// throws on every rank (each rank sees every rank's record of the exchange, so they all decide
/// alike): no rank is left waiting in a collective the others abandoned. When one of these is thrown,
/// no rank has written outputs or changed its layer.
public enum SynchronizedBatchNormError: Error, Sendable, Hashable, CustomStringConvertible {
    /// This rank's arguments were refused (by the checks of `BatchNorm`, or the statistics of the whole
    /// batch were refused, e.g. one value per channel, which then happens on every rank).
    case refused(BatchNormError)
    /// Other ranks' arguments were refused (those ranks throw ``refused(_:)``); this rank's call was
    /// abandoned with theirs.
    case refusedOnOtherRanks(ranks: [Int])
    /// The layers of the ranks have different channel counts (one entry per rank).
    case channelCountMismatch(channelCounts: [Int])
    /// The layers of the ranks have different element types (one entry per rank, e.g. `Float`).
    case scalarTypeMismatch(scalarTypes: [String])
    /// The layers of the ranks differ in a hyperparameter (`epsilon`, `momentum`, `affine` or
    /// `tracksRunningStatistics`; one value per rank), which would make their running statistics
    /// or outputs drift apart.
    case configurationMismatch(parameter: String, values: [String])
    /// The ranks entered different collective operations at the same time (one entry per rank, e.g.
    /// one in a forward and another in a backward pass): a program-order mistake.
    case operationMismatch(operations: [String])
    /// A rank's record of the exchange did not decode (e.g. a negative count).
    case malformedRecord(rank: Int)
    /// The MPI call itself failed.
    case mpi(MPIError)

    public var description: String {
        switch self {
        case .refused(let error):
            "refused on this rank: \(error)"
        case .refusedOnOtherRanks(let ranks):
            "refused on rank\(ranks.count == 1 ? "" : "s") \(ranks.map(String.init).joined(separator: ", ")); the call was abandoned on every rank"
        case .channelCountMismatch(let channelCounts):
            "the ranks' layers have different channel counts (by rank: \(channelCounts))"
        case .scalarTypeMismatch(let scalarTypes):
            "the ranks' layers have different element types (by rank: \(scalarTypes.joined(separator: ", ")))"
        case .configurationMismatch(let parameter, let values):
            "the ranks' layers have different \(parameter) (by rank: \(values.joined(separator: ", ")))"
        case .operationMismatch(let operations):
            "the ranks called different collective operations (by rank: \(operations.joined(separator: ", ")))"
        case .malformedRecord(let rank):
            "rank \(rank) sent a record that does not decode"
        case .mpi(let error):
            error.description
        }
    }
}
