internal import CBLAS
internal import LAPACKE

/// A small dense `size × size` matrix of `Double`, row-major: the per-group covariance, whitening
/// matrix and their gradients. Its arithmetic runs in `Double` whatever the tensor's precision: it is
/// `O(G³)` against the `O(G²·M)` tensor work, and `Double` keeps a Float covariance's small eigenvalues
/// from being swamped by the solver's own rounding.
package struct SquareMatrix: Sendable, Hashable {
    package let size: Int
    /// `values[row * size + column]`.
    package var values: [Double]

    package init(size: Int, values: [Double]) {
        precondition(values.count == size * size, "internal error: \(values.count) values for a \(size)×\(size) matrix")
        self.size = size
        self.values = values
    }

    package static func zero(size: Int) -> SquareMatrix {
        SquareMatrix(size: size, values: .init(repeating: 0, count: size * size))
    }

    package static func identity(size: Int, scale: Double = 1) -> SquareMatrix {
        var matrix = zero(size: size)
        for index in 0..<size { matrix[index, index] = scale }
        return matrix
    }

    package subscript(row: Int, column: Int) -> Double {
        get { values[row * size + column] }
        set { values[row * size + column] = newValue }
    }

    package var transposed: SquareMatrix {
        var result = self
        for row in 0..<size { for column in 0..<size { result[row, column] = self[column, row] } }
        return result
    }

    /// `(self + selfᵀ) / 2`.
    package var symmetricPart: SquareMatrix {
        var result = self
        for row in 0..<size {
            for column in 0..<size { result[row, column] = 0.5 * (self[row, column] + self[column, row]) }
        }
        return result
    }

    package var trace: Double { (0..<size).reduce(0) { $0 + self[$1, $1] } }

    /// `Σ_ij self_ij · other_ij`.
    package func innerProduct(_ other: SquareMatrix) -> Double {
        zip(values, other.values).reduce(0) { $0 + $1.0 * $1.1 }
    }

    /// `alpha · op(self) · op(other)` (`dgemm`).
    package func multiplied(
        by other: SquareMatrix, transposingSelf: Bool = false, transposingOther: Bool = false, alpha: Double = 1
    ) -> SquareMatrix {
        precondition(size == other.size)
        var result = SquareMatrix.zero(size: size)
        guard size > 0 else { return result }
        let order = BLASCount.checked(size)
        values.withUnsafeBufferPointer { left in
            other.values.withUnsafeBufferPointer { right in
                result.values.withUnsafeMutableBufferPointer { output in
                    guard let leftBase = left.baseAddress, let rightBase = right.baseAddress,
                          let outputBase = output.baseAddress else { return }
                    cblas_dgemm(
                        CblasRowMajor, transposingSelf ? CblasTrans : CblasNoTrans,
                        transposingOther ? CblasTrans : CblasNoTrans, order, order, order, alpha,
                        leftBase, order, rightBase, order, 0, outputBase, order)
                }
            }
        }
        return result
    }

    package static func * (left: SquareMatrix, right: SquareMatrix) -> SquareMatrix { left.multiplied(by: right) }

    package static func + (left: SquareMatrix, right: SquareMatrix) -> SquareMatrix {
        SquareMatrix(size: left.size, values: zip(left.values, right.values).map { $0 + $1 })
    }

    package static func - (left: SquareMatrix, right: SquareMatrix) -> SquareMatrix {
        SquareMatrix(size: left.size, values: zip(left.values, right.values).map { $0 - $1 })
    }

    package static func * (scale: Double, matrix: SquareMatrix) -> SquareMatrix {
        SquareMatrix(size: matrix.size, values: matrix.values.map { scale * $0 })
    }

    /// `self · diag(diagonal)`: column `j` scaled by `diagonal[j]`.
    package func scalingColumns(by diagonal: [Double]) -> SquareMatrix {
        var result = self
        for row in 0..<size { for column in 0..<size { result[row, column] *= diagonal[column] } }
        return result
    }

    /// `diag(diagonal) · self`: row `i` scaled by `diagonal[i]`.
    package func scalingRows(by diagonal: [Double]) -> SquareMatrix {
        var result = self
        for row in 0..<size { for column in 0..<size { result[row, column] *= diagonal[row] } }
        return result
    }

    /// Eigenvalues (ascending) and orthonormal eigenvectors (the columns of `vectors`) of the symmetric
    /// matrix whose upper triangle `self` holds, by `LAPACKE_dsyevd`. `nil` if LAPACK reports failure
    /// (no convergence, or a NaN in the input).
    package func symmetricEigendecomposition() -> (values: [Double], vectors: SquareMatrix)? {
        guard size > 0 else { return ([], self) }
        var vectors = self
        var eigenvalues = [Double](repeating: 0, count: size)
        let order = BLASCount.checked(size)  // lapack_int is int32_t in Debian's LP64 LAPACKE
        let status = vectors.values.withUnsafeMutableBufferPointer { matrix in
            eigenvalues.withUnsafeMutableBufferPointer { lambda -> Int32 in
                guard let matrixBase = matrix.baseAddress, let lambdaBase = lambda.baseAddress else { return -1 }
                return LAPACKE_dsyevd(
                    LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "U")), order,
                    matrixBase, order, lambdaBase)
            }
        }
        guard status == 0 else { return nil }
        return (eigenvalues, vectors)
    }
}
