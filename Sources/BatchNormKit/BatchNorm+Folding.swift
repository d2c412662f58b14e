// Folding inference-mode batch norm into the layer before it (deployment): for a dense or
// convolution layer `z = W·x + b` followed by batch norm over its `out` channels,
//
//     scale_o = gamma_o / sqrt(runningVariance_o + eps)            (in Double)
//     W'[o, ...] = W[o, ...] · scale_o
//     b'_o = (b_o - runningMean_o) · scale_o + beta_o               (b = 0 without a bias)
//
// so that `W'·x + b' == bnInference(W·x + b)` up to rounding. Every weight layout below keeps `out`
// as its first dimension, so each output channel's weights are one contiguous block.

/// How a weight to fold batch norm into is laid out.
public enum WeightLayout: String, Sendable, Hashable, CaseIterable {
    /// Dense layer `[out, in]`.
    case outIn = "out-in"
    /// Convolution in PyTorch's order `[out, in / groups, kh, kw]`.
    case outInKhKw = "out-in-kh-kw"
    /// Convolution in channels-last order `[out, kh, kw, in]`.
    case outKhKwIn = "out-kh-kw-in"

    /// The rank a weight of this layout has.
    public var rank: Int { self == .outIn ? 2 : 4 }
}

/// A layer's weight and bias with an inference-mode batch norm folded in (same shape and layout as
/// the weight given; the bias has one value per output channel).
public struct FoldedLayer<Scalar: BatchNormScalar>: Sendable, Hashable {
    /// The folded weight `W'[o, ...] = W[o, ...] · gamma_o / sqrt(runningVariance_o + eps)`, in the
    /// weight's own shape and layout.
    public var weight: [Scalar]
    /// The folded bias `b'_o = (b_o - runningMean_o) · scale_o + beta_o`, one value per output channel.
    public var bias: [Scalar]

    /// A folded pair as given (no checks: `fold` is what computes one).
    public init(weight: [Scalar], bias: [Scalar]) {
        self.weight = weight
        self.bias = bias
    }
}

extension BatchNorm {
    /// Folds this layer in inference mode (its running statistics, `gamma`, `beta`, `epsilon`) into the
    /// preceding dense or convolution layer; see
    /// ``fold(weight:shape:bias:layout:runningMean:runningVariance:gamma:beta:epsilon:)``.
    /// - Parameters:
    ///   - weight: the preceding layer's weight in `layout` order, `shape.product` values.
    ///   - shape: the weight's dimensions; the first, `out`, is this layer's channel count.
    ///   - bias: `out` values, or `nil` for a layer without bias.
    ///   - layout: the order of `weight`'s dimensions.
    /// - Returns: the folded weight (same shape and layout) and bias (`out` values).
    /// - Throws: `.runningStatisticsNotTracked` for a layer without running statistics (its inference
    ///   uses batch statistics, which no fixed weight can reproduce), or the refusals of the static form.
    public func fold(
        weight: [Scalar], shape: [Int], bias: [Scalar]?, layout: WeightLayout
    ) throws(BatchNormError) -> FoldedLayer<Scalar> {
        guard tracksRunningStatistics else { throw .runningStatisticsNotTracked }
        return try Self.fold(
            weight: weight, shape: shape, bias: bias, layout: layout, runningMean: runningMean,
            runningVariance: runningVariance, gamma: gammaIfAffine, beta: betaIfAffine, epsilon: epsilon)
    }

    /// The weight and bias of a layer followed by inference-mode batch norm over its output channels,
    /// as one layer:
    /// ```
    /// scale_o = gamma_o / sqrt(runningVariance_o + eps)
    /// W'[o, ...] = W[o, ...] · scale_o,   b'_o = (b_o - runningMean_o) · scale_o + beta_o
    /// ```
    /// The per-channel arithmetic runs in `Double`; each result is rounded once.
    ///
    /// - Parameters:
    ///   - weight: the layer's weight in `layout` order, `shape.product` values.
    ///   - shape: the weight's dimensions (`[out, in]`, `[out, in / groups, kh, kw]` or `[out, kh, kw, in]`).
    ///   - bias: `out` values, or `nil` for a layer without bias (the folded layer has one).
    ///   - layout: the order of `weight`'s dimensions.
    ///   - runningMean: the batch norm's running mean, `out` values.
    ///   - runningVariance: its running variance, `out` values.
    ///   - gamma: its scale, `out` values, or `nil` for a non-affine batch norm (1).
    ///   - beta: its shift, `out` values, or `nil` for a non-affine batch norm (0).
    ///   - epsilon: finite and `> 0`.
    /// - Throws: `.weightRankMismatch` for a shape of the wrong rank, `.emptyDimension`, `.sizeOverflow`,
    ///   `.elementCountMismatch` when `weight` does not hold `shape`'s element count,
    ///   `.parameterLengthMismatch` for a per-channel vector whose length is not `out`, `.invalidEpsilon`.
    /// - Complexity: one read and one write of the weight.
    public static func fold(
        weight: [Scalar], shape: [Int], bias: [Scalar]?, layout: WeightLayout, runningMean: [Scalar],
        runningVariance: [Scalar], gamma: [Scalar]?, beta: [Scalar]?, epsilon: Scalar
    ) throws(BatchNormError) -> FoldedLayer<Scalar> {
        guard shape.count == layout.rank else {
            throw .weightRankMismatch(layout: layout.rawValue, shape: shape, expectedRank: layout.rank)
        }
        var elementCount = 1
        for dimension in shape {
            guard dimension >= 1 else { throw .emptyDimension(shape: shape) }
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw .sizeOverflow(shape: shape) }
            elementCount = product
        }
        guard weight.count == elementCount else {
            throw .elementCountMismatch(argument: "weight", expected: elementCount, actual: weight.count)
        }
        let outputCount = shape[0]
        for (argument, vector) in [("bias", bias), ("runningMean", runningMean), ("runningVariance", runningVariance),
                                   ("gamma", gamma), ("beta", beta)] {
            if let vector, vector.count != outputCount {
                throw .parameterLengthMismatch(argument: argument, expected: outputCount, actual: vector.count)
            }
        }
        guard epsilon.isFinite, epsilon > 0 else { throw .invalidEpsilon(Double(epsilon)) }

        let blockLength = elementCount / outputCount
        var foldedWeight = [Scalar](), foldedBias = [Scalar]()
        foldedWeight.reserveCapacity(elementCount)
        foldedBias.reserveCapacity(outputCount)
        for output in 0..<outputCount {
            let scale = Double(gamma?[output] ?? 1)
                / StandardDeviation.of(variance: Double(runningVariance[output]), epsilon: Double(epsilon))
            for index in (output * blockLength)..<((output + 1) * blockLength) {
                foldedWeight.append(Scalar(Double(weight[index]) * scale))
            }
            let shifted = Double(bias?[output] ?? 0) - Double(runningMean[output])
            foldedBias.append(Scalar(shifted * scale + Double(beta?[output] ?? 0)))
        }
        return FoldedLayer(weight: foldedWeight, bias: foldedBias)
    }
}
