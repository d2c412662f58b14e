/// All gradients of one backward pass.
public struct BatchNormGradients<Scalar: BatchNormScalar>: Sendable, Hashable {
    /// `dL/dx`, same shape and layout as the input.
    public var input: [Scalar]
    /// Gradients of γ and β (computed for non-affine layers too: they are what the sums give).
    public var parameters: ParameterGradients<Scalar>
    /// `dL/dresidual` of a forward that added a residual (`[y > 0] · dy` after ReLU, `dy` without);
    /// `nil` when not asked for.
    public var residual: [Scalar]?

    /// The gradient of the input (same shape and layout as the input) and of the parameters, and
    /// optionally of a residual added in the forward.
    public init(input: [Scalar], parameters: ParameterGradients<Scalar>, residual: [Scalar]? = nil) {
        self.input = input
        self.parameters = parameters
        self.residual = residual
    }
}
