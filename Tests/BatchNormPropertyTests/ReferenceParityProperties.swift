import Testing
import PropertyBased
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// On random problems (``BatchNormCase``: rank 2–5, either layout, batch 1–6, 1–40 channels, spatial
/// dimensions 1–7, input `2^e·(c + U(-1, 1))` with `|e| ≤ 20`, `|c| ≤ 16`, affine or not, momentum 0.1
/// or a cumulative average, `Float` and `Double`, both kernel paths) every pass matches the float64
/// naive reference. A failure prints the case as one line, shrunk to the smallest one that still fails,
/// and the `.fixedSeed(...)` that replays it.
///
/// Tolerances are those of the parity suites (`u` is the precision's unit roundoff; the metric is
/// `|actual - expected| / (|expected| + scale)`, see `measureError`), with `scale` the size of the
/// terms whose rounding the result carries. The parity suites' data sit near zero, where that size is
/// 1 for O(1) results and `M` for sums; here the data may sit `|c|` spreads away from zero, and then:
/// - `x̂ = (x - mean)·invstd` carries the rounding of `mean` (about `u·|mean|`, in the float64
///   reference too, which has no two-word mean) amplified by `invstd`: an error of order
///   `u·|mean|·invstd`, so each channel's results are compared at the scale of its
///   `conditioning = 1 + |mean|·invstd` (`mean`, `invstd`: the batch statistics in training, the
///   running ones in inference). This is not slack for the kernels: with `Double` data and a nearly
///   constant channel (`M = 2`, `invstd ≈ 50`, `mean ≈ 4.5`) the kernels agree with an 80-bit
///   reference to 1u and the float64 reference is the one 200u off.
/// - Outputs `y = x·s + (β - mean·s)`, `s = γ·invstd`: 64u in training, 16u in inference (as in the
///   parity suites) at scale `max γ·conditioning`.
/// - Batch mean and running mean: 64u at scale `spread` (the mean's rounding is relative to the values
///   summed, of size `spread·(|c| + 1)`); variance, `invstd` and running variance: 64u relative.
/// - `dx` of training, `γ·invstd/M·(M·dy - dβ - x̂·dγ)`: 64u at scale `max γ·invstd·conditioning`, the
///   size of its terms (`|dy| ≤ 1`); `dx` of inference, `dy·γ·invstd`: 4u relative (two roundings).
/// - `dγ = Σ dy·x̂`: 64u at scale `M·max conditioning`; `dβ = Σ dy`: 64u at scale `M`.
@Suite("Random problems match the float64 reference")
struct ReferenceParityProperties {
    /// Cases per property: the four properties take about 3 s of CPU in a debug build (3,000 cases per
    /// property also ran green).
    static let caseCount = 300

    @Test("training forward: output, batch statistics, running statistics; one value per channel refused")
    func trainingForward() async {
        await propertyCheck(count: Self.caseCount, input: BatchNormCase.generator) { testCase in
            switch testCase.precision {
            case .float32: try checkTrainingForward(Float.self, testCase)
            case .float64: try checkTrainingForward(Double.self, testCase)
            }
        }
    }

    @Test("inference forward with running statistics")
    func inferenceForward() async {
        await propertyCheck(count: Self.caseCount, input: BatchNormCase.generator) { testCase in
            switch testCase.precision {
            case .float32: try checkInferenceForward(Float.self, testCase)
            case .float64: try checkInferenceForward(Double.self, testCase)
            }
        }
    }

    @Test("training backward: dx, dgamma, dbeta")
    func trainingBackward() async {
        await propertyCheck(count: Self.caseCount, input: BatchNormCase.generator) { testCase in
            switch testCase.precision {
            case .float32: try checkTrainingBackward(Float.self, testCase)
            case .float64: try checkTrainingBackward(Double.self, testCase)
            }
        }
    }

    @Test("inference backward: dx, dgamma, dbeta; dx alone the same bits")
    func inferenceBackward() async {
        await propertyCheck(count: Self.caseCount, input: BatchNormCase.generator) { testCase in
            // dx alone and the full backward's dx compared bit for bit across calls: on the BLAS path the
            // sign of a zero follows OpenBLAS's thread count, which must not change in between (ThreadCountGate).
            try await ThreadCountGate.unchanged {
                switch testCase.precision {
                case .float32: try checkInferenceBackward(Float.self, testCase)
                case .float64: try checkInferenceBackward(Double.self, testCase)
                }
            }
        }
    }

    // MARK: - Checks

    func checkTrainingForward<Scalar: BatchNormScalar>(
        _: Scalar.Type, _ testCase: BatchNormCase
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        var problem = try Problem<Scalar>(testCase)
        let shape = problem.shape, before = problem.layer
        guard shape.valuesPerChannel > 1 else {
            #expect(throws: BatchNormError.singleValuePerChannel(shape: shape.dimensions)) {
                try problem.layer.forwardTraining(problem.input, shape: shape)
            }
            #expect(problem.layer == before, "a refused call changed the layer")
            return
        }

        let (output, statistics) = try problem.layer.forwardTraining(problem.input, shape: shape)

        var expected = [Double](repeating: 0, count: problem.input.count)
        let reference = NaiveBatchNorm.trainingForward(
            problem.input.map(Double.init), shape: shape, gamma: problem.gammaInDouble,
            beta: problem.betaInDouble, epsilon: Double(before.epsilon), into: &expected)
        let factor = testCase.cumulativeAverage ? 1 : 0.1
        let expectedRunningMean = zip(before.runningMean, reference.mean).map {
            (1 - factor) * Double($0) + factor * $1
        }
        let expectedRunningVariance = zip(before.runningVariance, reference.unbiasedVariance).map {
            (1 - factor) * Double($0) + factor * $1
        }
        let u = unitRoundoff(Scalar.self)
        let conditioning = Self.conditioning(
            mean: reference.mean, inverseStandardDeviation: reference.inverseStandardDeviation)
        let outputScale = Self.largest(zip(problem.gammaOrOnes, conditioning).map(*))
        expectClose(output, expected, tolerance: 64 * u, scale: outputScale, "y")
        expectClose(statistics.mean, reference.mean, tolerance: 64 * u, scale: testCase.spread, "mean")
        expectClose(statistics.variance, reference.variance, tolerance: 64 * u, scale: 0, "variance")
        expectClose(statistics.inverseStandardDeviation, reference.inverseStandardDeviation,
                    tolerance: 64 * u, scale: 0, "invstd")
        expectClose(problem.layer.runningMean, expectedRunningMean, tolerance: 64 * u, scale: testCase.spread,
                    "running mean")
        expectClose(problem.layer.runningVariance, expectedRunningVariance, tolerance: 64 * u, scale: 0,
                    "running variance")
        #expect(problem.layer.numBatchesTracked == 1)
    }

    func checkInferenceForward<Scalar: BatchNormScalar>(
        _: Scalar.Type, _ testCase: BatchNormCase
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let problem = try Problem<Scalar>(testCase)
        let layer = problem.layer

        let output = try layer.forwardInference(problem.input, shape: problem.shape)

        var expected = [Double](repeating: 0, count: problem.input.count)
        NaiveBatchNorm.inferenceForward(
            problem.input.map(Double.init), shape: problem.shape, runningMean: layer.runningMean.map(Double.init),
            runningVariance: layer.runningVariance.map(Double.init), gamma: problem.gammaInDouble,
            beta: problem.betaInDouble, epsilon: Double(layer.epsilon), into: &expected)
        let u = unitRoundoff(Scalar.self)
        let conditioning = Self.conditioning(
            mean: layer.runningMean.map(Double.init),
            inverseStandardDeviation: layer.runningVariance.map {
                1 / (Double($0) + Double(layer.epsilon)).squareRoot()
            })
        let outputScale = Self.largest(zip(problem.gammaOrOnes, conditioning).map(*))
        expectClose(output, expected, tolerance: 16 * u, scale: outputScale, "y")
    }

    func checkTrainingBackward<Scalar: BatchNormScalar>(
        _: Scalar.Type, _ testCase: BatchNormCase
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        var problem = try Problem<Scalar>(testCase)
        let shape = problem.shape
        guard shape.valuesPerChannel > 1 else { return }  // refused; see the training forward property
        let statistics = try problem.layer.forwardTraining(problem.input, shape: shape).statistics

        let gradients = try problem.layer.backward(
            gradOutput: problem.gradOutput, input: problem.input, shape: shape, statistics: statistics)

        let inputInDouble = problem.input.map(Double.init)
        let reference = NaiveBatchNorm.statistics(inputInDouble, shape: shape, epsilon: Double(problem.layer.epsilon))
        var expected = [Double](repeating: 0, count: problem.input.count)
        let expectedParameters = NaiveBatchNorm.trainingBackward(
            gradOutput: problem.gradOutput.map(Double.init), input: inputInDouble, shape: shape,
            statistics: reference,
            gamma: problem.gammaInDouble, into: &expected)
        let conditioning = Self.conditioning(
            mean: reference.mean, inverseStandardDeviation: reference.inverseStandardDeviation)
        let inputGradientScale = Self.largest((0..<shape.channelCount).map {
            problem.gammaOrOnes[$0] * reference.inverseStandardDeviation[$0] * conditioning[$0]
        })
        let u = unitRoundoff(Scalar.self)
        let m = Double(shape.valuesPerChannel)
        expectClose(gradients.input, expected, tolerance: 64 * u, scale: inputGradientScale, "dx")
        expectClose(gradients.parameters.gamma, expectedParameters.gamma, tolerance: 64 * u,
                    scale: m * Self.largest(conditioning), "dgamma")
        expectClose(gradients.parameters.beta, expectedParameters.beta, tolerance: 64 * u, scale: m, "dbeta")
    }

    func checkInferenceBackward<Scalar: BatchNormScalar>(
        _: Scalar.Type, _ testCase: BatchNormCase
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let problem = try Problem<Scalar>(testCase)
        let layer = problem.layer, shape = problem.shape

        let gradients = try layer.backwardInference(gradOutput: problem.gradOutput, input: problem.input, shape: shape)

        var expected = [Double](repeating: 0, count: problem.input.count)
        let expectedParameters = NaiveBatchNorm.inferenceBackward(
            gradOutput: problem.gradOutput.map(Double.init), input: problem.input.map(Double.init), shape: shape,
            runningMean: layer.runningMean.map(Double.init), runningVariance: layer.runningVariance.map(Double.init),
            gamma: problem.gammaInDouble, epsilon: Double(layer.epsilon), into: &expected)
        let u = unitRoundoff(Scalar.self)
        let m = Double(shape.valuesPerChannel)
        expectClose(gradients.input, expected, tolerance: 4 * u, scale: 0, "dx")
        expectClose(gradients.parameters.gamma, expectedParameters.gamma, tolerance: 64 * u, scale: m, "dgamma")
        expectClose(gradients.parameters.beta, expectedParameters.beta, tolerance: 64 * u, scale: m, "dbeta")
        // Frozen γ and β: dx alone, which reads neither x nor any sum, is the full backward's dx.
        let inputGradientAlone = try layer.inputGradientInference(gradOutput: problem.gradOutput, shape: shape)
        #expect(sameBits(inputGradientAlone, gradients.input), "dx alone")
    }

    // MARK: - Scales

    /// `1 + |mean_c|·invstd_c` per channel: how many standard deviations the channel sits from zero,
    /// which is how much the rounding of its mean is amplified in `x̂`.
    static func conditioning(mean: [Double], inverseStandardDeviation: [Double]) -> [Double] {
        zip(mean, inverseStandardDeviation).map { 1 + abs($0 * $1) }
    }

    /// The largest value (1 for none).
    static func largest(_ values: [Double]) -> Double { values.max() ?? 1 }
}
