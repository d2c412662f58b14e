/// The checks every entry point runs before it writes anything.
extension BatchNorm {
    func validate(shape: TensorShape) throws(BatchNormError) {
        guard shape.channelCount == channelCount else {
            throw .channelCountMismatch(layer: channelCount, shape: shape.channelCount)
        }
    }

    static func validate(_ argument: String, count: Int, shape: TensorShape) throws(BatchNormError) {
        guard count == shape.elementCount else {
            throw .elementCountMismatch(argument: argument, expected: shape.elementCount, actual: count)
        }
    }

    func validate(_ argument: String, length: Int) throws(BatchNormError) {
        guard length == channelCount else {
            throw .parameterLengthMismatch(argument: argument, expected: channelCount, actual: length)
        }
    }

    func validateAffineParameters() throws(BatchNormError) {
        guard affine else { return }
        try validate("gamma", length: gamma.count)
        try validate("beta", length: beta.count)
    }

    func validateRunningStatistics() throws(BatchNormError) {
        guard tracksRunningStatistics else { return }
        try validate("runningMean", length: runningMean.count)
        try validate("runningVariance", length: runningVariance.count)
    }

    /// A training step that updates the running statistics needs a counter `>= 0` (the cumulative
    /// factor is `1 / numBatchesTracked` after the increment).
    func validateBatchCounter() throws(BatchNormError) {
        guard tracksRunningStatistics else { return }
        guard numBatchesTracked >= 0 else { throw .invalidBatchCount(numBatchesTracked) }
    }

    static func validateBatchStatistics(shape: TensorShape) throws(BatchNormError) {
        guard shape.valuesPerChannel > 1 else { throw .singleValuePerChannel(shape: shape.dimensions) }
    }

    var gammaIfAffine: [Scalar]? { affine ? gamma : nil }
    var betaIfAffine: [Scalar]? { affine ? beta : nil }
}
