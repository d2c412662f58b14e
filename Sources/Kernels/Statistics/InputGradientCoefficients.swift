/// Per-channel coefficients of the backward elementwise step:
/// ```
/// dx = gradientScale_c · dy + centeredScale_c · (x - center_c) + bias_c
/// ```
/// Training backward: `k = γ·invstd`, `gradientScale = k`, `centeredScale = -k·invstd·dγ/M`,
/// `bias = -k·dβ/M`. Inference backward: `gradientScale = γ·invstd`, no centered term (`dx` does not
/// then read `x`, so a NaN in `x` does not reach `dx`).
package struct InputGradientCoefficients<Scalar: BatchNormScalar>: Sendable {
    package struct CenteredTerm: Sendable {
        package var center: ChannelCenter<Scalar>
        package var scale: [Scalar]
        package var bias: [Scalar]
    }

    package var gradientScale: [Scalar]
    /// `nil` when `dx` depends on `dy` only.
    package var centered: CenteredTerm?

    package init(gradientScale: [Scalar], centered: CenteredTerm?) {
        self.gradientScale = gradientScale
        self.centered = centered
    }
}
