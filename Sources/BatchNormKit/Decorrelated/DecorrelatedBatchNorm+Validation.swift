/// The checks every entry point of ``DecorrelatedBatchNorm`` runs before it writes anything.
extension DecorrelatedBatchNorm {
    func validate(shape: TensorShape, _ arguments: (name: String, count: Int)...) throws(BatchNormError) {
        try validate(shape: shape, arguments)
    }

    /// The checks of a training step: shapes and lengths, running statistics when tracked, more than one
    /// value per channel, and a batch counter `>= 0` (the cumulative factor is `1 / numBatchesTracked`).
    func validateTraining(shape: TensorShape, _ arguments: (name: String, count: Int)...) throws(BatchNormError) {
        try validate(shape: shape, arguments)
        try validateRunningStatistics()
        guard shape.valuesPerChannel > 1 else { throw .singleValuePerChannel(shape: shape.dimensions) }
        if tracksRunningStatistics, numBatchesTracked < 0 { throw .invalidBatchCount(numBatchesTracked) }
    }

    func validate(shape: TensorShape, _ arguments: [(name: String, count: Int)]) throws(BatchNormError) {
        guard shape.channelCount == channelCount else {
            throw .channelCountMismatch(layer: channelCount, shape: shape.channelCount)
        }
        let geometry = shape.geometry
        let limit = Int(Int32.max)
        guard geometry.innerCount <= limit, channelCount <= limit else {
            throw .whiteningSizeUnsupported(shape: shape.dimensions)
        }
        for (name, count) in arguments where count != shape.elementCount {
            throw .elementCountMismatch(argument: name, expected: shape.elementCount, actual: count)
        }
        if affine {
            try validate("gamma", length: gamma.count)
            try validate("beta", length: beta.count)
        }
    }

    func validate(_ argument: String, length: Int) throws(BatchNormError) {
        guard length == channelCount else {
            throw .parameterLengthMismatch(argument: argument, expected: channelCount, actual: length)
        }
    }

    func validateRunningStatistics() throws(BatchNormError) {
        guard tracksRunningStatistics else { return }
        try validate("runningMean", length: runningMean.count)
        guard runningWhitening.count == whiteningElementCount else {
            throw .whiteningLengthMismatch(
                argument: "runningWhitening", expected: whiteningElementCount, actual: runningWhitening.count)
        }
    }

    func validate(statistics: WhiteningStatistics<Scalar>) throws(BatchNormError) {
        try validate("statistics.mean", length: statistics.factors.center.channelCount)
        let matrices = statistics.factors.whitening
        let count = matrices.reduce(0) { $0 + $1.values.count }
        guard matrices.count == groupCount, statistics.factors.covariance.count == groupCount,
              matrices.allSatisfy({ $0.size == groupSize }) else {
            throw .whiteningLengthMismatch(argument: "statistics.whitening", expected: whiteningElementCount, actual: count)
        }
    }

    var gammaIfAffine: [Scalar]? { affine ? gamma : nil }
    var betaIfAffine: [Scalar]? { affine ? beta : nil }
}
