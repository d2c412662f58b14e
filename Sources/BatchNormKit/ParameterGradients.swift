/// The gradients of the scale and shift parameters.
public struct ParameterGradients<Scalar: BatchNormScalar>: Sendable, Hashable {
    /// `dL/dγ = Σ dy · x̂` per channel.
    public var gamma: [Scalar]
    /// `dL/dβ = Σ dy` per channel.
    public var beta: [Scalar]

    /// Gradients of γ and β, one value per channel each.
    public init(gamma: [Scalar], beta: [Scalar]) {
        self.gamma = gamma
        self.beta = beta
    }

    /// The `(dγ, dβ)` pair a backward kernel returns (`BatchNormKernels`, `GroupWhiteningKernels`):
    /// the one place the kernels' result becomes this type.
    package init(_ kernelResult: (gamma: [Scalar], beta: [Scalar])) {
        self.init(gamma: kernelResult.gamma, beta: kernelResult.beta)
    }
}
