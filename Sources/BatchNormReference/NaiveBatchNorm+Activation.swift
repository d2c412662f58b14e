public import BatchNormKit

/// The reference of batch norm fused with a residual add and ReLU, in plain loops:
/// `y = relu(bn(x) + residual)` with PyTorch's semantics (`relu(v) = v < 0 ? 0 : v`, so NaN stays NaN)
/// and the backward mask of PyTorch's `threshold_backward(dy, y, 0)`: `dz = y <= 0 ? 0 : dy`.
/// On `Double` data every step is `Double` arithmetic.
extension NaiveBatchNorm {
    /// `output[i] = relu?(output[i] + residual[i])` in `Double`, each step only when asked.
    @inlinable
    public static func applyEpilogue<Scalar: BinaryFloatingPoint>(
        to output: inout [Scalar], residual: [Scalar]?, relu: Bool
    ) {
        precondition(residual == nil || residual?.count == output.count)
        for index in output.indices {
            var value = Double(output[index])
            if let residual { value += Double(residual[index]) }
            if relu && value < 0 { value = 0 }
            output[index] = Scalar(value)
        }
    }

    /// Training forward, then the epilogue: `y = relu?(bn(x) + residual?)`.
    @inlinable
    public static func trainingForward<Scalar: BinaryFloatingPoint>(
        _ input: [Scalar], shape: TensorShape, residual: [Scalar]?, relu: Bool, gamma: [Scalar]?, beta: [Scalar]?,
        epsilon: Double, into output: inout [Scalar]
    ) -> Statistics {
        let statistics = trainingForward(input, shape: shape, gamma: gamma, beta: beta, epsilon: epsilon, into: &output)
        applyEpilogue(to: &output, residual: residual, relu: relu)
        return statistics
    }

    /// Inference forward with given running statistics, then the epilogue.
    @inlinable
    public static func inferenceForward<Scalar: BinaryFloatingPoint>(
        _ input: [Scalar], shape: TensorShape, residual: [Scalar]?, relu: Bool, runningMean: [Scalar],
        runningVariance: [Scalar], gamma: [Scalar]?, beta: [Scalar]?, epsilon: Double, into output: inout [Scalar]
    ) {
        inferenceForward(input, shape: shape, runningMean: runningMean, runningVariance: runningVariance,
                         gamma: gamma, beta: beta, epsilon: epsilon, into: &output)
        applyEpilogue(to: &output, residual: residual, relu: relu)
    }

    /// `dz = y <= 0 ? 0 : dy` (PyTorch's `threshold_backward(dy, y, 0)`): a NaN `y` passes `dy`, and
    /// `y == 0` gives 0. Also the gradient of the residual of `relu(bn(x) + residual)`.
    @inlinable
    public static func reluGradient<Scalar: BinaryFloatingPoint>(gradOutput: [Scalar], forwardOutput: [Scalar]) -> [Scalar] {
        precondition(gradOutput.count == forwardOutput.count)
        return zip(gradOutput, forwardOutput).map { gradient, output in output <= 0 ? 0 : gradient }
    }
}
