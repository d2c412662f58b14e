extension BLASRoutines where Scalar: BatchNormScalar {
    /// `vector *= alpha` with IEEE semantics for `alpha == 0`.
    ///
    /// OpenBLAS's `scal` writes zeros when `alpha == 0` instead of multiplying, which would turn a NaN
    /// or infinite input into 0. For that case the product goes through `tbmv` with a zero diagonal
    /// (`zeros`, at least `count` long, which callers allocate only when some alpha is 0).
    @inline(__always)
    func scaleInPlace(_ count: Int32, _ alpha: Scalar, _ vector: UnsafeMutablePointer<Scalar>,
                      zeros: UnsafePointer<Scalar>?) {
        if alpha == 0, let zeros {
            diagonalMultiplyInPlace(count, zeros, vector)
        } else {
            scal(count, alpha, vector)
        }
    }
}
