public import BatchNormKit

/// The two collectives of the training passes, public so that a training loop can compose (or time)
/// the steps itself: `layer.partialStatistics` → ``allGatherStatistics(_:)`` →
/// `layer.forwardTraining(_:shape:globalStatistics:into:)`, and `layer.backwardSums` →
/// ``allReduceGradientSums(_:)`` → `layer.backward(...globalSums:globalCount:...)`.
extension SynchronizedBatchNorm {
    /// The statistics of the whole batch: every rank's part, merged in rank order with Chan's formula
    /// (one `MPI_Allgather` of `5 + 3·channelCount` doubles per rank). Bit-identical on every rank.
    /// Collective.
    /// - Parameter local: this rank's `layer.partialStatistics(...)`, or
    ///   `PartialStatistics.empty(channelCount:)` for a rank without samples.
    /// - Throws: on every rank alike when any rank's `local` has the wrong channel count
    ///   (`.refused` there, `.refusedOnOtherRanks` elsewhere), or for the reasons of
    ///   ``SynchronizedBatchNormError``.
    public func allGatherStatistics(
        _ local: PartialStatistics<Scalar>
    ) throws(SynchronizedBatchNormError) -> PartialStatistics<Scalar> {
        guard local.channelCount == channelCount else {
            return try mergedStatistics(.failure(.parameterLengthMismatch(
                argument: "local.mean", expected: channelCount, actual: local.channelCount)))
        }
        return try mergedStatistics(.success(local))
    }

    /// The backward sums of the whole batch: every rank's part, added in rank order (one
    /// `MPI_Allgather` of `5 + 3·channelCount` doubles per rank). Bit-identical on every rank.
    /// Collective.
    /// - Parameter local: this rank's `layer.backwardSums(...)`, or `GradientSums.zero(channelCount:)`
    ///   for a rank without samples.
    /// - Throws: as ``allGatherStatistics(_:)``.
    public func allReduceGradientSums(
        _ local: GradientSums<Scalar>
    ) throws(SynchronizedBatchNormError) -> GradientSums<Scalar> {
        guard local.channelCount == channelCount else {
            return try summedGradientSums(.failure(.parameterLengthMismatch(
                argument: "local.sumGradient", expected: channelCount, actual: local.channelCount)))
        }
        return try summedGradientSums(.success(local))
    }

    // MARK: - Records

    /// Every exchange of the training passes sends `3 · channelCount` payload values.
    var payloadLength: Int { 3 * channelCount }

    /// Exchanges `local` (payload `[mean, meanLow, M2]`) or this rank's refusal, then merges.
    func mergedStatistics(
        _ local: Result<PartialStatistics<Scalar>, BatchNormError>
    ) throws(SynchronizedBatchNormError) -> PartialStatistics<Scalar> {
        let records = try exchange(.statistics, local: local.map { statistics in
            (statistics.count, statistics.mean + statistics.meanLow + statistics.sumOfSquaredDeviations)
        })
        var merged = try decoded(rank: communicator.rank) { () throws(BatchNormError) in
            try PartialStatistics<Scalar>.empty(channelCount: channelCount)
        }
        for (rank, record) in records.enumerated() {
            let values = record.payload.map { Scalar($0) }
            merged = try decoded(rank: rank) { () throws(BatchNormError) in
                try merged.merged(with: PartialStatistics(
                    count: record.count, mean: Array(values[0..<channelCount]),
                    meanLow: Array(values[channelCount..<(2 * channelCount)]),
                    sumOfSquaredDeviations: Array(values[(2 * channelCount)...])))
            }
        }
        return merged
    }

    /// Exchanges `local` (payload `[Σ dy, Σ dy·(x - mean), zeros]`) or this rank's refusal, then adds.
    func summedGradientSums(
        _ local: Result<GradientSums<Scalar>, BatchNormError>
    ) throws(SynchronizedBatchNormError) -> GradientSums<Scalar> {
        let padding = [Scalar](repeating: 0, count: channelCount)
        let records = try exchange(.gradientSums, local: local.map { sums in
            (0, sums.sumGradient + sums.sumGradientTimesCentered + padding)
        })
        var sum = try decoded(rank: communicator.rank) { () throws(BatchNormError) in
            try GradientSums<Scalar>.zero(channelCount: channelCount)
        }
        for (rank, record) in records.enumerated() {
            let values = record.payload.map { Scalar($0) }
            sum = try decoded(rank: rank) { () throws(BatchNormError) in
                try sum.adding(GradientSums(
                    sumGradient: Array(values[0..<channelCount]),
                    sumGradientTimesCentered: Array(values[channelCount..<(2 * channelCount)])))
            }
        }
        return sum
    }

    /// One exchange of this layer's fixed-length records: this rank's `(count, payload)` or its
    /// refusal out, every rank's accepted record in. Throws on every rank alike when any rank refused.
    private func exchange(
        _ operation: ExchangeRecord.Operation, local: Result<(count: Int, payload: [Scalar]), BatchNormError>
    ) throws(SynchronizedBatchNormError) -> [ExchangeRecord] {
        var record = ExchangeRecord(
            operation: operation, accepted: false, count: 0, channelCount: channelCount,
            scalarByteCount: MemoryLayout<Scalar>.size, payload: [Double](repeating: 0, count: payloadLength))
        if case .success(let contribution) = local {
            assert(contribution.payload.count == payloadLength)
            record.accepted = true
            record.count = contribution.count
            record.payload = contribution.payload.map(Double.init)
        }
        let records = try Self.exchange(record, communicator: communicator)
        if case .failure(let error) = local { throw .refused(error) }
        let refusedRanks = records.indices.filter { !records[$0].accepted }
        guard refusedRanks.isEmpty else { throw .refusedOnOtherRanks(ranks: refusedRanks) }
        return records
    }

    /// Runs `body`, which rebuilds values from `rank`'s record after the exchange's checks; a refusal
    /// there means the record did not describe valid statistics (the same on every rank).
    private func decoded<Value>(
        rank: Int, _ body: () throws(BatchNormError) -> Value
    ) throws(SynchronizedBatchNormError) -> Value {
        do {
            return try body()
        } catch {
            throw .malformedRecord(rank: rank)
        }
    }
}
