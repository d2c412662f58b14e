// Batch norm with its neighbours in a residual network, fused into the same passes:
//
//     y = relu(bn(x))             (activation: .relu)
//     y = relu(bn(x) + residual)  (activation: .relu, residual given)
//     y = bn(x) + residual        (activation: .identity, residual given)
//
// with PyTorch's semantics for `relu(batch_norm(x) [+ r])`: the residual is added to the rounded
// batch-norm output in working precision, `relu` keeps NaN, and the backward mask is
// `threshold_backward(dy, y, 0)` (`dz = y <= 0 ? 0 : dy`). These entry points always run on the fused
// kernels (the BLAS composition has no epilogue), whatever `kernelPath` is pinned, except the plain
// case (`.identity`, no residual), which is the ordinary call.

// MARK: - Forward

extension BatchNorm {
    /// Training forward pass fused with a residual add and an activation:
    /// ```
    /// y = activation(bn(x) + residual)     (bn with the batch statistics; residual optional)
    /// ```
    /// Updates the running statistics (when tracked) exactly as ``forwardTraining(_:shape:into:)-(Span<Scalar>,_,_)``.
    ///
    /// - Parameters:
    ///   - input: `shape.elementCount` values in `shape.layout` order.
    ///   - shape: the tensor's dimensions and layout.
    ///   - residual: `nil`, or `shape.elementCount` values in the same layout, added before the activation.
    ///   - activation: `.relu` or `.identity`.
    ///   - output: `shape.elementCount` values, entirely overwritten; may alias neither `input` nor `residual`.
    /// - Returns: the batch statistics for ``backward(gradOutput:input:forwardOutput:shape:statistics:activation:into:)``.
    /// - Throws: `BatchNormError` as the plain forward, and `.elementCountMismatch` for a residual of the
    ///   wrong size. Nothing is written then.
    /// - Complexity: two reads of `input`, one of `residual`, one write of `output`.
    public mutating func forwardTraining(
        _ input: Span<Scalar>, shape: TensorShape, residual: Span<Scalar>?, activation: FusedActivation,
        into output: inout MutableSpan<Scalar>
    ) throws(BatchNormError) -> BatchStatistics<Scalar> {
        try validateForwardTraining(input: input.count, output: output.count, shape: shape)
        if let residual { try Self.validate("residual", count: residual.count, shape: shape) }
        let (moments, inverseStandardDeviation) = BatchNormKernels.trainingForward(
            input, residual: residual, relu: activation == .relu, geometry: shape.geometry, gamma: gammaIfAffine,
            beta: betaIfAffine, epsilon: epsilon, into: &output)
        return finishTraining(moments, inverseStandardDeviation: inverseStandardDeviation)
    }

    /// Array form of ``forwardTraining(_:shape:residual:activation:into:)``.
    /// - Returns: the output and the batch statistics.
    public mutating func forwardTraining(
        _ input: [Scalar], shape: TensorShape, residual: [Scalar]? = nil, activation: FusedActivation
    ) throws(BatchNormError) -> (output: [Scalar], statistics: BatchStatistics<Scalar>) {
        try Self.validate("input", count: input.count, shape: shape)
        var output = ScalarArrays.zeros(of: Scalar.self, count: input.count)
        var outputSpan = output.mutableSpan
        let statistics = if let residual {
            try forwardTraining(input.span, shape: shape, residual: residual.span, activation: activation, into: &outputSpan)
        } else {
            try forwardTraining(input.span, shape: shape, residual: nil, activation: activation, into: &outputSpan)
        }
        return (output, statistics)
    }

    /// Inference forward pass fused with a residual add and an activation:
    /// ```
    /// y = activation((x - runningMean) / sqrt(runningVariance + eps) * gamma + beta + residual)
    /// ```
    /// A layer without running statistics uses the batch statistics, as
    /// ``forwardInference(_:shape:into:)-(Span<Scalar>,_,_)`` does. Mutates nothing but `output`.
    ///
    /// - Throws: `BatchNormError` for mismatched sizes (nothing is written then).
    /// - Complexity: one read of `input` and of `residual`, one write of `output`.
    public func forwardInference(
        _ input: Span<Scalar>, shape: TensorShape, residual: Span<Scalar>?, activation: FusedActivation,
        into output: inout MutableSpan<Scalar>
    ) throws(BatchNormError) {
        try validateForwardInference(input: input.count, output: output.count, shape: shape)
        if let residual { try Self.validate("residual", count: residual.count, shape: shape) }
        let relu = activation == .relu
        if tracksRunningStatistics {
            BatchNormKernels.inferenceForward(
                input, residual: residual, relu: relu, geometry: shape.geometry, mean: runningMean,
                variance: runningVariance, gamma: gammaIfAffine, beta: betaIfAffine, epsilon: epsilon, into: &output)
        } else {
            _ = BatchNormKernels.trainingForward(
                input, residual: residual, relu: relu, geometry: shape.geometry, gamma: gammaIfAffine,
                beta: betaIfAffine, epsilon: epsilon, into: &output)
        }
    }

    /// Array form of ``forwardInference(_:shape:residual:activation:into:)``.
    public func forwardInference(
        _ input: [Scalar], shape: TensorShape, residual: [Scalar]? = nil, activation: FusedActivation
    ) throws(BatchNormError) -> [Scalar] {
        try Self.validate("input", count: input.count, shape: shape)
        var output = ScalarArrays.zeros(of: Scalar.self, count: input.count)
        var outputSpan = output.mutableSpan
        if let residual {
            try forwardInference(input.span, shape: shape, residual: residual.span, activation: activation, into: &outputSpan)
        } else {
            try forwardInference(input.span, shape: shape, residual: nil, activation: activation, into: &outputSpan)
        }
        return output
    }
}

// MARK: - Backward

extension BatchNorm {
    /// Backward of ``forwardTraining(_:shape:residual:activation:into:)`` (batch statistics depend on `x`):
    /// ```
    /// dz = y <= 0 ? 0 : dy          (.relu; dz = dy for .identity)
    /// then the plain backward with dz:  dβ = Σ dz,  dγ = Σ dz · x̂,  dx = γ · invstd / M · (M · dz - dβ - x̂ · dγ)
    /// ```
    /// - Parameters:
    ///   - gradOutput: `dL/dy`, `shape.elementCount` values.
    ///   - input: the forward's `x`.
    ///   - forwardOutput: the forward's `y` (the ReLU mask is `y > 0`, so nothing else is stored).
    ///     Checked for size; not read for `.identity`.
    ///   - shape: the tensor's dimensions and layout.
    ///   - statistics: what the forward returned.
    ///   - activation: the forward's activation.
    ///   - inputGradient: receives `dL/dx`; entirely overwritten.
    /// - Returns: `dγ` and `dβ`. Mutates nothing but `inputGradient`.
    /// - Throws: `BatchNormError` for mismatched sizes or statistics lengths (nothing is written then).
    /// - Complexity: `.relu` reads `x`, `dy`, `y` and writes `dz` into `inputGradient`, then reads `x` and
    ///   `dz` and writes `dx` (one read and one write more than plain backward); large channels-first
    ///   tensors may instead walk a channel at a time, reading `x`, `dy` and `y` from memory once and
    ///   writing only `dx` (the Performance article).
    public func backward(
        gradOutput: Span<Scalar>, input: Span<Scalar>, forwardOutput: Span<Scalar>, shape: TensorShape,
        statistics: BatchStatistics<Scalar>, activation: FusedActivation, into inputGradient: inout MutableSpan<Scalar>
    ) throws(BatchNormError) -> ParameterGradients<Scalar> {
        guard activation == .relu else {
            try Self.validate("forwardOutput", count: forwardOutput.count, shape: shape)
            return try backward(
                gradOutput: gradOutput, input: input, shape: shape, statistics: statistics, into: &inputGradient)
        }
        try validateTrainingBackward(
            gradOutput: gradOutput.count, input: input.count, forwardOutput: forwardOutput.count,
            inputGradient: inputGradient.count, shape: shape, statistics: statistics)
        let gradients = BatchNormKernels.reluBackward(
            input: input, gradient: gradOutput, forwardOutput: forwardOutput, geometry: shape.geometry,
            statistics: .batch(mean: statistics.center, inverseStandardDeviation: statistics.inverseStandardDeviation),
            gamma: gammaIfAffine, into: &inputGradient)
        return ParameterGradients(gradients)
    }

    /// ``backward(gradOutput:input:forwardOutput:shape:statistics:activation:into:)`` for a forward that
    /// added a residual: also writes `dL/dresidual = dz` (`[y > 0] · dy` after ReLU, `dy` without).
    /// - Complexity: `.relu` reads `x`, `dy`, `y` and writes `dresidual`, then reads `x` and `dresidual`
    ///   and writes `dx`; large channels-first tensors may instead walk a channel at a time, reading `x`,
    ///   `dy` and `y` from memory once and writing `dresidual` and `dx` (the Performance article).
    public func backward(
        gradOutput: Span<Scalar>, input: Span<Scalar>, forwardOutput: Span<Scalar>, shape: TensorShape,
        statistics: BatchStatistics<Scalar>, activation: FusedActivation, into inputGradient: inout MutableSpan<Scalar>,
        residualGradient: inout MutableSpan<Scalar>
    ) throws(BatchNormError) -> ParameterGradients<Scalar> {
        try validateTrainingBackward(
            gradOutput: gradOutput.count, input: input.count, forwardOutput: forwardOutput.count,
            inputGradient: inputGradient.count, shape: shape, statistics: statistics)
        try Self.validate("residualGradient", count: residualGradient.count, shape: shape)
        guard activation == .relu else {
            Self.copy(gradOutput, into: &residualGradient)
            return try backward(
                gradOutput: gradOutput, input: input, shape: shape, statistics: statistics, into: &inputGradient)
        }
        let gradients = BatchNormKernels.reluBackward(
            input: input, gradient: gradOutput, forwardOutput: forwardOutput, geometry: shape.geometry,
            statistics: .batch(mean: statistics.center, inverseStandardDeviation: statistics.inverseStandardDeviation),
            gamma: gammaIfAffine, into: &inputGradient, residualGradient: &residualGradient)
        return ParameterGradients(gradients)
    }

    /// Array form of the training backward through the activation (and the residual when
    /// `residualGradient` is true: the result's `residual` is then set).
    public func backward(
        gradOutput: [Scalar], input: [Scalar], forwardOutput: [Scalar], shape: TensorShape,
        statistics: BatchStatistics<Scalar>, activation: FusedActivation, residualGradient: Bool = false
    ) throws(BatchNormError) -> BatchNormGradients<Scalar> {
        try Self.gradientsInNewArrays(gradOutput: gradOutput, shape: shape, residualGradient: residualGradient) {
            (inputGradient, residual) throws(BatchNormError) in
            if residualGradient {
                return try backward(
                    gradOutput: gradOutput.span, input: input.span, forwardOutput: forwardOutput.span, shape: shape,
                    statistics: statistics, activation: activation, into: &inputGradient, residualGradient: &residual)
            }
            return try backward(
                gradOutput: gradOutput.span, input: input.span, forwardOutput: forwardOutput.span, shape: shape,
                statistics: statistics, activation: activation, into: &inputGradient)
        }
    }

    /// Backward of ``forwardTraining(_:shape:residual:activation:into:)`` without a residual, with the
    /// ReLU mask recomputed from `x` instead of read from `y`: both passes evaluate the forward's
    /// pre-activation `v = (x - mean)·(γ·invstd) + β` with the forward's own per-channel coefficients
    /// and operations, so `v <= 0` is the forward's `y <= 0` bit for bit, and `y` need not be kept.
    /// The gradients equal those of ``backward(gradOutput:input:forwardOutput:shape:statistics:activation:into:)``
    /// given that forward's `y`, provided `gamma` and `beta` are the ones the forward ran with (as
    /// within one training step) and `statistics` is what it returned.
    ///
    /// - Throws: `BatchNormError` for mismatched sizes or statistics lengths (nothing is written then).
    /// - Complexity: the traffic of plain backward (two reads of `x` and `dy`, one write of `dx`; large
    ///   channels-first tensors may take the second read from cache, a channel at a time).
    public func backward(
        gradOutput: Span<Scalar>, input: Span<Scalar>, shape: TensorShape, statistics: BatchStatistics<Scalar>,
        activation: FusedActivation, into inputGradient: inout MutableSpan<Scalar>
    ) throws(BatchNormError) -> ParameterGradients<Scalar> {
        guard activation == .relu else {
            return try backward(
                gradOutput: gradOutput, input: input, shape: shape, statistics: statistics, into: &inputGradient)
        }
        try validateTrainingBackward(
            gradOutput: gradOutput.count, input: input.count, forwardOutput: input.count,
            inputGradient: inputGradient.count, shape: shape, statistics: statistics)
        let gradients = BatchNormKernels.reluBackwardRecomputingMask(
            input: input, gradient: gradOutput, geometry: shape.geometry, mean: statistics.center,
            inverseStandardDeviation: statistics.inverseStandardDeviation, gamma: gammaIfAffine, beta: betaIfAffine,
            into: &inputGradient)
        return ParameterGradients(gradients)
    }

    /// Array form of ``backward(gradOutput:input:shape:statistics:activation:into:)``.
    public func backward(
        gradOutput: [Scalar], input: [Scalar], shape: TensorShape, statistics: BatchStatistics<Scalar>,
        activation: FusedActivation
    ) throws(BatchNormError) -> BatchNormGradients<Scalar> {
        try Self.gradientsInNewArray(gradOutput: gradOutput, shape: shape) { (inputGradient) throws(BatchNormError) in
            try backward(
                gradOutput: gradOutput.span, input: input.span, shape: shape, statistics: statistics,
                activation: activation, into: &inputGradient)
        }
    }

    /// Backward of ``forwardInference(_:shape:residual:activation:into:)`` with running statistics as
    /// constants: `dz = y <= 0 ? 0 : dy` (`.relu`), `dx = dz · γ · invstd`, `dγ = Σ dz · x̂`, `dβ = Σ dz`.
    ///
    /// This is also the training step of **frozen statistics** (torchvision's / detectron2's
    /// `FrozenBatchNorm2d`); see ``backwardInference(gradOutput:input:shape:into:)``. Without learnable
    /// `γ` and `β`, ``inputGradientInference(gradOutput:forwardOutput:shape:activation:into:)`` gives the same
    /// `dx` in one pass over `dy` and `y`.
    /// - Throws: `.runningStatisticsNotTracked` for a layer without running statistics, or
    ///   `BatchNormError` for mismatched sizes. Nothing is written then.
    public func backwardInference(
        gradOutput: Span<Scalar>, input: Span<Scalar>, forwardOutput: Span<Scalar>, shape: TensorShape,
        activation: FusedActivation, into inputGradient: inout MutableSpan<Scalar>
    ) throws(BatchNormError) -> ParameterGradients<Scalar> {
        guard activation == .relu else {
            try Self.validate("forwardOutput", count: forwardOutput.count, shape: shape)
            return try backwardInference(gradOutput: gradOutput, input: input, shape: shape, into: &inputGradient)
        }
        try validateInferenceBackward(
            gradOutput: gradOutput.count, input: input.count, forwardOutput: forwardOutput.count,
            inputGradient: inputGradient.count, shape: shape)
        let gradients = BatchNormKernels.reluBackward(
            input: input, gradient: gradOutput, forwardOutput: forwardOutput, geometry: shape.geometry,
            statistics: .running(mean: runningMean, variance: runningVariance, epsilon: epsilon),
            gamma: gammaIfAffine, into: &inputGradient)
        return ParameterGradients(gradients)
    }

    /// ``backwardInference(gradOutput:input:forwardOutput:shape:activation:into:)`` for a forward that
    /// added a residual: also writes `dL/dresidual = dz`.
    public func backwardInference(
        gradOutput: Span<Scalar>, input: Span<Scalar>, forwardOutput: Span<Scalar>, shape: TensorShape,
        activation: FusedActivation, into inputGradient: inout MutableSpan<Scalar>,
        residualGradient: inout MutableSpan<Scalar>
    ) throws(BatchNormError) -> ParameterGradients<Scalar> {
        try validateInferenceBackward(
            gradOutput: gradOutput.count, input: input.count, forwardOutput: forwardOutput.count,
            inputGradient: inputGradient.count, shape: shape)
        try Self.validate("residualGradient", count: residualGradient.count, shape: shape)
        guard activation == .relu else {
            Self.copy(gradOutput, into: &residualGradient)
            return try backwardInference(gradOutput: gradOutput, input: input, shape: shape, into: &inputGradient)
        }
        let gradients = BatchNormKernels.reluBackward(
            input: input, gradient: gradOutput, forwardOutput: forwardOutput, geometry: shape.geometry,
            statistics: .running(mean: runningMean, variance: runningVariance, epsilon: epsilon),
            gamma: gammaIfAffine, into: &inputGradient, residualGradient: &residualGradient)
        return ParameterGradients(gradients)
    }

    /// Array form of the inference backward through the activation (and the residual when
    /// `residualGradient` is true).
    public func backwardInference(
        gradOutput: [Scalar], input: [Scalar], forwardOutput: [Scalar], shape: TensorShape,
        activation: FusedActivation, residualGradient: Bool = false
    ) throws(BatchNormError) -> BatchNormGradients<Scalar> {
        try Self.gradientsInNewArrays(gradOutput: gradOutput, shape: shape, residualGradient: residualGradient) {
            (inputGradient, residual) throws(BatchNormError) in
            if residualGradient {
                return try backwardInference(
                    gradOutput: gradOutput.span, input: input.span, forwardOutput: forwardOutput.span, shape: shape,
                    activation: activation, into: &inputGradient, residualGradient: &residual)
            }
            return try backwardInference(
                gradOutput: gradOutput.span, input: input.span, forwardOutput: forwardOutput.span, shape: shape,
                activation: activation, into: &inputGradient)
        }
    }
}

// MARK: - Shared steps

extension BatchNorm {
    /// The array form shared by the backward passes through an activation: `dx` (and `dresidual` when
    /// asked; otherwise an empty array) in new arrays, left out if `spanBackward` throws.
    static func gradientsInNewArrays(
        gradOutput: [Scalar], shape: TensorShape, residualGradient: Bool,
        _ spanBackward: (inout MutableSpan<Scalar>, inout MutableSpan<Scalar>) throws(BatchNormError)
            -> ParameterGradients<Scalar>
    ) throws(BatchNormError) -> BatchNormGradients<Scalar> {
        try validate("gradOutput", count: gradOutput.count, shape: shape)
        var inputGradient = ScalarArrays.zeros(of: Scalar.self, count: gradOutput.count)
        var residual = ScalarArrays.zeros(of: Scalar.self, count: residualGradient ? gradOutput.count : 0)
        var inputGradientSpan = inputGradient.mutableSpan
        var residualSpan = residual.mutableSpan
        let parameters = try spanBackward(&inputGradientSpan, &residualSpan)
        _ = consume inputGradientSpan
        _ = consume residualSpan
        return BatchNormGradients(input: inputGradient, parameters: parameters, residual: residualGradient ? residual : nil)
    }

    /// `target = source` elementwise (same counts, checked by the caller).
    static func copy(_ source: Span<Scalar>, into target: inout MutableSpan<Scalar>) {
        for index in 0..<source.count { target[index] = source[index] }
    }

    func validateTrainingBackward(
        gradOutput: Int, input: Int, forwardOutput: Int, inputGradient: Int, shape: TensorShape,
        statistics: BatchStatistics<Scalar>
    ) throws(BatchNormError) {
        try validate(shape: shape)
        try Self.validate("gradOutput", count: gradOutput, shape: shape)
        try Self.validate("input", count: input, shape: shape)
        try Self.validate("forwardOutput", count: forwardOutput, shape: shape)
        try Self.validate("inputGradient", count: inputGradient, shape: shape)
        try validate("statistics.mean", length: statistics.mean.count)
        try validate("statistics.inverseStandardDeviation", length: statistics.inverseStandardDeviation.count)
        try validateAffineParameters()
    }

    /// The checks of every backward with running statistics; `input` is `nil` for the input gradient
    /// alone, which does not read it.
    func validateInferenceBackward(
        gradOutput: Int, input: Int?, forwardOutput: Int, inputGradient: Int, shape: TensorShape
    ) throws(BatchNormError) {
        guard tracksRunningStatistics else { throw .runningStatisticsNotTracked }
        try validate(shape: shape)
        try Self.validate("gradOutput", count: gradOutput, shape: shape)
        if let input { try Self.validate("input", count: input, shape: shape) }
        try Self.validate("forwardOutput", count: forwardOutput, shape: shape)
        try Self.validate("inputGradient", count: inputGradient, shape: shape)
        try validateAffineParameters()
        try validateRunningStatistics()
    }
}
