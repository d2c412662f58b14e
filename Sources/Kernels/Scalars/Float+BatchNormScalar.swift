internal import CBLAS

extension Float: BatchNormScalar {
    /// `cblas_s*` routines.
    @_spi(KernelRoutines) public static let blasRoutines = BLASRoutines<Float>(
        gemv: { transposed, rows, columns, alpha, matrix, leadingDimension, vector, vectorStride, beta, result in
            cblas_sgemv(
                CblasRowMajor, transposed ? CblasTrans : CblasNoTrans, rows, columns, alpha,
                matrix, leadingDimension, vector, vectorStride, beta, result, 1)
        },
        axpy: { count, alpha, source, sourceStride, target, targetStride in
            cblas_saxpy(count, alpha, source, sourceStride, target, targetStride)
        },
        copy: { count, source, target in cblas_scopy(count, source, 1, target, 1) },
        scal: { count, alpha, target in cblas_sscal(count, alpha, target, 1) },
        dot: { count, left, leftStride, right, rightStride in
            cblas_sdot(count, left, leftStride, right, rightStride)
        },
        diagonalMultiplyAdd: { count, diagonal, vector, result in
            cblas_ssbmv(CblasRowMajor, CblasUpper, count, 0, 1, diagonal, 1, vector, 1, 1, result, 1)
        },
        diagonalMultiplyInPlace: { count, diagonal, vector in
            cblas_stbmv(CblasRowMajor, CblasUpper, CblasNoTrans, CblasNonUnit, count, 0, diagonal, 1, vector, 1)
        }
    )
}
