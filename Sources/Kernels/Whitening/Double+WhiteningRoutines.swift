internal import CBLAS

extension Double {
    /// `cblas_dgemm`, `cblas_dsyrk`.
    @_spi(KernelRoutines) public static let whiteningRoutines = WhiteningRoutines<Double>(
        gemm: { transposeA, transposeB, rows, columns, depth, alpha, a, lda, b, ldb, beta, c, ldc in
            cblas_dgemm(
                CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                rows, columns, depth, alpha, a, lda, b, ldb, beta, c, ldc)
        },
        syrk: { transposed, order, depth, alpha, a, lda, beta, c, ldc in
            cblas_dsyrk(
                CblasRowMajor, CblasUpper, transposed ? CblasTrans : CblasNoTrans, order, depth, alpha, a, lda,
                beta, c, ldc)
        }
    )
}
