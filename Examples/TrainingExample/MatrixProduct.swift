import BatchNormKit

internal import CBLAS
import Foundation

// The example's BLAS binding: the only file of the example that imports CBLAS or touches a pointer.
// A real program brings its own BLAS binding as well: matrix products are not batch norm's business,
// so BatchNormKit exports none, and the example binds `cblas_sgemm`/`cblas_dgemm` itself.

/// The element types the example network runs in: `Float` for training, `Double` for the gradient
/// check. Sealed like ``BatchNormScalar``: ``MatrixProduct`` has no public initializer.
public protocol NetworkScalar: BatchNormScalar {
    /// `e^value`.
    static func exponential(_ value: Self) -> Self
    /// The matrix product for this precision (`cblas_sgemm` or `cblas_dgemm`).
    static var matrixProduct: MatrixProduct<Self> { get }
}

extension Float: NetworkScalar {
    public static func exponential(_ value: Float) -> Float { Foundation.exp(value) }
    public static let matrixProduct = MatrixProduct<Float>(gemm: cblas_sgemm)
}

extension Double: NetworkScalar {
    public static func exponential(_ value: Double) -> Double { Foundation.exp(value) }
    public static let matrixProduct = MatrixProduct<Double>(gemm: cblas_dgemm)
}

/// Row-major general matrix product on OpenBLAS: `c = a' · b' (+ c)`, where `a'` is `a` or its
/// transpose and likewise `b'`.
public struct MatrixProduct<Scalar>: Sendable {
    typealias GEMM = @Sendable (
        CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, Int32, Int32, Int32, Scalar,
        UnsafePointer<Scalar>?, Int32, UnsafePointer<Scalar>?, Int32, Scalar, UnsafeMutablePointer<Scalar>?, Int32
    ) -> Void
    let gemm: GEMM
}

/// How an operand enters a product.
enum Operand {
    case plain
    case transposed
}

extension MatrixProduct where Scalar: NetworkScalar {
    /// `c = op(a) · op(b)`, or `c += op(a) · op(b)` when `accumulate`; all row-major.
    ///
    /// - Parameters:
    ///   - a: `rows × inner` values (`inner × rows` when `.transposed`).
    ///   - b: `inner × columns` values (`columns × inner` when `.transposed`).
    ///   - c: `rows × columns` values; overwritten (or added to when `accumulate`).
    /// Sizes are the network's layer sizes, which ``NetworkConfiguration`` bounds far below `Int32.max`.
    func multiply(
        _ a: [Scalar], _ aOperand: Operand, _ b: [Scalar], _ bOperand: Operand,
        rows: Int, columns: Int, inner: Int, into c: inout [Scalar], accumulate: Bool = false
    ) {
        precondition(a.count == rows * inner && b.count == inner * columns && c.count == rows * columns,
                     "matrix product sizes: a \(a.count), b \(b.count), c \(c.count) for \(rows)x\(inner)x\(columns)")
        guard rows > 0, columns > 0 else { return }
        let leadingA = aOperand == .plain ? inner : rows
        let leadingB = bOperand == .plain ? columns : inner
        a.withUnsafeBufferPointer { aBuffer in
            b.withUnsafeBufferPointer { bBuffer in
                c.withUnsafeMutableBufferPointer { cBuffer in
                    gemm(
                        CblasRowMajor, aOperand.cblas, bOperand.cblas,
                        blasInt(rows), blasInt(columns), blasInt(inner), 1,
                        aBuffer.baseAddress, blasInt(max(1, leadingA)), bBuffer.baseAddress, blasInt(max(1, leadingB)),
                        accumulate ? 1 : 0, cBuffer.baseAddress, blasInt(columns))
                }
            }
        }
    }
}

/// Sets OpenBLAS's thread count (which also sets the threads of BatchNormKit's fused kernels).
public func setBLASThreadCount(_ count: Int) {
    openblas_set_num_threads(Int32(clamping: max(1, count)))
}

private func blasInt(_ value: Int) -> Int32 {
    precondition(value >= 0 && value <= Int(Int32.max), "matrix size \(value) exceeds CBLAS's Int32")
    return Int32(truncatingIfNeeded: value)
}

extension Operand {
    fileprivate var cblas: CBLAS_TRANSPOSE { self == .plain ? CblasNoTrans : CblasTrans }
}
