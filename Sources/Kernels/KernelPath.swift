/// Which implementation of a kernel runs.
package enum KernelPath: String, Sendable, CaseIterable {
    /// The composition of CBLAS calls (gemv against ones for sums; copy/axpy/scal/dot/sbmv/tbmv per
    /// contiguous piece for the elementwise steps).
    case blas
    /// Swift SIMD loops that read the tensor as few times as the layout allows, on
    /// `OPENBLAS_NUM_THREADS` threads (see `FusedPasses`).
    case fused
}
