internal import CBLAS

/// OpenBLAS's thread pool. `OPENBLAS_NUM_THREADS` sets it at start-up; benchmarks pin it here too.
package enum BLASThreading {
    /// Threads OpenBLAS may use for one call.
    package static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// Sets the OpenBLAS thread count (at least 1).
    package static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(clamping: max(1, count)))
    }

    /// OpenBLAS's build configuration and the core it selected, e.g. "OpenBLAS 0.3.21 ... Cooperlake".
    package static var configuration: String {
        let config = openblas_get_config().map { String(cString: $0) } ?? "?"
        let core = openblas_get_corename().map { String(cString: $0) } ?? "?"
        return "\(config) | core \(core)"
    }
}
