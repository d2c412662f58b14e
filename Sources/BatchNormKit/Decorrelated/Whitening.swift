package import Kernels

/// How ``DecorrelatedBatchNorm`` computes a group's whitening matrix `Φ ≈ Σ^(-1/2)`.
public enum Whitening: Sendable, Hashable {
    /// ZCA whitening by eigendecomposition, `Φ = U diag(λ^(-1/2)) Uᵀ`
    /// ([Huang, Yang, Lang & Deng 2018](https://arxiv.org/abs/1804.08450)).
    case zca
    /// Iterative normalization: `iterations` Newton–Schulz steps on `Σ / tr(Σ)`, matrix products only
    /// ([Huang, Zhou, Zhu, Liu & Shao 2019](https://arxiv.org/abs/1904.03441)); `iterations` in
    /// `[1, 1000]`, 5 in the paper. Run in a coupled form that is stable for every allowed count.
    case iterNorm(iterations: Int = 5)

    /// The largest IterNorm iteration count accepted (backward keeps two `G × G` matrices per step).
    public static let maximumIterations = 1000

    package var method: WhiteningMethod {
        switch self {
        case .zca: .zca
        case .iterNorm(let iterations): .iterNorm(iterations: iterations)
        }
    }
}
