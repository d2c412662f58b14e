import Testing
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// Forward passes of every kernel path against the float64 naive reference, on fresh random data,
/// for every rank and layout and both precisions.
///
/// Tolerances, in units of the precision's unit roundoff `u` and in the metric
/// `|actual - expected| / (|expected| + 1)` (outputs are O(1) after normalization):
/// the elementwise step rounds 4 times (subtract, multiply, add, and the folded scale) and the
/// statistics carry the rounding of sums over `M ≤ 400` values; OpenBLAS sums in blocked SIMD lanes, so
/// their error grows like `√M·u`, not `M·u`. `forwardTolerance = 64u` holds that with margin; the
/// measured worst cases are about 4–10 u.
@Suite("Forward parity against the float64 reference")
struct ForwardParityTests {
    static let cases = TestShapes.all.flatMap { entry in KernelPath.allCases.map { (entry, $0) } }

    @Test("training forward", arguments: cases)
    func training(entry: ([Int], TensorLayout), path: KernelPath) throws {
        try checkTraining(Float.self, entry: entry, path: path, affine: true)
        try checkTraining(Double.self, entry: entry, path: path, affine: true)
        try checkTraining(Float.self, entry: entry, path: path, affine: false)
        try checkTraining(Double.self, entry: entry, path: path, affine: false)
    }

    @Test("inference forward", arguments: cases)
    func inference(entry: ([Int], TensorLayout), path: KernelPath) throws {
        try checkInference(Float.self, entry: entry, path: path)
        try checkInference(Double.self, entry: entry, path: path)
    }

    /// Few rows of many channels (32,771: vectors cross rows), whose periodic coefficient arrays (128 KiB
    /// and more in both precisions) the fused normalize builds in scratch memory kept between calls
    /// (`ScratchMemory`): the inference forward twice (the second call reuses the first call's scratch),
    /// with ReLU and with the residual add + ReLU, and the training forward, in `[N, C]` and in
    /// channels-last. Eight rows, so that no channel's values lie so close together that its training
    /// output is ill-conditioned beyond the stated tolerance (with three rows, some of the 32,771 channels
    /// did). Bit-for-bit parity with the Swift loops' route, which builds arrays instead:
    /// `WideLoopParityTests`' wide rows.
    @Test("few wide rows (coefficients in scratch memory)",
          arguments: [([8, 32771], TensorLayout.channelsFirst), ([2, 2, 2, 32771], .channelsLast)])
    func fewWideRows(entry: ([Int], TensorLayout)) throws {
        for _ in 0..<2 {
            try checkInference(Float.self, entry: entry, path: .fused)
            try checkInference(Double.self, entry: entry, path: .fused)
        }
        let activation = ActivationParityTests()
        for epilogue in [EpilogueCase.relu, .addRelu] {
            try activation.checkInference(Float.self, entry: entry, epilogue: epilogue, path: .fused)
        }
        try checkTraining(Float.self, entry: entry, path: .fused, affine: true)
        try checkTraining(Double.self, entry: entry, path: .fused, affine: true)
    }

    func checkTraining<Scalar: BatchNormScalar>(
        _: Scalar.Type, entry: ([Int], TensorLayout), path: KernelPath, affine: Bool
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let shape = TestShapes.shape(entry)
        guard shape.valuesPerChannel > 1 else { return }
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Scalar>(channelCount: shape.channelCount, momentum: 0.25, affine: affine)
        layer.kernelPath = path
        if affine {
            layer.gamma = .random(count: shape.channelCount, in: 0.5...1.5, using: &generator)
            layer.beta = .random(count: shape.channelCount, in: -1...1, using: &generator)
        }
        layer.runningMean = .random(count: shape.channelCount, in: -1...1, using: &generator)
        layer.runningVariance = .random(count: shape.channelCount, in: 0.5...2, using: &generator)
        let input = [Scalar].random(count: shape.elementCount, in: -2...3, using: &generator)
        let before = layer

        let (output, statistics) = try layer.forwardTraining(input, shape: shape)

        var expected = [Double](repeating: 0, count: input.count)
        let reference = NaiveBatchNorm.trainingForward(
            input.map(Double.init), shape: shape, gamma: affine ? before.gamma.map(Double.init) : nil,
            beta: affine ? before.beta.map(Double.init) : nil, epsilon: Double(layer.epsilon), into: &expected)
        let u = unitRoundoff(Scalar.self)
        let context = "\(Scalar.self) \(shape) \(path) affine \(affine) seed \(generator.seed)"
        expectClose(output, expected, tolerance: 64 * u, context)
        expectClose(statistics.mean, reference.mean, tolerance: 64 * u, context + " mean")
        expectClose(statistics.variance, reference.variance, tolerance: 64 * u, scale: 0, context + " variance")
        expectClose(statistics.inverseStandardDeviation, reference.inverseStandardDeviation,
                    tolerance: 64 * u, scale: 0, context + " invstd")
        let expectedRunningMean = zip(before.runningMean, reference.mean).map { 0.75 * Double($0) + 0.25 * $1 }
        let expectedRunningVariance = zip(before.runningVariance, reference.unbiasedVariance).map {
            0.75 * Double($0) + 0.25 * $1
        }
        expectClose(layer.runningMean, expectedRunningMean, tolerance: 64 * u, context + " running mean")
        expectClose(layer.runningVariance, expectedRunningVariance, tolerance: 64 * u, scale: 0,
                    context + " running variance")
        #expect(layer.numBatchesTracked == 1)
    }

    func checkInference<Scalar: BatchNormScalar>(
        _: Scalar.Type, entry: ([Int], TensorLayout), path: KernelPath
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        let shape = TestShapes.shape(entry)
        var generator = SeededGenerator.fresh()
        var layer = try BatchNorm<Scalar>(channelCount: shape.channelCount)
        layer.kernelPath = path
        layer.gamma = .random(count: shape.channelCount, in: 0.5...1.5, using: &generator)
        layer.beta = .random(count: shape.channelCount, in: -1...1, using: &generator)
        layer.runningMean = .random(count: shape.channelCount, in: -1...1, using: &generator)
        layer.runningVariance = .random(count: shape.channelCount, in: 0.5...2, using: &generator)
        let input = [Scalar].random(count: shape.elementCount, in: -2...3, using: &generator)

        let output = try layer.forwardInference(input, shape: shape)

        var expected = [Double](repeating: 0, count: input.count)
        NaiveBatchNorm.inferenceForward(
            input.map(Double.init), shape: shape, runningMean: layer.runningMean.map(Double.init),
            runningVariance: layer.runningVariance.map(Double.init), gamma: layer.gamma.map(Double.init),
            beta: layer.beta.map(Double.init), epsilon: Double(layer.epsilon), into: &expected)
        let u = unitRoundoff(Scalar.self)
        expectClose(output, expected, tolerance: 16 * u, "\(Scalar.self) \(shape) \(path) seed \(generator.seed)")
    }
}
