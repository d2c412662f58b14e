extension BLASRoutines where Scalar: BatchNormScalar {
    /// `vector *= alpha` with IEEE semantics for every `alpha`.
    ///
    /// OpenBLAS 0.3.21's `sscal` writes zeros when `alpha` is 0 *or NaN* instead of multiplying (so a
    /// NaN scale or a NaN input would come out as 0). For `alpha == 0` or a non-finite `alpha` the
    /// product goes through `tbmv` with a diagonal filled with `alpha` (`diagonalScratch`, at least
    /// `count` long; callers allocate it only when ``needsDiagonalScale(_:)`` holds for some alpha).
    @inline(__always)
    func scaleInPlace(_ count: Int32, _ alpha: Scalar, _ vector: UnsafeMutablePointer<Scalar>,
                      diagonalScratch: UnsafeMutablePointer<Scalar>?) {
        if Self.needsDiagonalScale(alpha), let diagonalScratch {
            diagonalScratch.update(repeating: alpha, count: Int(count))
            diagonalMultiplyInPlace(count, diagonalScratch, vector)
        } else {
            scal(count, alpha, vector)
        }
    }

    /// Whether `scal` cannot be trusted with `alpha` (see ``scaleInPlace(_:_:_:diagonalScratch:)``).
    @inline(__always)
    static func needsDiagonalScale(_ alpha: Scalar) -> Bool { alpha == 0 || !alpha.isFinite }

    /// Scratch for ``scaleInPlace(_:_:_:diagonalScratch:)``: `pieceLength` long when some of `alphas`
    /// needs it, empty otherwise.
    static func diagonalScratch(for alphas: [Scalar], pieceLength: Int) -> [Scalar] {
        [Scalar](repeating: 0, count: alphas.contains(where: needsDiagonalScale) ? pieceLength : 0)
    }

    /// `target += alpha * source` with IEEE semantics for `alpha == 0` (OpenBLAS's `axpy` returns
    /// early then, so a NaN or infinite `source` would not reach `target`): through `sbmv` with a zero
    /// diagonal in that case.
    @inline(__always)
    func addScaled(_ count: Int32, _ alpha: Scalar, _ source: UnsafePointer<Scalar>,
                   _ target: UnsafeMutablePointer<Scalar>, diagonalScratch: UnsafeMutablePointer<Scalar>?) {
        if alpha == 0, let diagonalScratch {
            diagonalScratch.update(repeating: 0, count: Int(count))
            diagonalMultiplyAdd(count, diagonalScratch, source, target)
        } else {
            axpy(count, alpha, source, 1, target, 1)
        }
    }

    /// `target = source - center - residual` for a piece of one channel (`ones` at least `count` long).
    /// The residual is the low part of a mean carried in two words; `x - high` is exact when `x` is
    /// near the mean, so the centered value is as accurate as one rounding allows.
    @inline(__always)
    func copyCentered(_ count: Int32, _ source: UnsafePointer<Scalar>, _ target: UnsafeMutablePointer<Scalar>,
                      center: Scalar, residual: Scalar, ones: UnsafePointer<Scalar>) {
        copy(count, source, target)
        axpy(count, -center, ones, 1, target, 1)
        if residual != 0 { axpy(count, -residual, ones, 1, target, 1) }
    }

    /// `target[k] = source[k] - center[k] - residual[k]` for a piece of consecutive channels.
    @inline(__always)
    func copyCentered(_ count: Int32, _ source: UnsafePointer<Scalar>, _ target: UnsafeMutablePointer<Scalar>,
                      center: UnsafePointer<Scalar>, residual: UnsafePointer<Scalar>?) {
        copy(count, source, target)
        axpy(count, -1, center, 1, target, 1)
        if let residual { axpy(count, -1, residual, 1, target, 1) }
    }
}
