import Testing
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// On channels-first groups the group-whitening products run on AVX2 + FMA kernels of our own where the
/// CPU has them (`WhiteningProducts`), on OpenBLAS otherwise; sample-major (channels-last) groups take
/// OpenBLAS's products after an AVX2 centered copy. The other decorrelated suites run the path this CPU
/// takes; this one runs both, with streaming stores forced on and off, on shapes that reach the kernels'
/// whole tiles, masked heads and tails, partial 6-row panels, rows at every alignment (row lengths 37 and
/// 65), two groups, a backward too deep for the kernel's combine (`2·G > 256`: OpenBLAS there, the
/// kernel's forward combine and second moments beside it), and channels-last groups of 8 and 7.
///
/// Each path's training forward is held to the float64 reference with the forward suite's tolerances
/// (Float 2e-5, Double 1e-12, set for `M ≤ 240` products per reduction and condition numbers near 10:
/// the small cases have `M ≤ 192`; the 130-channel group has `M = 600`, `√M` 1.6 times larger, and a weak
/// coupling of 0.1 so that its covariance stays near that condition, where the usual 0.8 coupling to
/// one lead channel makes one eigenvalue about 80 times the others);
/// every other output (Φ, training backward, inference forward and backward) to the OpenBLAS path's,
/// with the same tolerances relative to the largest value: the two paths differ only in summation
/// order and FMA. On a CPU without AVX2 both runs take OpenBLAS and agree trivially.
@Suite("Decorrelated batch norm: AVX2 products against OpenBLAS products")
struct DecorrelatedProductPathTests {
    /// `(dimensions, G, coupling, layout)`.
    static let cases: [([Int], Int, Double, TensorLayout)] = [
        ([3, 8, 37], 8, 0.8, .channelsFirst),          // one group of 8 (a full and a partial panel), rows of 37
        ([2, 14, 5, 13], 7, 0.8, .channelsFirst),      // two groups of 7, rows of 65
        ([2, 16, 96], 16, 0.8, .channelsFirst),        // whole 16-sample tiles
        ([6, 130, 100], 130, 0.1, .channelsFirst),     // depth 260 in the backward: OpenBLAS combine there
        ([3, 37, 8], 8, 0.8, .channelsLast),           // sample-major: the AVX2 centered copy (8 lanes, no tail)
        ([2, 5, 13, 14], 7, 0.8, .channelsLast),       // two groups of 7: masked copies
    ]

    /// Everything one path computes for a layer and its data.
    struct Results<Scalar: BatchNormScalar> {
        var output: [Scalar], mean: [Scalar], whitening: [Scalar]
        var gradients: BatchNormGradients<Scalar>
        var inference: [Scalar]
        var inferenceGradients: BatchNormGradients<Scalar>
    }

    static func run<Scalar: BatchNormScalar>(
        _ layer: DecorrelatedBatchNorm<Scalar>, input: [Scalar], gradOutput: [Scalar], shape: TensorShape
    ) throws -> Results<Scalar> {
        var training = layer
        let (output, statistics) = try training.forwardTraining(input, shape: shape)
        let gradients = try layer.backward(gradOutput: gradOutput, input: input, shape: shape, statistics: statistics)
        // Inference with the updated running statistics (any matrix will do; these are well-conditioned).
        let inference = try training.forwardInference(input, shape: shape)
        let inferenceGradients = try training.backwardInference(gradOutput: gradOutput, input: input, shape: shape)
        return Results(
            output: output, mean: statistics.mean, whitening: statistics.whitening, gradients: gradients,
            inference: inference, inferenceGradients: inferenceGradients)
    }

    @Test("both paths meet the float64 reference and agree", arguments: cases, [false, true])
    func pathsAgree(entry: ([Int], Int, Double, TensorLayout), streaming: Bool) throws {
        try check(Float.self, entry.0, entry.1, coupling: entry.2, layout: entry.3, streaming: streaming, tolerance: 2e-5)
        try check(Double.self, entry.0, entry.1, coupling: entry.2, layout: entry.3, streaming: streaming, tolerance: 1e-12)
    }

    func check<Scalar: BatchNormScalar>(
        _ type: Scalar.Type, _ dimensions: [Int], _ groupSize: Int, coupling: Double, layout: TensorLayout,
        streaming: Bool, tolerance: Double
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let shape = try TensorShape(dimensions, layout: layout)
        var generator = SeededGenerator.fresh()
        let layer = try WhiteningTestData.layer(
            type, channelCount: shape.channelCount, groupSize: groupSize, whitening: .zca, using: &generator)
        let input: [Scalar] = WhiteningTestData.correlated(
            shape, groupSize: groupSize, coupling: coupling, using: &generator)
        let gradOutput = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        let reference = NaiveDecorrelatedBatchNorm.forwardTraining(
            input, shape: shape, groupSize: groupSize, method: .zca, epsilon: Double(layer.epsilon),
            gamma: layer.gamma.map(Double.init), beta: layer.beta.map(Double.init))

        let blas = try WhiteningTuning.withBLASProducts(true) {
            try Self.run(layer, input: input, gradOutput: gradOutput, shape: shape)
        }
        let products = try WhiteningTuning.withBLASProducts(false) {
            try FusedTuning.withForcedStreamingStores(streaming) {
                try Self.run(layer, input: input, gradOutput: gradOutput, shape: shape)
            }
        }
        let context = "\(Scalar.self) \(shape) G=\(groupSize) streaming \(streaming) seed \(generator.seed)"
        expectClose(blas.output, reference.output, tolerance: tolerance, "OpenBLAS output, \(context)")
        expectClose(products.output, reference.output, tolerance: tolerance, "AVX2 output, \(context)")
        expectClose(products.mean, reference.mean, tolerance: tolerance, "mean, \(context)")
        func agree(_ actual: [Scalar], _ expected: [Scalar], _ name: String) {
            let scale = expected.map { abs(Double($0)) }.max() ?? 1
            expectClose(actual, expected.map(Double.init), tolerance: tolerance, scale: max(scale, 1), "\(name), \(context)")
        }
        agree(products.whitening, blas.whitening, "Φ")
        agree(products.gradients.input, blas.gradients.input, "dx")
        agree(products.gradients.parameters.gamma, blas.gradients.parameters.gamma, "dgamma")
        agree(products.gradients.parameters.beta, blas.gradients.parameters.beta, "dbeta")
        agree(products.inference, blas.inference, "inference output")
        agree(products.inferenceGradients.input, blas.inferenceGradients.input, "inference dx")
        agree(products.inferenceGradients.parameters.gamma, blas.inferenceGradients.parameters.gamma, "inference dgamma")
        agree(products.inferenceGradients.parameters.beta, blas.inferenceGradients.parameters.beta, "inference dbeta")
    }

    /// The same data at every offset from a 64-byte boundary (0 ... 15 elements into larger arrays, the
    /// span forms), input, gradient and outputs each at another offset: every output bit the same, on the
    /// path this CPU takes, with streaming stores forced on and off. Reductions whose lanes followed the
    /// addresses (an alignment head) would differ in the last bits from one offset to the next.
    @Test("results do not depend on where the buffers sit", arguments: [false, true])
    func addressIndependence(streaming: Bool) async throws {
        // Bits compared across calls: OpenBLAS's thread count must not change in between (ThreadCountGate).
        try await ThreadCountGate.unchanged {
            try checkAddresses(Float.self, streaming: streaming)
            try checkAddresses(Double.self, streaming: streaming)
        }
    }

    func checkAddresses<Scalar: BatchNormScalar>(_ type: Scalar.Type, streaming: Bool) throws
    where Scalar.RawSignificand: FixedWidthInteger {
        let shape = try TensorShape([3, 8, 45], layout: .channelsFirst)
        let count = shape.elementCount
        var generator = SeededGenerator.fresh()
        let layer = try WhiteningTestData.layer(
            type, channelCount: shape.channelCount, groupSize: 8, whitening: .zca, using: &generator)
        let input: [Scalar] = WhiteningTestData.correlated(shape, groupSize: 8, using: &generator)
        let gradOutput = [Scalar].random(count: count, in: -1...1, using: &generator)

        func outputs(offset: Int) throws -> [[Scalar]] {
            let padded = { (values: [Scalar], shift: Int) -> [Scalar] in
                [Scalar](repeating: .nan, count: shift) + values + [Scalar](repeating: .nan, count: 16 - shift)
            }
            let inputCopy = padded(input, offset), gradCopy = padded(gradOutput, (offset + 5) % 16)
            var output = [Scalar](repeating: .nan, count: count + 16)
            var gradInput = [Scalar](repeating: .nan, count: count + 16)
            var training = layer
            let inputSpan = inputCopy.span.extracting(offset..<(offset + count))
            let gradSpan = gradCopy.span.extracting(((offset + 5) % 16)..<((offset + 5) % 16 + count))
            let outputRange = ((offset + 9) % 16)..<((offset + 9) % 16 + count)
            var outputWhole = output.mutableSpan
            var outputSpan = outputWhole.extracting(outputRange)
            let statistics = try training.forwardTraining(inputSpan, shape: shape, into: &outputSpan)
            var gradInputWhole = gradInput.mutableSpan
            var gradSpanOut = gradInputWhole.extracting(outputRange)
            let parameters = try layer.backward(
                gradOutput: gradSpan, input: inputSpan, shape: shape, statistics: statistics, into: &gradSpanOut)
            return [Array(output[outputRange]), statistics.whitening, statistics.mean, Array(gradInput[outputRange]),
                    parameters.gamma, parameters.beta]
        }
        let expected = try FusedTuning.withForcedStreamingStores(streaming) { try outputs(offset: 0) }
        for offset in 1..<16 {
            let actual = try FusedTuning.withForcedStreamingStores(streaming) { try outputs(offset: offset) }
            for (index, (values, reference)) in zip(actual, expected).enumerated() {
                // Double holds every Float exactly; no NaN is expected in these results.
                let mismatch = values.indices.first { Double(values[$0]).bitPattern != Double(reference[$0]).bitPattern }
                #expect(values.count == reference.count && mismatch == nil,
                        "\(Scalar.self) offset \(offset), result \(index) (output, Φ, mean, dx, dgamma, dbeta), first difference at \(String(describing: mismatch))")
            }
        }
    }
}
