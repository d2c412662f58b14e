/// The element types the batch-norm kernels are implemented for: `Float` and `Double`.
///
/// The protocol is sealed: its requirements return CBLAS routine tables whose initializers are internal
/// to this module, so no type outside the package can conform. The requirements and their types are
/// SPI (`@_spi(KernelRoutines)`): a client of `BatchNormKit` sees the protocol only, as a generic
/// constraint (`BatchNorm<Float>`, `BatchNorm<Double>`).
public protocol BatchNormScalar: BinaryFloatingPoint, SIMDScalar, Sendable {
    /// The CBLAS routines for this precision (`cblas_s*` for `Float`, `cblas_d*` for `Double`).
    @_spi(KernelRoutines) static var blasRoutines: BLASRoutines<Self> { get }
    /// The level-3 routines of group whitening (`cblas_?gemm`, `cblas_?syrk`).
    @_spi(KernelRoutines) static var whiteningRoutines: WhiteningRoutines<Self> { get }
}

/// The CBLAS routines one precision maps to. Opaque outside the kernels: it has no public members and
/// no public initializer, which is what keeps ``BatchNormScalar`` sealed.
///
/// All counts, strides and leading dimensions are already-checked 32-bit CBLAS integers; see
/// `BLASCount`. Matrices are row-major.
@_spi(KernelRoutines) public struct BLASRoutines<Scalar>: Sendable {
    /// `result = alpha * op(matrix) * vector + beta * result`, `op` transposing when asked.
    typealias MatrixVector = @Sendable (
        _ transposed: Bool, _ rows: Int32, _ columns: Int32, _ alpha: Scalar,
        _ matrix: UnsafePointer<Scalar>, _ leadingDimension: Int32,
        _ vector: UnsafePointer<Scalar>, _ vectorStride: Int32,
        _ beta: Scalar, _ result: UnsafeMutablePointer<Scalar>
    ) -> Void
    /// `target = alpha * source + target` (`axpy`).
    typealias ScaledAdd = @Sendable (
        _ count: Int32, _ alpha: Scalar, _ source: UnsafePointer<Scalar>, _ sourceStride: Int32,
        _ target: UnsafeMutablePointer<Scalar>, _ targetStride: Int32
    ) -> Void
    /// `target = source` (`copy`).
    typealias Copy = @Sendable (
        _ count: Int32, _ source: UnsafePointer<Scalar>, _ target: UnsafeMutablePointer<Scalar>
    ) -> Void
    /// `target = alpha * target` (`scal`).
    typealias Scale = @Sendable (_ count: Int32, _ alpha: Scalar, _ target: UnsafeMutablePointer<Scalar>) -> Void
    /// `sum(left[i] * right[i])` (`dot`).
    typealias Dot = @Sendable (
        _ count: Int32, _ left: UnsafePointer<Scalar>, _ leftStride: Int32,
        _ right: UnsafePointer<Scalar>, _ rightStride: Int32
    ) -> Scalar
    /// `result = diagonal ⊙ vector + result`: `sbmv` with bandwidth 0 and alpha = beta = 1.
    typealias DiagonalMultiplyAdd = @Sendable (
        _ count: Int32, _ diagonal: UnsafePointer<Scalar>, _ vector: UnsafePointer<Scalar>,
        _ result: UnsafeMutablePointer<Scalar>
    ) -> Void
    /// `vector = diagonal ⊙ vector` in place: `tbmv` with bandwidth 0.
    typealias DiagonalMultiplyInPlace = @Sendable (
        _ count: Int32, _ diagonal: UnsafePointer<Scalar>, _ vector: UnsafeMutablePointer<Scalar>
    ) -> Void

    let gemv: MatrixVector
    let axpy: ScaledAdd
    let copy: Copy
    let scal: Scale
    let dot: Dot
    let diagonalMultiplyAdd: DiagonalMultiplyAdd
    let diagonalMultiplyInPlace: DiagonalMultiplyInPlace

    init(
        gemv: @escaping MatrixVector, axpy: @escaping ScaledAdd, copy: @escaping Copy,
        scal: @escaping Scale, dot: @escaping Dot,
        diagonalMultiplyAdd: @escaping DiagonalMultiplyAdd,
        diagonalMultiplyInPlace: @escaping DiagonalMultiplyInPlace
    ) {
        self.gemv = gemv
        self.axpy = axpy
        self.copy = copy
        self.scal = scal
        self.dot = dot
        self.diagonalMultiplyAdd = diagonalMultiplyAdd
        self.diagonalMultiplyInPlace = diagonalMultiplyInPlace
    }
}
