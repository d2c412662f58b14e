/// Why a call into Open MPI failed.
///
/// With Open MPI's default error handler (`MPI_ERRORS_ARE_FATAL`) a failing call aborts the whole job
/// before it returns; ``callFailed(function:code:message:)`` is seen only by programs that installed
/// `MPI_ERRORS_RETURN`.
public enum MPIError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An MPI function returned an error code.
    case callFailed(function: String, code: Int32, message: String)
    /// MPI is not initialized (or already finalized); see ``MPIRuntime/initialize()``.
    case notInitialized
    /// A message longer than MPI's `int` counts can describe.
    case countTooLarge(Int)
    /// `MPI_COMM_NULL` where a communicator was expected (this process is in no group of a split).
    case nullCommunicator

    public var description: String {
        switch self {
        case .callFailed(let function, let code, let message):
            "\(function) failed with error code \(code): \(message)"
        case .notInitialized:
            "MPI is not initialized; call MPIRuntime.initialize() first (and run under mpirun)"
        case .countTooLarge(let count):
            "a message of \(count) values is longer than MPI's 32-bit counts allow"
        case .nullCommunicator:
            "the communicator is MPI_COMM_NULL; this process belongs to no group of it"
        }
    }
}
