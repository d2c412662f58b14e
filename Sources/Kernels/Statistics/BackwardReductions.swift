/// The two per-channel sums the backward pass needs:
/// `sumGradient = Σ dy` (which is `dβ`) and `sumGradientTimesCentered = Σ dy · (x - center)`
/// (which is `dγ / invstd`).
package struct BackwardReductions<Scalar: BatchNormScalar>: Sendable, Equatable {
    package var sumGradient: [Scalar]
    package var sumGradientTimesCentered: [Scalar]

    package init(sumGradient: [Scalar], sumGradientTimesCentered: [Scalar]) {
        self.sumGradient = sumGradient
        self.sumGradientTimesCentered = sumGradientTimesCentered
    }

    /// Elementwise sum: the reductions over the union of two disjoint parts of a batch.
    package func adding(_ other: Self) -> Self {
        Self(sumGradient: zip(sumGradient, other.sumGradient).map(+),
             sumGradientTimesCentered: zip(sumGradientTimesCentered, other.sumGradientTimesCentered).map(+))
    }
}
