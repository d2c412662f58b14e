import Testing
import BatchNormKit
import BatchNormReference
import BatchNormTestSupport

/// Folding inference-mode batch norm into the preceding dense or convolution layer, checked by running
/// the layer both ways: `bnInference(layer(x; W, b))` (the layer and the float64 reference batch norm in
/// `Double`) against `layer(x; W', b')` with the folded weights.
///
/// Tolerance: the folded weights and bias are each rounded once to the working precision, so each
/// output differs from the exact one by at most `u · (Σ |x·W'| + |b'|)`, plus the `Double` sum's own
/// rounding, `K·u₆₄` of the same (`K` terms). The bound used is `(4 + K)·u` times that magnitude, per
/// element; a fold that forgets a term (the mean, beta, gamma) misses by O(1).
@Suite("Folding batch norm into the preceding layer")
struct FoldingTests {
    /// `[N, in]` inputs through a dense `[out, in]` layer: outputs `[N, out]`.
    @Test("dense layer, both precisions, with and without bias and affine parameters")
    func dense() throws {
        for (hasBias, affine) in [(true, true), (false, true), (true, false)] {
            try checkDense(Float.self, hasBias: hasBias, affine: affine)
            try checkDense(Double.self, hasBias: hasBias, affine: affine)
        }
    }

    @Test("convolution [out, in/groups, kh, kw] on NCHW, groups 1 and 2", arguments: [1, 2])
    func convolutionChannelsFirst(groups: Int) throws {
        try checkConvolution(Float.self, layout: .outInKhKw, groups: groups)
        try checkConvolution(Double.self, layout: .outInKhKw, groups: groups)
    }

    @Test("convolution [out, kh, kw, in] on NHWC")
    func convolutionChannelsLast() throws {
        try checkConvolution(Float.self, layout: .outKhKwIn, groups: 1)
        try checkConvolution(Double.self, layout: .outKhKwIn, groups: 1)
    }

    func checkDense<Scalar: BatchNormScalar>(_: Scalar.Type, hasBias: Bool, affine: Bool) throws
    where Scalar.RawSignificand: FixedWidthInteger {
        var generator = SeededGenerator.fresh()
        let (batch, inputs, outputs) = (5, 7, 4)
        let layer = try BatchNorm<Scalar>.random(channelCount: outputs, path: .fused, affine: affine, using: &generator)
        let x = [Scalar].random(count: batch * inputs, in: -2...2, using: &generator)
        let weight = [Scalar].random(count: outputs * inputs, in: -1...1, using: &generator)
        let bias = hasBias ? [Scalar].random(count: outputs, in: -1...1, using: &generator) : nil
        let folded = try layer.fold(weight: weight, shape: [outputs, inputs], bias: bias, layout: .outIn)

        func dense(_ weight: [Scalar], _ bias: [Scalar]?) -> (values: [Double], magnitudes: [Double]) {
            var values = [Double](), magnitudes = [Double]()
            for sample in 0..<batch {
                for output in 0..<outputs {
                    var sum = Double(bias?[output] ?? 0), magnitude = abs(sum)
                    for input in 0..<inputs {
                        let term = Double(x[sample * inputs + input]) * Double(weight[output * inputs + input])
                        sum += term
                        magnitude += abs(term)
                    }
                    values.append(sum)
                    magnitudes.append(magnitude)
                }
            }
            return (values, magnitudes)
        }
        let shape = try TensorShape([batch, outputs])
        try expectFolded(layer, original: dense(weight, bias).values, folded: dense(folded.weight, folded.bias),
                         shape: shape, terms: inputs, "\(Scalar.self) dense bias \(hasBias) affine \(affine) seed \(generator.seed)")
    }

    func checkConvolution<Scalar: BatchNormScalar>(_: Scalar.Type, layout: WeightLayout, groups: Int) throws
    where Scalar.RawSignificand: FixedWidthInteger {
        var generator = SeededGenerator.fresh()
        let (batch, inputs, outputs, height, width, kernelHeight, kernelWidth) = (2, 4, 6, 5, 6, 3, 2)
        let inputsPerGroup = inputs / groups, outputsPerGroup = outputs / groups
        let (outHeight, outWidth) = (height - kernelHeight + 1, width - kernelWidth + 1)
        let channelsLast = layout == .outKhKwIn
        let layer = try BatchNorm<Scalar>.random(channelCount: outputs, path: .fused, using: &generator)
        let x = [Scalar].random(count: batch * inputs * height * width, in: -2...2, using: &generator)
        let weightShape = channelsLast ? [outputs, kernelHeight, kernelWidth, inputsPerGroup]
                                       : [outputs, inputsPerGroup, kernelHeight, kernelWidth]
        let weight = [Scalar].random(count: weightShape.reduce(1, *), in: -1...1, using: &generator)
        let bias = [Scalar].random(count: outputs, in: -1...1, using: &generator)
        let folded = try layer.fold(weight: weight, shape: weightShape, bias: bias, layout: layout)

        /// A direct convolution (stride 1, no padding) in `Double`, in the layout the weight implies.
        func convolution(_ weight: [Scalar], _ bias: [Scalar]) -> (values: [Double], magnitudes: [Double]) {
            func inputIndex(_ n: Int, _ c: Int, _ h: Int, _ w: Int) -> Int {
                channelsLast ? ((n * height + h) * width + w) * inputs + c : ((n * inputs + c) * height + h) * width + w
            }
            func weightIndex(_ o: Int, _ c: Int, _ i: Int, _ j: Int) -> Int {
                channelsLast ? ((o * kernelHeight + i) * kernelWidth + j) * inputsPerGroup + c
                             : ((o * inputsPerGroup + c) * kernelHeight + i) * kernelWidth + j
            }
            func outputIndex(_ n: Int, _ o: Int, _ h: Int, _ w: Int) -> Int {
                channelsLast ? ((n * outHeight + h) * outWidth + w) * outputs + o : ((n * outputs + o) * outHeight + h) * outWidth + w
            }
            let count = batch * outputs * outHeight * outWidth
            var values = [Double](repeating: 0, count: count), magnitudes = [Double](repeating: 0, count: count)
            for n in 0..<batch {
                for o in 0..<outputs {
                    let group = o / outputsPerGroup
                    for h in 0..<outHeight {
                        for w in 0..<outWidth {
                            var sum = Double(bias[o]), magnitude = abs(sum)
                            for c in 0..<inputsPerGroup {
                                for i in 0..<kernelHeight {
                                    for j in 0..<kernelWidth {
                                        let term = Double(x[inputIndex(n, group * inputsPerGroup + c, h + i, w + j)])
                                            * Double(weight[weightIndex(o, c, i, j)])
                                        sum += term
                                        magnitude += abs(term)
                                    }
                                }
                            }
                            values[outputIndex(n, o, h, w)] = sum
                            magnitudes[outputIndex(n, o, h, w)] = magnitude
                        }
                    }
                }
            }
            return (values, magnitudes)
        }
        let shape = channelsLast
            ? try TensorShape([batch, outHeight, outWidth, outputs], layout: .channelsLast)
            : try TensorShape([batch, outputs, outHeight, outWidth])
        try expectFolded(layer, original: convolution(weight, bias).values, folded: convolution(folded.weight, folded.bias),
                         shape: shape, terms: inputsPerGroup * kernelHeight * kernelWidth,
                         "\(Scalar.self) \(layout) groups \(groups) seed \(generator.seed)")
    }

    /// `folded` within `(4 + terms)·u·magnitude` of the float64 batch norm of `original`, per element.
    func expectFolded<Scalar: BatchNormScalar>(
        _ layer: BatchNorm<Scalar>, original: [Double], folded: (values: [Double], magnitudes: [Double]),
        shape: TensorShape, terms: Int, _ context: String
    ) throws {
        var expected = [Double](repeating: 0, count: original.count)
        NaiveBatchNorm.inferenceForward(
            original, shape: shape, runningMean: layer.runningMean.map(Double.init),
            runningVariance: layer.runningVariance.map(Double.init), gamma: layer.affine ? layer.gamma.map(Double.init) : nil,
            beta: layer.affine ? layer.beta.map(Double.init) : nil, epsilon: Double(layer.epsilon), into: &expected)
        let u = unitRoundoff(Scalar.self)
        for index in expected.indices {
            let bound = Double(4 + terms) * u * folded.magnitudes[index]
            #expect(abs(folded.values[index] - expected[index]) <= bound,
                    "\(context) index \(index): \(folded.values[index]) vs \(expected[index]) (bound \(bound))")
        }
    }

    @Test("refusals name the argument and both sizes")
    func refusals() throws {
        let layer = try BatchNorm<Float>(channelCount: 3)
        let weight = [Float](repeating: 1, count: 12)
        #expect(throws: BatchNormError.weightRankMismatch(layout: "out-in-kh-kw", shape: [3, 4], expectedRank: 4)) {
            try layer.fold(weight: weight, shape: [3, 4], bias: nil, layout: .outInKhKw)
        }
        #expect(throws: BatchNormError.weightRankMismatch(layout: "out-in", shape: [3, 2, 2, 1], expectedRank: 2)) {
            try layer.fold(weight: weight, shape: [3, 2, 2, 1], bias: nil, layout: .outIn)
        }
        #expect(throws: BatchNormError.elementCountMismatch(argument: "weight", expected: 15, actual: 12)) {
            try layer.fold(weight: weight, shape: [3, 5], bias: nil, layout: .outIn)
        }
        #expect(throws: BatchNormError.emptyDimension(shape: [3, 0])) {
            try layer.fold(weight: [], shape: [3, 0], bias: nil, layout: .outIn)
        }
        #expect(throws: BatchNormError.parameterLengthMismatch(argument: "runningMean", expected: 4, actual: 3)) {
            try layer.fold(weight: weight, shape: [4, 3], bias: nil, layout: .outIn)
        }
        #expect(throws: BatchNormError.parameterLengthMismatch(argument: "bias", expected: 3, actual: 2)) {
            try layer.fold(weight: weight, shape: [3, 4], bias: [0, 0], layout: .outIn)
        }
        #expect(throws: BatchNormError.parameterLengthMismatch(argument: "gamma", expected: 3, actual: 1)) {
            try BatchNorm<Float>.fold(
                weight: weight, shape: [3, 4], bias: nil, layout: .outIn, runningMean: [0, 0, 0],
                runningVariance: [1, 1, 1], gamma: [1], beta: [0, 0, 0], epsilon: 1e-5)
        }
        #expect(throws: BatchNormError.invalidEpsilon(0)) {
            try BatchNorm<Float>.fold(
                weight: weight, shape: [3, 4], bias: nil, layout: .outIn, runningMean: [0, 0, 0],
                runningVariance: [1, 1, 1], gamma: nil, beta: nil, epsilon: 0)
        }
        let untracked = try BatchNorm<Float>(channelCount: 3, tracksRunningStatistics: false)
        #expect(throws: BatchNormError.runningStatisticsNotTracked) {
            try untracked.fold(weight: weight, shape: [3, 4], bias: nil, layout: .outIn)
        }
    }
}
