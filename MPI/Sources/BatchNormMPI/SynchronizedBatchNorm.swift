public import BatchNormKit

/// Batch normalization over a batch spread across the processes of an MPI job (PyTorch's
/// `SyncBatchNorm`, on CPUs): every process holds some samples and its own copy of the layer; the
/// training passes normalize with the statistics of the whole batch and give every process the
/// gradients of the whole batch, as one process over the concatenated batch would
/// ([Ioffe & Szegedy 2015](https://arxiv.org/abs/1502.03167)).
///
/// ```
/// forward:   local statistics (count, mean, M2)      → one MPI_Allgather → merge in rank order (Chan)
///            y = (x - mean_G) / sqrt(var_G + eps) * gamma + beta        running: unbiased var_G
/// backward:  local Σ dy, Σ dy·(x - mean_G)           → one MPI_Allgather → add in rank order
///            dx = γ·invstd/M_G · (M_G·dy - dβ - x̂·dγ)                     (local)
/// inference: local, no communication
/// ```
/// Every rank merges the same records in the same order, so all ranks normalize with bit-identical
/// statistics and keep bit-identical running statistics. Local batch sizes may differ; a rank may
/// hold no samples at all (``forwardTrainingWithoutLocalSamples()``) as long as the whole batch has
/// more than one value per channel.
///
/// The training calls are collective: every rank of the communicator makes the same sequence of
/// calls. A call refused on any rank throws on every rank (see ``SynchronizedBatchNormError``).
///
/// Not `Sendable`: MPI is used from one thread at a time.
public struct SynchronizedBatchNorm<Scalar: BatchNormScalar> {
    /// The local copy of the layer: parameters, running statistics, hyperparameters. Change its
    /// parameters on every rank alike (e.g. after all-reducing their gradients).
    public var layer: BatchNorm<Scalar>
    /// The processes that share the batch.
    public let communicator: Communicator
    /// The channel count agreed by every rank when the layer was built; it fixes the length of the
    /// records every exchange sends.
    public let channelCount: Int

    /// Wraps `layer` for the processes of `communicator`, after checking — collectively — that every
    /// rank's layer has the same channel count, element type and hyperparameters (one
    /// `MPI_Allgather`). Running statistics and parameters are not compared: start every rank from the
    /// same layer.
    /// - Throws: on every rank alike: `.channelCountMismatch`, `.scalarTypeMismatch`,
    ///   `.configurationMismatch`, `.operationMismatch`, or `.mpi` when the exchange fails.
    public init(_ layer: BatchNorm<Scalar>, communicator: Communicator) throws(SynchronizedBatchNormError) {
        try Self.handshake(layer, communicator: communicator)
        self.layer = layer
        self.communicator = communicator
        self.channelCount = layer.channelCount
    }

    // MARK: - Handshake

    /// The handshake payload: `[epsilon, momentum (-1 for nil), affine, tracksRunningStatistics]`.
    private static func handshake(
        _ layer: BatchNorm<Scalar>, communicator: Communicator
    ) throws(SynchronizedBatchNormError) {
        let momentum: Double = layer.momentum.map { Double($0) } ?? -1
        let payload: [Double] = [Double(layer.epsilon), momentum, layer.affine ? 1 : 0,
                                 layer.tracksRunningStatistics ? 1 : 0]
        let record = ExchangeRecord(
            operation: .handshake, accepted: true, count: 0, channelCount: layer.channelCount,
            scalarByteCount: MemoryLayout<Scalar>.size, payload: payload)
        let records = try exchange(record, communicator: communicator)
        let parameters: [(name: String, describe: (Double) -> String)] = [
            ("epsilon", { "\($0)" }),
            ("momentum", { $0 < 0 ? "nil" : "\($0)" }),
            ("affine", { $0 == 1 ? "true" : "false" }),
            ("tracksRunningStatistics", { $0 == 1 ? "true" : "false" }),
        ]
        for (index, parameter) in parameters.enumerated() {
            let values = records.map { $0.payload[index] }
            guard values.allSatisfy({ $0 == values[0] }) else {
                throw .configurationMismatch(parameter: parameter.name, values: values.map(parameter.describe))
            }
        }
    }

    // MARK: - Exchange

    /// Sends `record` to every rank and returns every rank's record in rank order, after the checks
    /// every rank makes alike: same operation, channel count and element type everywhere. Refusals
    /// are left to the caller (they need this rank's own error).
    static func exchange(
        _ record: ExchangeRecord, communicator: Communicator
    ) throws(SynchronizedBatchNormError) -> [ExchangeRecord] {
        let gathered: [[Double]]
        do {
            gathered = try communicator.allGather(record.encoded)
        } catch {
            throw .mpi(error)
        }
        var records = [ExchangeRecord]()
        for (rank, values) in gathered.enumerated() {
            guard let decoded = ExchangeRecord(decoding: values, payloadLength: record.payload.count) else {
                throw .malformedRecord(rank: rank)
            }
            records.append(decoded)
        }
        guard records.allSatisfy({ $0.operation == record.operation }) else {
            throw .operationMismatch(operations: records.map(\.operation.description))
        }
        guard records.allSatisfy({ $0.channelCount == record.channelCount }) else {
            throw .channelCountMismatch(channelCounts: records.map(\.channelCount))
        }
        guard records.allSatisfy({ $0.scalarByteCount == record.scalarByteCount }) else {
            throw .scalarTypeMismatch(scalarTypes: records.map { ExchangeRecord.scalarName(byteCount: $0.scalarByteCount) })
        }
        return records
    }
}
