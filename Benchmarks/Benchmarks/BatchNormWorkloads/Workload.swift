import BatchNormKit
import BatchNormReference

/// One shape's data, layer and output buffer, allocated once in a benchmark's setup and reused by every
/// measured call, in the anchors' conventions: `x` uniform in [-0.5, 1.5), `dy` in [-0.5, 0.5), `gamma`
/// in [1, 1.1), `beta` in [0, 0.1), running mean 0.5 and variance 0.33, eps 1e-5.
///
/// A class, so the benchmark closure shares one copy of the buffers with the setup (a struct would be
/// copied out of the benchmark's setup state and copy-on-write the output on the first call).
public final class Workload<Scalar: BatchNormScalar> {
    public let shape: TensorShape
    /// Saved statistics of one training forward pass over the input, for the backward benchmarks.
    public let statistics: BatchStatistics<Scalar>
    /// The layer as a user builds it: the default kernel path (the public API cannot choose another).
    public private(set) var layer: BatchNorm<Scalar>
    public let input: [Scalar]
    public let gradOutput: [Scalar]
    /// The last output (`y`, or `dx` after ``backward()``).
    public private(set) var output: [Scalar]

    /// Fills the buffers with a fixed-seed generator (the same data every run) and runs one training
    /// forward pass for `statistics`.
    public init(shape: TensorShape, seed: UInt64 = 0x5EED_BA7C_4A0B) throws(BatchNormError) {
        var generator = SplitMix64(seed: seed)
        let input: [Scalar] = generator.uniform(count: shape.elementCount, in: -0.5, 1.5)
        var layer = try BatchNorm<Scalar>(channelCount: shape.channelCount)
        layer.gamma = generator.uniform(count: shape.channelCount, in: 1, 1.1)
        layer.beta = generator.uniform(count: shape.channelCount, in: 0, 0.1)
        var trainingLayer = layer
        self.statistics = try trainingLayer.forwardTraining(input, shape: shape).statistics
        layer.runningMean = [Scalar](repeating: 0.5, count: shape.channelCount)
        layer.runningVariance = [Scalar](repeating: 0.33, count: shape.channelCount)
        self.shape = shape
        self.layer = layer
        self.input = input
        self.gradOutput = generator.uniform(count: shape.elementCount, in: -0.5, 0.5)
        self.output = [Scalar](repeating: 0, count: shape.elementCount)
    }

    /// One training forward pass into `output` (also updates the layer's running statistics).
    public func forwardTraining() throws(BatchNormError) -> BatchStatistics<Scalar> {
        try withOutput { input, _, outputSpan throws(BatchNormError) in
            try layer.forwardTraining(input.span, shape: shape, into: &outputSpan)
        }
    }

    /// One inference forward pass into `output`.
    public func forwardInference() throws(BatchNormError) {
        try withOutput { input, _, outputSpan throws(BatchNormError) in
            try layer.forwardInference(input.span, shape: shape, into: &outputSpan)
        }
    }

    /// One backward pass (`dx` into `output`); returns `dγ` and `dβ`.
    public func backward() throws(BatchNormError) -> ParameterGradients<Scalar> {
        try withOutput { input, gradOutput, inputGradientSpan throws(BatchNormError) in
            try layer.backward(
                gradOutput: gradOutput.span, input: input.span, shape: shape, statistics: statistics,
                into: &inputGradientSpan)
        }
    }

    /// Runs `direction` once and returns a value that depends on the result, for `blackHole`.
    public func run(_ direction: BenchmarkDirection) throws(BatchNormError) -> Scalar {
        switch direction {
        case .forwardTraining:
            return try forwardTraining().inverseStandardDeviation[0]
        case .forwardInference:
            try forwardInference()
            return output[output.count - 1]
        case .backward:
            return try backward().gamma[0]
        }
    }

    /// Lends `body` the inputs and a `MutableSpan` over the output buffer. Spans cannot borrow a class's
    /// stored properties across a call, so the arrays are moved into locals first: `swap` moves the
    /// output without copying (it stays uniquely referenced, so no copy-on-write), the inputs cost a
    /// retain. All of it O(1), nothing allocated.
    private func withOutput<Result>(
        _ body: (borrowing [Scalar], borrowing [Scalar], inout MutableSpan<Scalar>) throws(BatchNormError) -> Result
    ) throws(BatchNormError) -> Result {
        var buffer: [Scalar] = []
        swap(&buffer, &output)
        defer { swap(&buffer, &output) }
        let input = self.input
        let gradOutput = self.gradOutput
        var outputSpan = buffer.mutableSpan
        return try body(input, gradOutput, &outputSpan)
    }
}
