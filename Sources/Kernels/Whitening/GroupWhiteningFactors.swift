/// What a training forward pass of group whitening computed and backward needs: the two-word batch
/// mean per channel, and per group the covariance `Σ = Xc Xcᵀ / M + eps·I` and whitening matrix `Φ`.
package struct GroupWhiteningFactors<Scalar: BatchNormScalar>: Sendable, Hashable {
    /// The batch mean, `high + low` per channel.
    package var center: ChannelCenter<Scalar>
    /// One `G × G` matrix per group, `eps·I` included.
    package var covariance: [SquareMatrix]
    /// One `G × G` matrix per group.
    package var whitening: [SquareMatrix]

    package init(center: ChannelCenter<Scalar>, covariance: [SquareMatrix], whitening: [SquareMatrix]) {
        self.center = center
        self.covariance = covariance
        self.whitening = whitening
    }
}
