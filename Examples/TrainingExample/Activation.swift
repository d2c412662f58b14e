import BatchNormKit

/// The nonlinearity after each hidden layer's batch norm (or after its dense layer without one).
public enum Activation: String, Sendable, Hashable, CaseIterable {
    case sigmoid
    case relu

    /// `σ(x) = 1 / (1 + e^-x)` or `max(0, x)`.
    @inline(__always)
    func apply<Scalar: NetworkScalar>(_ value: Scalar) -> Scalar {
        switch self {
        case .sigmoid: 1 / (1 + Scalar.exponential(-value))
        case .relu: value > 0 ? value : 0
        }
    }

    /// The derivative at the input that gave `output`: `σ(x)(1 - σ(x))` or `[x > 0]`.
    @inline(__always)
    func derivative<Scalar: NetworkScalar>(output: Scalar) -> Scalar {
        switch self {
        case .sigmoid: output * (1 - output)
        case .relu: output > 0 ? 1 : 0
        }
    }

    /// `output = f(input)` elementwise.
    func apply<Scalar: NetworkScalar>(_ input: [Scalar], into output: inout [Scalar]) {
        for index in input.indices { output[index] = apply(input[index]) }
    }

    /// `inputGradient = outputGradient ⊙ f'(x)`, with `f'` computed from the saved `output`.
    func backward<Scalar: NetworkScalar>(
        outputGradient: [Scalar], output: [Scalar], into inputGradient: inout [Scalar]
    ) {
        for index in output.indices {
            inputGradient[index] = outputGradient[index] * derivative(output: output[index])
        }
    }
}
