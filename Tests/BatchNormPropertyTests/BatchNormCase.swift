import BatchNormKit
import Kernels
import PropertyBased
import Testing
import BatchNormTestSupport

/// One random batch-norm problem, described by a handful of small numbers so that a failing case
/// prints as one readable line and shrinks towards the simplest problem: `Float`, the BLAS path,
/// channels-first, affine, momentum 0.1, shape `[1, 1]`, data centred on 0 with spread 1, seed 0.
///
/// The tensors are not part of the case: ``Problem`` draws them from ``dataSeed``, so the printed
/// line is enough to replay the data (`SeededGenerator(seed:)`), and shrinking moves the shape and
/// the distribution rather than thousands of individual values.
struct BatchNormCase: Sendable, CustomTestStringConvertible {
    enum Precision: String, Sendable, CaseIterable {
        case float32 = "Float"
        case float64 = "Double"
    }

    var precision: Precision
    var path: KernelPath
    var layout: TensorLayout
    /// Whether the layer has `gamma` and `beta`.
    var affine: Bool
    /// `momentum: nil` (a cumulative average) instead of `0.1`.
    var cumulativeAverage: Bool
    /// `N`, 1...6.
    var batchSize: Int
    /// `C`, 1...40.
    var channelCount: Int
    /// Zero to three spatial dimensions of 1...7 each: ranks 2 to 5.
    var spatialDimensions: [Int]
    /// The input is `spread · (center + U(-1, 1))`: `center` spreads away from zero.
    var center: Int
    /// `spread = 2^spreadExponent`.
    var spreadExponent: Int
    /// Seed of the tensor values, the parameters and the running statistics.
    var dataSeed: UInt64

    /// The dimensions in logical order for ``layout``.
    var dimensions: [Int] {
        switch layout {
        case .channelsFirst: [batchSize, channelCount] + spatialDimensions
        case .channelsLast: [batchSize] + spatialDimensions + [channelCount]
        }
    }

    /// The standard unit of the input values, `2^spreadExponent` (exact in both precisions).
    var spread: Double { Double(sign: .plus, exponent: spreadExponent, significand: 1) }

    var testDescription: String {
        "\(precision.rawValue) \(dimensions) \(layout) \(path) \(affine ? "affine" : "non-affine") "
            + "momentum \(cumulativeAverage ? "nil" : "0.1"), "
            + "x = 2^\(spreadExponent)·(\(center) + U(-1, 1)), seed \(dataSeed)"
    }

    /// Every field from a generator of its own, zipped so that shrinking works field by field: indices
    /// and sizes shrink towards their lower bound (`Float`, BLAS, channels-first, fewer and smaller
    /// dimensions), `center`, `spreadExponent` and the seed towards 0, and the two flags towards the
    /// common layer (affine, momentum 0.1).
    static let generator = zip(
        zip(
            Gen.int(in: 0...(Precision.allCases.count - 1)),
            Gen.int(in: 0...(KernelPath.allCases.count - 1)),
            Gen.int(in: 0...(TensorLayout.allCases.count - 1)),
            Gen.bool,  // non-affine (shrinks to false: affine)
            Gen.bool  // cumulative average (shrinks to false: momentum 0.1)
        ),
        zip(
            Gen.int(in: 1...6),
            Gen.int(in: 1...40),
            Gen.int(in: 1...7).array(of: 0...3),
            Gen.int(in: -16...16),
            Gen.int(in: -20...20),
            Gen.uint64(in: 0...UInt64.max)
        )
    ).map { configuration, data in
        BatchNormCase(
            precision: Precision.allCases[configuration.0], path: KernelPath.allCases[configuration.1],
            layout: TensorLayout.allCases[configuration.2], affine: !configuration.3,
            cumulativeAverage: configuration.4, batchSize: data.0, channelCount: data.1,
            spatialDimensions: data.2, center: data.3, spreadExponent: data.4, dataSeed: data.5)
    }
}

/// The tensors and the layer of a ``BatchNormCase`` in one precision, drawn from its seed:
///
/// - input `x = spread · (center + U(-1, 1))`, output gradient `dy = U(-1, 1)`;
/// - `gamma = U(0.5, 1.5)`, `beta = U(-1, 1)` (affine layers);
/// - running statistics near the data, as after training on it: `runningMean = spread · (center +
///   U(-0.5, 0.5))`, `runningVariance = spread² · U(0.25, 1)` (the data's variance is `spread² / 3`).
struct Problem<Scalar: BatchNormScalar> where Scalar.RawSignificand: FixedWidthInteger {
    let shape: TensorShape
    var layer: BatchNorm<Scalar>
    let input: [Scalar]
    let gradOutput: [Scalar]

    init(_ testCase: BatchNormCase) throws {
        shape = try TensorShape(testCase.dimensions, layout: testCase.layout)
        var generator = SeededGenerator(seed: testCase.dataSeed)
        let spread = Scalar(testCase.spread), center = Scalar(testCase.center)
        let channelCount = testCase.channelCount
        layer = try BatchNorm<Scalar>(
            channelCount: channelCount, momentum: testCase.cumulativeAverage ? nil : 0.1, affine: testCase.affine)
        layer.kernelPath = testCase.path
        if testCase.affine {
            layer.gamma = .random(count: channelCount, in: 0.5...1.5, using: &generator)
            layer.beta = .random(count: channelCount, in: -1...1, using: &generator)
        }
        layer.runningMean = [Scalar].random(count: channelCount, in: -0.5...0.5, using: &generator)
            .map { spread * (center + $0) }
        layer.runningVariance = [Scalar].random(count: channelCount, in: 0.25...1, using: &generator)
            .map { spread * spread * $0 }
        input = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
            .map { spread * (center + $0) }
        gradOutput = .random(count: shape.elementCount, in: -1...1, using: &generator)
    }

    var gammaInDouble: [Double]? { layer.affine ? layer.gamma.map(Double.init) : nil }
    var betaInDouble: [Double]? { layer.affine ? layer.beta.map(Double.init) : nil }
    /// `|gamma|` in `Double`, all ones for a non-affine layer.
    var gammaOrOnes: [Double] { gammaInDouble?.map(abs) ?? Array(repeating: 1, count: shape.channelCount) }
}
