import BatchNormKit

/// Stochastic gradient descent with momentum, PyTorch's form:
/// ```
/// velocity = momentum · velocity + gradient
/// parameter -= learningRate · velocity
/// ```
/// With `momentum == 0` it is plain SGD (the velocity is the gradient).
enum SGD {
    static func step<Scalar: NetworkScalar>(
        _ parameters: inout [Scalar], velocity: inout [Scalar], gradient: [Scalar], learningRate: Scalar, momentum: Scalar
    ) {
        for index in parameters.indices {
            velocity[index] = momentum * velocity[index] + gradient[index]
            parameters[index] -= learningRate * velocity[index]
        }
    }
}
