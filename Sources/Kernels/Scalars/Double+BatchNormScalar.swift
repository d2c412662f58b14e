internal import CBLAS

extension Double: BatchNormScalar {
    /// `cblas_d*` routines.
    @_spi(KernelRoutines) public static let blasRoutines = BLASRoutines<Double>(
        gemv: { transposed, rows, columns, alpha, matrix, leadingDimension, vector, vectorStride, beta, result in
            cblas_dgemv(
                CblasRowMajor, transposed ? CblasTrans : CblasNoTrans, rows, columns, alpha,
                matrix, leadingDimension, vector, vectorStride, beta, result, 1)
        },
        axpy: { count, alpha, source, sourceStride, target, targetStride in
            cblas_daxpy(count, alpha, source, sourceStride, target, targetStride)
        },
        copy: { count, source, target in cblas_dcopy(count, source, 1, target, 1) },
        scal: { count, alpha, target in cblas_dscal(count, alpha, target, 1) },
        dot: { count, left, leftStride, right, rightStride in
            cblas_ddot(count, left, leftStride, right, rightStride)
        },
        diagonalMultiplyAdd: { count, diagonal, vector, result in
            cblas_dsbmv(CblasRowMajor, CblasUpper, count, 0, 1, diagonal, 1, vector, 1, 1, result, 1)
        },
        diagonalMultiplyInPlace: { count, diagonal, vector in
            cblas_dtbmv(CblasRowMajor, CblasUpper, CblasNoTrans, CblasNonUnit, count, 0, diagonal, 1, vector, 1)
        }
    )
}
