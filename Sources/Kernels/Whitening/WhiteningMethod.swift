/// How a group's whitening matrix `Φ ≈ Σ^(-1/2)` is computed from its covariance `Σ`.
package enum WhiteningMethod: Sendable, Hashable {
    /// ZCA: `Φ = U diag(λ^(-1/2)) Uᵀ` from the eigendecomposition `Σ = U diag(λ) Uᵀ` (Huang et al. 2018).
    case zca
    /// IterNorm: `iterations` Newton–Schulz steps on `Σ / tr(Σ)`, `Φ = P_T / sqrt(tr(Σ))`
    /// (Huang et al. 2019), in the coupled form (see ``WhiteningTransform``).
    case iterNorm(iterations: Int)
}
