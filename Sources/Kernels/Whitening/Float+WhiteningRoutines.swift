internal import CBLAS

extension Float {
    /// `cblas_sgemm`, `cblas_ssyrk`.
    @_spi(KernelRoutines) public static let whiteningRoutines = WhiteningRoutines<Float>(
        gemm: { transposeA, transposeB, rows, columns, depth, alpha, a, lda, b, ldb, beta, c, ldc in
            cblas_sgemm(
                CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                rows, columns, depth, alpha, a, lda, b, ldb, beta, c, ldc)
        },
        syrk: { transposed, order, depth, alpha, a, lda, beta, c, ldc in
            cblas_ssyrk(
                CblasRowMajor, CblasUpper, transposed ? CblasTrans : CblasNoTrans, order, depth, alpha, a, lda,
                beta, c, ldc)
        }
    )
}
