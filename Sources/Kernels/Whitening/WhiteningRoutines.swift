/// The level-3 CBLAS routines the group-whitening kernels run on the tensor-sized operands, for one
/// precision. Opaque outside the kernels, like ``BLASRoutines``: no public members, no public
/// initializer. Counts and leading dimensions are checked 32-bit CBLAS integers; matrices row-major.
@_spi(KernelRoutines) public struct WhiteningRoutines<Scalar>: Sendable {
    /// `c = alpha * op(a) * op(b) + beta * c` (`gemm`), `op` transposing when asked; `c` is
    /// `rows × columns`, the inner dimension `depth`.
    typealias MatrixMultiply = @Sendable (
        _ transposeA: Bool, _ transposeB: Bool, _ rows: Int32, _ columns: Int32, _ depth: Int32,
        _ alpha: Scalar, _ a: UnsafePointer<Scalar>, _ leadingDimensionA: Int32,
        _ b: UnsafePointer<Scalar>, _ leadingDimensionB: Int32,
        _ beta: Scalar, _ c: UnsafeMutablePointer<Scalar>, _ leadingDimensionC: Int32
    ) -> Void
    /// Upper triangle of `c = alpha * op(a) * op(a)ᵀ + beta * c` (`syrk`); `c` is `order × order`,
    /// `op(a)` is `order × depth` (`a` itself `depth × order` when `transposed`).
    typealias SymmetricRankUpdate = @Sendable (
        _ transposed: Bool, _ order: Int32, _ depth: Int32, _ alpha: Scalar,
        _ a: UnsafePointer<Scalar>, _ leadingDimensionA: Int32,
        _ beta: Scalar, _ c: UnsafeMutablePointer<Scalar>, _ leadingDimensionC: Int32
    ) -> Void

    let gemm: MatrixMultiply
    let syrk: SymmetricRankUpdate

    init(gemm: @escaping MatrixMultiply, syrk: @escaping SymmetricRankUpdate) {
        self.gemm = gemm
        self.syrk = syrk
    }
}
