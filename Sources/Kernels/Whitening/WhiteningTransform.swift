/// The map from a group's covariance `Σ` (with `eps·I` already added) to its whitening matrix `Φ`, and
/// its backward: the gradient with respect to `Σ` of a loss whose gradient with respect to `Φ` is
/// given. All in `Double`; `O(G³)` per group.
///
/// **ZCA.** `Σ = U diag(λ) Uᵀ` (LAPACKE `dsyevd`), `Φ = U diag(λ^(-1/2)) Uᵀ`. Backward (Daleckii–Krein):
/// ```
/// dΣ = U (K ∘ (Uᵀ sym(dΦ) U)) Uᵀ,   K_ij = (λ_i^(-1/2) - λ_j^(-1/2)) / (λ_i - λ_j) = -1 / (s_i s_j (s_i + s_j)),  s = √λ
/// ```
/// The last form is the divided difference without the subtraction, so it is exact for equal or
/// nearly equal eigenvalues (the diagonal is `f'(λ_i) = -λ_i^(-3/2) / 2`), where the papers'
/// `1 / (λ_i - λ_j)` (and autograd through `eigh`) blow up. Eigenvalues below `eps` (which `Σ + eps·I`
/// only reaches through rounding) are raised to `eps`, so outputs and gradients stay finite.
///
/// **IterNorm.** With `τ = tr(Σ)` and `A = Σ / τ` (eigenvalues in `(0, 1]`), the coupled Newton–Schulz
/// iteration (Higham, *Functions of Matrices*, 2008, eq. 6.35)
/// ```
/// Y_0 = A, Z_0 = I;   W_k = 3I - Z_k Y_k,   Y_(k+1) = Y_k W_k / 2,   Z_(k+1) = W_k Z_k / 2;   Φ = Z_T / √τ
/// ```
/// In exact arithmetic `Y_k = A Z_k` and `Z_k` is the paper's `P_k = (3 P_(k-1) - P_(k-1)³ A) / 2`, so the
/// results agree with IterNorm; but the paper's single-matrix form is unstable (its rounding errors in
/// the directions that do not commute with `A` grow each step: 1e17 at T = 20 on a correlated group),
/// while the coupled form is stable: `Z_k` stays bounded and converges to `A^(-1/2)` for any `T`.
/// Backward runs through the unrolled iterations (reverse mode, intermediates recomputed).
package enum WhiteningTransform {
    /// `Φ` for `covariance` (symmetric, `eps·I` included). A NaN or infinity in `covariance` gives a
    /// NaN `Φ`.
    package static func whitening(
        covariance: SquareMatrix, method: WhiteningMethod, epsilon: Double
    ) -> SquareMatrix {
        switch method {
        case .zca:
            guard let (vectors, roots) = eigenvectorsAndRoots(covariance, epsilon: epsilon) else {
                return notANumber(size: covariance.size)
            }
            return vectors.scalingColumns(by: roots.map { 1 / $0 }).multiplied(by: vectors, transposingOther: true)
        case .iterNorm(let iterations):
            let trace = covariance.trace
            return (1 / trace.squareRoot()) * newtonSchulz(covariance, trace: trace, iterations: iterations).last
        }
    }

    /// `dL/dΣ` (symmetric) given `dL/dΦ` at `covariance`.
    package static func covarianceGradient(
        covariance: SquareMatrix, method: WhiteningMethod, epsilon: Double, whiteningGradient: SquareMatrix
    ) -> SquareMatrix {
        let size = covariance.size
        switch method {
        case .zca:
            guard let (vectors, roots) = eigenvectorsAndRoots(covariance, epsilon: epsilon) else {
                return notANumber(size: size)
            }
            var rotated = vectors.multiplied(by: whiteningGradient.symmetricPart, transposingSelf: true) * vectors
            for row in 0..<size {
                for column in 0..<size {
                    let (left, right) = (roots[row], roots[column])
                    rotated[row, column] *= -1 / (left * right * (left + right))
                }
            }
            return (vectors * rotated).multiplied(by: vectors, transposingOther: true)
        case .iterNorm(let iterations):
            let trace = covariance.trace
            let rootTrace = trace.squareRoot()
            let steps = newtonSchulz(covariance, trace: trace, iterations: iterations)
            let whitening = (1 / rootTrace) * steps.last
            // Φ = Z_T / √τ.
            var traceGradient = -0.5 * whiteningGradient.innerProduct(whitening) / trace
            var gradientZ = (1 / rootTrace) * whiteningGradient
            var gradientY = SquareMatrix.zero(size: size)
            let three = SquareMatrix.identity(size: size, scale: 3)
            for step in stride(from: iterations - 1, through: 0, by: -1) {
                let (y, z) = (steps.y[step], steps.z[step])
                let w = three - z * y
                // Y' = Y W / 2, Z' = W Z / 2, W = 3I - Z Y.
                let gradientW = 0.5 * (y.multiplied(by: gradientY, transposingSelf: true)
                    + gradientZ.multiplied(by: z, transposingOther: true))
                var previousY = 0.5 * gradientY.multiplied(by: w, transposingOther: true)
                var previousZ = 0.5 * w.multiplied(by: gradientZ, transposingSelf: true)
                previousZ = previousZ - gradientW.multiplied(by: y, transposingOther: true)
                previousY = previousY - z.multiplied(by: gradientW, transposingSelf: true)
                (gradientY, gradientZ) = (previousY, previousZ)
            }
            // Y_0 = A = Σ / τ; Z_0 = I is constant.
            traceGradient -= gradientY.innerProduct(covariance) / (trace * trace)
            let gradient = (1 / trace) * gradientY + SquareMatrix.identity(size: size, scale: traceGradient)
            return gradient.symmetricPart
        }
    }

    // MARK: - Pieces

    /// The eigenvectors and `s_i = sqrt(max(λ_i, eps))`; `nil` when LAPACK fails (NaN input).
    static func eigenvectorsAndRoots(
        _ covariance: SquareMatrix, epsilon: Double
    ) -> (vectors: SquareMatrix, roots: [Double])? {
        guard covariance.values.allSatisfy(\.isFinite),
              let (eigenvalues, vectors) = covariance.symmetricEigendecomposition() else { return nil }
        return (vectors, eigenvalues.map { max($0, epsilon).squareRoot() })
    }

    /// The iterates `Y_k`, `Z_k` for `k = 0 ..< iterations`, and `Z_T` as `last`.
    static func newtonSchulz(
        _ covariance: SquareMatrix, trace: Double, iterations: Int
    ) -> (y: [SquareMatrix], z: [SquareMatrix], last: SquareMatrix) {
        let size = covariance.size
        let three = SquareMatrix.identity(size: size, scale: 3)
        var y = (1 / trace) * covariance
        var z = SquareMatrix.identity(size: size)
        var ys: [SquareMatrix] = [], zs: [SquareMatrix] = []
        ys.reserveCapacity(iterations)
        zs.reserveCapacity(iterations)
        for _ in 0..<iterations {
            ys.append(y)
            zs.append(z)
            let w = three - z * y
            (y, z) = (0.5 * (y * w), 0.5 * (w * z))
        }
        return (ys, zs, z)
    }

    static func notANumber(size: Int) -> SquareMatrix {
        SquareMatrix(size: size, values: .init(repeating: .nan, count: size * size))
    }
}
