import Testing
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// The frozen backward's input gradient alone (`inputGradientInference`: running statistics as constants,
/// `γ` and `β` not learned), plain and through a ReLU masked by `y`, with and without the residual's
/// gradient:
///
/// - `dx` (and `dresidual`) bit for bit what the full backward (`backwardInference`) returns, on random data,
///   a NaN channel, a constant channel, a large offset, and `y` with zeros, NaN and negative zeros; in both
///   layouts and precisions, in 1 to 3 parts, streamed and not, with the residual gradient at every
///   alignment against `dx`; the plain form on the BLAS path too;
/// - parity against the float64 reference on every test shape;
/// - refusals that write nothing.
@Suite("The frozen backward's input gradient alone")
struct FrozenInputGradientTests {
    enum Data: CaseIterable { case random, nanChannel, constantChannel, largeOffset, edgeMask }

    /// The test shapes, and two channels-first shapes whose runs take the run loops (runs of 72 and 100).
    static let shapes: [([Int], TensorLayout)] = TestShapes.all + [([6, 5, 100], .channelsFirst), ([2, 3, 8, 9], .channelsFirst)]

    /// The references and the calls they are compared with must see one thread count: the BLAS path's `dx`
    /// differs in the sign of a zero between OpenBLAS's 1- and 2-thread routines (a `[16, 5]` comparison
    /// failed under TSan while another test set the count).
    @Test("dx and dresidual bit for bit the full backward's", arguments: shapes)
    func againstFullBackward(entry: ([Int], TensorLayout)) async throws {
        let shape = TestShapes.shape(entry)
        try await ThreadCountGate.unchanged {
            for data in Data.allCases {
                try check(Float.self, shape: shape, data: data)
                try check(Double.self, shape: shape, data: data)
            }
        }
    }

    @Test("parity against the float64 reference", arguments: TestShapes.all)
    func parity(entry: ([Int], TensorLayout)) throws {
        try checkParity(Float.self, shape: TestShapes.shape(entry))
        try checkParity(Double.self, shape: TestShapes.shape(entry))
    }

    @Test("a non-affine layer: dx = dy · invstd")
    func nonAffine() throws {
        let shape = try TensorShape([2, 3, 4])
        var layer = try BatchNorm<Double>(channelCount: 3, affine: false)
        layer.runningVariance = [3, 0.25, 15]
        layer.runningMean = [7, -1, 2]
        let gradOutput = (0..<24).map { Double($0) - 11.5 }
        let inputGradient = try layer.inputGradientInference(gradOutput: gradOutput, shape: shape)
        let expected = gradOutput.indices.map { index in
            gradOutput[index] / (layer.runningVariance[(index / 4) % 3] + layer.epsilon).squareRoot()
        }
        for (actual, wanted) in zip(inputGradient, expected) {
            #expect(abs(actual - wanted) <= 2 * wanted.ulp, "\(actual) against \(wanted)")
        }
    }

    @Test("refusals write nothing")
    func refusals() throws {
        let shape = try TensorShape([2, 3, 4])
        let full = [Float](repeating: 1, count: 24), short = [Float](repeating: 1, count: 23)
        try expectRefusal(.elementCountMismatch(argument: "gradOutput", expected: 24, actual: 23)) {
            layer, output throws(BatchNormError) in
            try layer.inputGradientInference(gradOutput: short.span, shape: shape, into: &output)
        }
        try expectRefusal(.runningStatisticsNotTracked, layer: { layer in
            layer = (try? BatchNorm<Float>(channelCount: 3, tracksRunningStatistics: false)) ?? layer
        }) { layer, output throws(BatchNormError) in
            try layer.inputGradientInference(gradOutput: full.span, shape: shape, into: &output)
        }
        try expectRefusal(.parameterLengthMismatch(argument: "runningVariance", expected: 3, actual: 2), layer: { layer in
            layer.runningVariance = [1, 2]
        }) { layer, output throws(BatchNormError) in
            try layer.inputGradientInference(gradOutput: full.span, shape: shape, into: &output)
        }
        for activation in FusedActivation.allCases {
            try expectRefusal(.elementCountMismatch(argument: "forwardOutput", expected: 24, actual: 23)) {
                layer, output throws(BatchNormError) in
                try layer.inputGradientInference(
                    gradOutput: full.span, forwardOutput: short.span, shape: shape, activation: activation, into: &output)
            }
            // The residual gradient is the sentinel-filled output; dx goes to a scratch array of the wrong size.
            try expectRefusal(.elementCountMismatch(argument: "inputGradient", expected: 24, actual: 23)) {
                layer, residualGradient throws(BatchNormError) in
                var inputGradient = short
                var inputGradientSpan = inputGradient.mutableSpan
                try layer.inputGradientInference(
                    gradOutput: full.span, forwardOutput: full.span, shape: shape, activation: activation,
                    into: &inputGradientSpan, residualGradient: &residualGradient)
            }
            // dx is the sentinel-filled output; the residual gradient has the wrong size.
            try expectRefusal(.elementCountMismatch(argument: "residualGradient", expected: 24, actual: 23)) {
                layer, output throws(BatchNormError) in
                var residualGradient = short
                var residualSpan = residualGradient.mutableSpan
                try layer.inputGradientInference(
                    gradOutput: full.span, forwardOutput: full.span, shape: shape, activation: activation,
                    into: &output, residualGradient: &residualSpan)
            }
        }
    }

    /// The input gradient alone against the full backward in one part, unstreamed.
    func check<Scalar: BatchNormScalar>(
        _: Scalar.Type, shape: TensorShape, data: Data
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Scalar>.random(channelCount: shape.channelCount, path: .fused, using: &generator)
        var input = [Scalar].random(count: shape.elementCount, in: -2...3, using: &generator)
        var gradOutput = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        let residual = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        let geometry = shape.geometry
        let firstChannel = input.indices.filter { ($0 / geometry.innerCount) % geometry.channelCount == 0 }
        switch data {
        case .random, .edgeMask: break
        case .nanChannel:
            input[firstChannel[firstChannel.count / 2]] = .nan
            gradOutput[firstChannel[0]] = .nan
        case .constantChannel: for index in firstChannel { input[index] = 0.75 }
        case .largeOffset: input = input.map { 1e4 + $0 / 100 }
        }
        var forwardOutput = try layer.forwardInference(input, shape: shape, residual: residual, activation: .relu)
        if data == .edgeMask {
            // Values exactly 0 and -0 (dz is 0 there), NaN (dz is dy), and dy of -0 where y > 0.
            for index in forwardOutput.indices {
                switch index % 5 {
                case 0: forwardOutput[index] = 0
                case 1: forwardOutput[index] = -0.0
                case 2: forwardOutput[index] = .nan
                case 3: forwardOutput[index] = 1; gradOutput[index] = -0.0
                default: break
                }
            }
            layer.gamma[0] = -layer.gamma[0]
        }
        let context = "\(Scalar.self) \(shape) \(data) seed \(generator.seed)"
        // The full backward of each path (the BLAS composition's dx may differ from the fused one's in the
        // sign of a zero), and through ReLU (fused only).
        var plainReference: [KernelPath: [Scalar]] = [:]
        let reluReference = try FusedTuning.withForcedPartCount(1) {
            try FusedTuning.withForcedStreamingStores(false) {
                for path in KernelPath.allCases {
                    layer.kernelPath = path
                    plainReference[path] = try layer.backwardInference(gradOutput: gradOutput, input: input, shape: shape).input
                }
                layer.kernelPath = .fused
                return try layer.backwardInference(
                    gradOutput: gradOutput, input: input, forwardOutput: forwardOutput, shape: shape,
                    activation: .relu, residualGradient: true)
            }
        }
        let reference = (plain: plainReference[.fused] ?? [], relu: reluReference)
        for (parts, streaming) in [(1, false), (2, true), (3, false), (3, true)] {
            let variant = "\(context) parts \(parts) streaming \(streaming)"
            try FusedTuning.withForcedPartCount(parts) {
                try FusedTuning.withForcedStreamingStores(streaming) {
                    for path in KernelPath.allCases {
                        layer.kernelPath = path
                        let plain = try layer.inputGradientInference(gradOutput: gradOutput, shape: shape)
                        #expect(sameBits(plain, plainReference[path] ?? []), "\(variant) \(path) plain dx")
                    }
                    layer.kernelPath = .fused
                    let relu = try layer.inputGradientInference(
                        gradOutput: gradOutput, forwardOutput: forwardOutput, shape: shape, activation: .relu)
                    #expect(sameBits(relu.input, reference.relu.input), "\(variant) ReLU dx")
                    #expect(relu.residual == nil, "\(variant) no residual gradient asked for")
                    let identity = try layer.inputGradientInference(
                        gradOutput: gradOutput, forwardOutput: forwardOutput, shape: shape, activation: .identity,
                        residualGradient: true)
                    #expect(sameBits(identity.input, reference.plain), "\(variant) identity dx")
                    #expect(sameBits(identity.residual ?? [], gradOutput), "\(variant) identity dresidual")
                    // The residual gradient at each offset from dx's alignment (dz's streaming stores).
                    for offset in 0..<3 {
                        let withResidual = try residualForm(
                            layer, gradOutput: gradOutput, forwardOutput: forwardOutput, shape: shape, offset: offset)
                        #expect(sameBits(withResidual.input, reference.relu.input), "\(variant) offset \(offset) dx")
                        #expect(sameBits(withResidual.residual, reference.relu.residual ?? []),
                                "\(variant) offset \(offset) dresidual")
                    }
                }
            }
        }
    }

    /// The span form with a residual, its gradient written `offset` elements into its storage (a slice
    /// of a larger array, which keeps that array's storage).
    func residualForm<Scalar: BatchNormScalar>(
        _ layer: BatchNorm<Scalar>, gradOutput: [Scalar], forwardOutput: [Scalar], shape: TensorShape, offset: Int
    ) throws -> (input: [Scalar], residual: [Scalar]) {
        var inputGradient = [Scalar](repeating: 7, count: gradOutput.count)
        var residualGradient = [Scalar](repeating: 7, count: gradOutput.count + offset)[offset...]
        var inputGradientSpan = inputGradient.mutableSpan
        var residualSpan = residualGradient.mutableSpan
        try layer.inputGradientInference(
            gradOutput: gradOutput.span, forwardOutput: forwardOutput.span, shape: shape, activation: .relu,
            into: &inputGradientSpan, residualGradient: &residualSpan)
        _ = consume residualSpan
        _ = consume inputGradientSpan
        return (inputGradient, Array(residualGradient))
    }

    /// dx within 4 units of roundoff of the float64 reference's `k·dz` (two roundings: `k`, then the product),
    /// `dresidual` exactly the masked `dy`.
    func checkParity<Scalar: BatchNormScalar>(
        _: Scalar.Type, shape: TensorShape
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        var generator = SeededGenerator.fresh()
        let layer = try BatchNorm<Scalar>.random(channelCount: shape.channelCount, path: .fused, using: &generator)
        let input = [Scalar].random(count: shape.elementCount, in: -2...3, using: &generator)
        let gradOutput = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        let residual = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        let forwardOutput = try layer.forwardInference(input, shape: shape, residual: residual, activation: .relu)
        let context = "\(Scalar.self) \(shape) seed \(generator.seed)"
        let u = unitRoundoff(Scalar.self)
        for relu in [false, true] {
            let masked = relu ? NaiveBatchNorm.reluGradient(gradOutput: gradOutput, forwardOutput: forwardOutput) : gradOutput
            var expected = [Double](repeating: 0, count: input.count)
            _ = NaiveBatchNorm.inferenceBackward(
                gradOutput: masked.map(Double.init), input: input.map(Double.init), shape: shape,
                runningMean: layer.runningMean.map(Double.init), runningVariance: layer.runningVariance.map(Double.init),
                gamma: layer.gammaInDouble, epsilon: Double(layer.epsilon), into: &expected)
            let gradients = try layer.inputGradientInference(
                gradOutput: gradOutput, forwardOutput: forwardOutput, shape: shape,
                activation: relu ? .relu : .identity, residualGradient: true)
            expectClose(gradients.input, expected, tolerance: 4 * u, "\(context) relu \(relu) dx")
            #expect(gradients.residual == masked, "\(context) relu \(relu) dresidual")
        }
    }
}
