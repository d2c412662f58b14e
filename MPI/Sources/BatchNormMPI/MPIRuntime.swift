internal import CMPI

/// The process's MPI environment: `MPI_Init` and `MPI_Finalize`, each called at most once per process
/// (MPI's own rule). The program owns the environment: it initializes before building any
/// ``Communicator`` and finalizes after its last collective call, on every rank.
public enum MPIRuntime {
    /// Whether MPI is initialized and not yet finalized.
    public static var isInitialized: Bool {
        var initialized: Int32 = 0
        var finalized: Int32 = 0
        guard MPI_Initialized(&initialized) == bn_mpi_success(), MPI_Finalized(&finalized) == bn_mpi_success()
        else { return false }
        return initialized != 0 && finalized == 0
    }

    /// `MPI_Init` (single-threaded use: MPI is called from one thread at a time). Does nothing when MPI
    /// is already initialized.
    /// - Throws: `MPIError.callFailed` when `MPI_Init` fails, `.notInitialized` after `MPI_Finalize`.
    public static func initialize() throws(MPIError) {
        var initialized: Int32 = 0
        var finalized: Int32 = 0
        try check(MPI_Initialized(&initialized), "MPI_Initialized")
        try check(MPI_Finalized(&finalized), "MPI_Finalized")
        guard finalized == 0 else { throw .notInitialized }
        guard initialized == 0 else { return }
        try check(MPI_Init(nil, nil), "MPI_Init")
    }

    /// `MPI_Finalize`: a collective over every process of the job. No MPI call may follow.
    /// - Throws: `MPIError.notInitialized` when MPI is not initialized, `.callFailed` when
    ///   `MPI_Finalize` fails.
    public static func finalize() throws(MPIError) {
        guard isInitialized else { throw .notInitialized }
        try check(MPI_Finalize(), "MPI_Finalize")
    }

    /// Throws `MPIError.callFailed` (naming `function` and MPI's message) unless `code` is
    /// `MPI_SUCCESS`: for a program's own MPI calls, e.g. `MPI_Comm_split`.
    public static func checked(_ code: Int32, _ function: String) throws(MPIError) {
        try check(code, function)
    }

    /// Throws `MPIError.callFailed` with MPI's message unless `code` is `MPI_SUCCESS`.
    static func check(_ code: Int32, _ function: String) throws(MPIError) {
        guard code != bn_mpi_success() else { return }
        throw .callFailed(function: function, code: code, message: errorMessage(code))
    }

    /// MPI's description of an error code (`MPI_Error_string`).
    private static func errorMessage(_ code: Int32) -> String {
        var message = [CChar](repeating: 0, count: Int(bn_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        let status = message.withUnsafeMutableBufferPointer { buffer in
            MPI_Error_string(code, buffer.baseAddress, &length)
        }
        guard status == bn_mpi_success() else { return "unknown MPI error" }
        let bytes = message.prefix(max(0, min(Int(length), message.count))).map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
