internal import CMPI

/// A group of MPI processes that run collective operations together: the whole job
/// (``world()``), or any communicator the program made itself (a split of the world, a data-parallel
/// group, ...) through ``init(borrowing:)``.
///
/// Borrowed, never owned: nothing here creates or frees an `MPI_Comm`. The program keeps the handle
/// valid (does not call `MPI_Comm_free` on it, and does not finalize MPI) while any value built on it
/// is in use; `MPI_COMM_WORLD` stays valid until ``MPIRuntime/finalize()``.
///
/// Every collective call must be made by every process of the group, in the same order (MPI's rule).
/// Different communicators are independent: groups that share no process may run their collectives
/// at the same time, and a process may belong to several groups as long as it calls each group's
/// collectives in an order the other members agree with.
public struct Communicator {
    /// The Open MPI `MPI_Comm` handle (`struct ompi_communicator_t *`), for the program's own MPI
    /// calls on the same group.
    public let handle: OpaquePointer
    /// This process's rank, in `0..<size`.
    public let rank: Int
    /// Number of processes.
    public let size: Int

    /// Every process of the job (`MPI_COMM_WORLD`).
    /// - Throws: `MPIError.notInitialized` before ``MPIRuntime/initialize()`` or after
    ///   ``MPIRuntime/finalize()``; `.callFailed` when MPI cannot tell the rank or size.
    public static func world() throws(MPIError) -> Communicator {
        guard MPIRuntime.isInitialized, let handle = bn_mpi_comm_world() else { throw .notInitialized }
        return try Communicator(borrowing: handle)
    }

    /// The program's own communicator: an Open MPI `MPI_Comm` it created (e.g. with `MPI_Comm_split`)
    /// and still owns. Reads this process's rank and the group's size.
    /// - Throws: `MPIError.notInitialized` when MPI is not initialized (or already finalized),
    ///   `.nullCommunicator` for `MPI_COMM_NULL` (what `MPI_Comm_split` gives a process that passed
    ///   `MPI_UNDEFINED`), `.callFailed` when MPI cannot tell the rank or size.
    public init(borrowing handle: OpaquePointer) throws(MPIError) {
        guard MPIRuntime.isInitialized else { throw .notInitialized }
        guard handle != bn_mpi_comm_null() else { throw .nullCommunicator }
        var rank: Int32 = 0
        var size: Int32 = 0
        try MPIRuntime.check(MPI_Comm_rank(handle, &rank), "MPI_Comm_rank")
        try MPIRuntime.check(MPI_Comm_size(handle, &size), "MPI_Comm_size")
        self.handle = handle
        self.rank = Int(rank)
        self.size = Int(size)
    }

    /// Waits until every process has called it (`MPI_Barrier`). Collective.
    public func barrier() throws(MPIError) {
        try MPIRuntime.check(MPI_Barrier(handle), "MPI_Barrier")
    }

    /// Every process's `record`, in rank order (`MPI_Allgather` of `MPI_DOUBLE`). Collective; every
    /// process must pass a record of the same length (MPI's rule: different lengths are undefined
    /// behaviour, which is why the synchronized layer exchanges fixed-length records). A program can
    /// use it to compare results across ranks without writing C.
    /// - Returns: `size` records; entry `r` is what rank `r` passed (this rank's own at `rank`).
    /// - Throws: `MPIError` when the call fails or the records are too long for MPI's counts.
    public func allGather(_ record: [Double]) throws(MPIError) -> [[Double]] {
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
