// MARK: - Array buffers

/// The passes into arrays the caller keeps and reuses: no allocation for the output, like the span
/// forms, and usable where the span forms are not.
///
/// A training loop keeps its buffers in stored properties (`layer.preActivation`, `layer.normalized`)
/// next to the layer (`layer.norm`). With the span forms, `var out = normalized.mutableSpan` is an
/// exclusive access to the whole of `self` for as long as `out` lives, so the call
/// `norm.forwardTraining(preActivation.span, shape: shape, into: &out)` in the same mutating method
/// does not compile ("overlapping accesses to 'self'"); the caller has to move each buffer out into a
/// local and back. An `inout` array argument is an access to that one stored property, which Swift
/// allows beside accesses to the other stored properties. The array is written in place (it is not
/// reallocated when uniquely referenced and already `shape.elementCount` long).
extension BatchNorm {
    /// Training forward into an existing array; see ``forwardTraining(_:shape:into:)-(Span<Scalar>,_,_)``.
    ///
    /// - Parameters:
    ///   - input: `shape.elementCount` values in `shape.layout` order.
    ///   - shape: the input's shape; its channel count must be `channelCount`.
    ///   - output: `shape.elementCount` values, entirely overwritten. Its count is checked like the
    ///     span form's; it is never resized.
    /// - Returns: the batch statistics for ``backward(gradOutput:input:shape:statistics:into:)-([Scalar],_,_,_,_)``.
    /// - Throws: what the span form throws, with nothing written (`output` and the running statistics
    ///   are left as they were).
    public mutating func forwardTraining(
        _ input: [Scalar], shape: TensorShape, into output: inout [Scalar]
    ) throws(BatchNormError) -> BatchStatistics<Scalar> {
        var outputSpan = output.mutableSpan
        return try forwardTraining(input.span, shape: shape, into: &outputSpan)
    }

    /// Inference forward into an existing array; see ``forwardInference(_:shape:into:)-(Span<Scalar>,_,_)``.
    /// - Throws: what the span form throws, with nothing written.
    public func forwardInference(
        _ input: [Scalar], shape: TensorShape, into output: inout [Scalar]
    ) throws(BatchNormError) {
        var outputSpan = output.mutableSpan
        try forwardInference(input.span, shape: shape, into: &outputSpan)
    }

    /// Training backward into an existing array; see
    /// ``backward(gradOutput:input:shape:statistics:into:)-(Span<Scalar>,_,_,_,_)``.
    /// - Returns: `dγ` and `dβ`. Mutates nothing but `inputGradient`.
    /// - Throws: what the span form throws, with nothing written.
    public func backward(
        gradOutput: [Scalar], input: [Scalar], shape: TensorShape, statistics: BatchStatistics<Scalar>,
        into inputGradient: inout [Scalar]
    ) throws(BatchNormError) -> ParameterGradients<Scalar> {
        var inputGradientSpan = inputGradient.mutableSpan
        return try backward(
            gradOutput: gradOutput.span, input: input.span, shape: shape, statistics: statistics,
            into: &inputGradientSpan)
    }
}
