internal import CMPI

/// A group of MPI processes that run collective operations together: for now the whole job,
/// `MPI_COMM_WORLD`. Borrowed, not owned: the handle stays valid until ``MPIRuntime/finalize()``, and
/// nothing here frees it.
///
/// Every collective call must be made by every process of the group, in the same order (MPI's rule).
public struct Communicator {
    /// The `MPI_Comm` handle.
    let handle: OpaquePointer
    /// This process's rank, in `0..<size`.
    public let rank: Int
    /// Number of processes.
    public let size: Int

    /// Every process of the job (`MPI_COMM_WORLD`).
    /// - Throws: `MPIError.notInitialized` before ``MPIRuntime/initialize()`` or after
    ///   ``MPIRuntime/finalize()``; `.callFailed` when MPI cannot tell the rank or size.
    public static func world() throws(MPIError) -> Communicator {
        guard MPIRuntime.isInitialized, let handle = bn_mpi_comm_world() else { throw .notInitialized }
        var rank: Int32 = 0
        var size: Int32 = 0
        try MPIRuntime.check(MPI_Comm_rank(handle, &rank), "MPI_Comm_rank")
        try MPIRuntime.check(MPI_Comm_size(handle, &size), "MPI_Comm_size")
        return Communicator(handle: handle, rank: Int(rank), size: Int(size))
    }

    /// Waits until every process has called it (`MPI_Barrier`). Collective.
    public func barrier() throws(MPIError) {
        try MPIRuntime.check(MPI_Barrier(handle), "MPI_Barrier")
    }

    /// Every process's `record`, in rank order (`MPI_Allgather` of `MPI_DOUBLE`). Collective; every
    /// process must pass a record of the same length (MPI's rule: different lengths are undefined
    /// behaviour, which is why callers exchange fixed-length records).
    /// - Returns: `size` records; entry `r` is what rank `r` passed (this rank's own at `rank`).
    /// - Throws: `MPIError` when the call fails or the records are too long for MPI's counts.
    package func allGather(_ record: [Double]) throws(MPIError) -> [[Double]] {
        let (total, overflow) = record.count.multipliedReportingOverflow(by: size)
        guard !overflow, let count = Int32(exactly: record.count), Int32(exactly: total) != nil else {
            throw .countTooLarge(record.count)
        }
        var gathered = [Double](repeating: 0, count: total)
        let code = record.withUnsafeBufferPointer { sendBuffer in
            gathered.withUnsafeMutableBufferPointer { receiveBuffer in
                MPI_Allgather(sendBuffer.baseAddress, count, bn_mpi_double(),
                              receiveBuffer.baseAddress, count, bn_mpi_double(), handle)
            }
        }
        try MPIRuntime.check(code, "MPI_Allgather")
        return (0..<size).map { rank in Array(gathered[(rank * record.count)..<((rank + 1) * record.count)]) }
    }
}
