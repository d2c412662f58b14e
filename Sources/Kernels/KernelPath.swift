/// Which implementation of a kernel runs.
package enum KernelPath: String, Sendable, CaseIterable {
    /// The composition of CBLAS calls (gemv against ones for sums; copy/axpy/scal/dot/sbmv/tbmv per
    /// contiguous piece for the elementwise steps).
    case blas
}
