import BatchNormKit
import BatchNormReference
import Kernels
import ArgumentParser

/// What `batchnorm bench` times.
enum BenchDirection: String, CaseIterable {
    case forwardTraining = "fwd-train"
    case forwardInference = "fwd-infer"
    case backward = "bwd"
    /// The backward with the running statistics as constants (inference mode, frozen batch norm).
    case backwardInference = "bwd-infer"
    /// The input gradient alone with the running statistics as constants (frozen batch norm with fixed
    /// γ and β: `inputGradientInference`).
    case inferenceInputGradient = "bwd-infer-dx"

    /// The directions of `--direction all`, the ones the peers' table compares.
    static let compared: [BenchDirection] = [.forwardTraining, .forwardInference, .backward]

    var isBackward: Bool { self == .backward || self == .backwardInference || self == .inferenceInputGradient }

    /// Minimal memory traffic in units of the tensor size: read x (and dy) once, write the output once
    /// (the input gradient alone reads dy only).
    var trafficMultiple: Int { isBackward && self != .inferenceInputGradient ? 3 : 2 }
}

/// What follows batch norm in a benchmark (`--activation`): nothing, ReLU, or residual add + ReLU.
/// `relu` times the backward that recomputes the mask from `x`; `relu-y` the one that reads `y`.
enum BenchActivation: String, CaseIterable, ExpressibleByArgument {
    case none, relu, reluFromOutput = "relu-y", addRelu = "add-relu"

    var activation: FusedActivation { self == .none ? .identity : .relu }
    var hasResidual: Bool { self == .addRelu }

    /// Minimal traffic of `direction`, in tensor sizes (the anchors' convention): the residual adds a
    /// read forward; backward reads `y` for the mask and, with a residual, writes `dresidual`.
    func trafficMultiple(_ direction: BenchDirection) -> Int {
        switch (direction, self) {
        case (_, .none): direction.trafficMultiple
        case (.inferenceInputGradient, .addRelu): 4
        case (.inferenceInputGradient, _): 3
        case (.backward, .relu), (.backward, .reluFromOutput), (.backwardInference, .relu),
             (.backwardInference, .reluFromOutput): 4
        case (.backward, .addRelu), (.backwardInference, .addRelu): 5
        case (_, .relu), (_, .reluFromOutput): 2
        case (_, .addRelu): 3
        }
    }

    /// The direction's name in the report: `fwd-train`, `fwd-train+relu`, `bwd+add-relu`, ...
    func label(_ direction: BenchDirection) -> String {
        self == .none ? direction.rawValue : "\(direction.rawValue)+\(rawValue)"
    }
}

/// An implementation under test: the naive reference or one kernel path.
enum BenchImplementation: Hashable, CustomStringConvertible {
    case naive
    case kernel(KernelPath)

    static var all: [BenchImplementation] { [.naive] + KernelPath.allCases.map { .kernel($0) } }

    var description: String {
        switch self {
        case .naive: "naive"
        case .kernel(let path): path.rawValue
        }
    }
}

/// One shape's data, parameters and output buffers, in the anchors' conventions: x uniform in
/// [-0.5, 1.5), dy in [-0.5, 0.5), gamma in [1, 1.1), beta in [0, 0.1), running mean 0.5 and variance
/// 0.33, eps 1e-5. Buffers are allocated once and reused by every timed call.
struct BenchWorkload<Scalar: BatchNormScalar> where Scalar.RawSignificand: FixedWidthInteger {
    let shape: TensorShape
    let input: [Scalar]
    let gradOutput: [Scalar]
    var layer: BatchNorm<Scalar>
    var output: [Scalar]
    let statistics: BatchStatistics<Scalar>
    let activation: BenchActivation
    /// Uniform in [-0.5, 0.5) (the anchors' residual); empty without `add-relu`.
    let residual: [Scalar]
    /// The fused training forward's `y` (with the activation), whose mask the backward reads.
    let forwardOutput: [Scalar]
    /// Where backward writes `dresidual` (`add-relu`).
    var residualGradient: [Scalar]

    init(shape: TensorShape, activation: BenchActivation = .none) throws {
        var generator = SplitMix64(seed: 0x5EED_BA7C_4_0001)
        self.shape = shape
        input = (0..<shape.elementCount).map { _ in Scalar.random(in: -0.5..<1.5, using: &generator) }
        gradOutput = (0..<shape.elementCount).map { _ in Scalar.random(in: -0.5..<0.5, using: &generator) }
        layer = try BatchNorm<Scalar>(channelCount: shape.channelCount)
        layer.gamma = (0..<shape.channelCount).map { _ in Scalar.random(in: 1..<1.1, using: &generator) }
        layer.beta = (0..<shape.channelCount).map { _ in Scalar.random(in: 0..<0.1, using: &generator) }
        layer.runningMean = .init(repeating: 0.5, count: shape.channelCount)
        layer.runningVariance = .init(repeating: 0.33, count: shape.channelCount)
        output = .init(repeating: 0, count: shape.elementCount)
        // The saved statistics every backward implementation receives (computed once, on the fused path).
        self.activation = activation
        residual = activation.hasResidual
            ? (0..<shape.elementCount).map { _ in Scalar.random(in: -0.5..<0.5, using: &generator) } : []
        residualGradient = .init(repeating: 0, count: activation.hasResidual ? shape.elementCount : 0)
        var scratch = layer
        scratch.kernelPath = .fused
        (forwardOutput, statistics) = try scratch.forwardTraining(
            input, shape: shape, residual: activation.hasResidual ? residual : nil, activation: activation.activation)
    }

    /// One call of `implementation` in `direction`, writing `output`.
    mutating func run(_ direction: BenchDirection, _ implementation: BenchImplementation) throws {
        switch implementation {
        case .naive where activation != .none:
            runNaiveWithActivation(direction)
        case .naive:
            switch direction {
            case .forwardTraining:
                _ = NaiveBatchNorm.trainingForward(
                    input, shape: shape, gamma: layer.gamma, beta: layer.beta, epsilon: Double(layer.epsilon),
                    into: &output)
            case .forwardInference:
                NaiveBatchNorm.inferenceForward(
                    input, shape: shape, runningMean: layer.runningMean, runningVariance: layer.runningVariance,
                    gamma: layer.gamma, beta: layer.beta, epsilon: Double(layer.epsilon), into: &output)
            case .backward:
                _ = NaiveBatchNorm.trainingBackward(
                    gradOutput: gradOutput, input: input, shape: shape, mean: statistics.mean.map(Double.init),
                    inverseStandardDeviation: statistics.inverseStandardDeviation.map(Double.init),
                    gamma: layer.gamma, into: &output)
            case .backwardInference, .inferenceInputGradient:
                // (The reference's dx alone is the same loop; its sums are the baseline's cost.)
                _ = NaiveBatchNorm.inferenceBackward(
                    gradOutput: gradOutput, input: input, shape: shape, runningMean: layer.runningMean,
                    runningVariance: layer.runningVariance, gamma: layer.gamma, epsilon: Double(layer.epsilon),
                    into: &output)
            }
        case .kernel(let path):
            // Move the buffer and the layer out of `self` (no copy) so the span and the call do not overlap.
            var buffer: [Scalar] = []
            swap(&buffer, &output)
            var layer = self.layer
            defer {
                swap(&buffer, &output)
                self.layer = layer
            }
            layer.kernelPath = path
            var outputSpan = buffer.mutableSpan
            if activation != .none {
                try runWithActivation(direction, &layer, &outputSpan)
                return
            }
            switch direction {
            case .forwardTraining:
                _ = try layer.forwardTraining(input.span, shape: shape, into: &outputSpan)
            case .forwardInference:
                try layer.forwardInference(input.span, shape: shape, into: &outputSpan)
            case .backward:
                _ = try layer.backward(
                    gradOutput: gradOutput.span, input: input.span, shape: shape, statistics: statistics,
                    into: &outputSpan)
            case .backwardInference:
                _ = try layer.backwardInference(
                    gradOutput: gradOutput.span, input: input.span, shape: shape, into: &outputSpan)
            case .inferenceInputGradient:
                try layer.inputGradientInference(gradOutput: gradOutput.span, shape: shape, into: &outputSpan)
            }
        }
    }

    /// One call with the fused epilogue (`--activation relu|add-relu`), writing `output`.
    private mutating func runWithActivation(
        _ direction: BenchDirection, _ layer: inout BatchNorm<Scalar>, _ outputSpan: inout MutableSpan<Scalar>
    ) throws {
        let relu = activation.activation
        switch (direction, activation.hasResidual) {
        case (.forwardTraining, false):
            _ = try layer.forwardTraining(input.span, shape: shape, residual: nil, activation: relu, into: &outputSpan)
        case (.forwardTraining, true):
            _ = try layer.forwardTraining(input.span, shape: shape, residual: residual.span, activation: relu, into: &outputSpan)
        case (.forwardInference, false):
            try layer.forwardInference(input.span, shape: shape, residual: nil, activation: relu, into: &outputSpan)
        case (.forwardInference, true):
            try layer.forwardInference(input.span, shape: shape, residual: residual.span, activation: relu, into: &outputSpan)
        case (.backward, false) where activation == .relu:
            _ = try layer.backward(
                gradOutput: gradOutput.span, input: input.span, shape: shape, statistics: statistics,
                activation: relu, into: &outputSpan)
        case (.backward, false):
            _ = try layer.backward(
                gradOutput: gradOutput.span, input: input.span, forwardOutput: forwardOutput.span, shape: shape,
                statistics: statistics, activation: relu, into: &outputSpan)
        case (.backward, true), (.backwardInference, true), (.inferenceInputGradient, true):
            // Move the buffer out of `self` (no copy), as `run` does with `output`.
            var buffer: [Scalar] = []
            swap(&buffer, &residualGradient)
            defer { swap(&buffer, &residualGradient) }
            var residualSpan = buffer.mutableSpan
            if direction == .backwardInference {
                _ = try layer.backwardInference(
                    gradOutput: gradOutput.span, input: input.span, forwardOutput: forwardOutput.span, shape: shape,
                    activation: relu, into: &outputSpan, residualGradient: &residualSpan)
            } else if direction == .inferenceInputGradient {
                try layer.inputGradientInference(
                    gradOutput: gradOutput.span, forwardOutput: forwardOutput.span, shape: shape, activation: relu,
                    into: &outputSpan, residualGradient: &residualSpan)
            } else {
                _ = try layer.backward(
                    gradOutput: gradOutput.span, input: input.span, forwardOutput: forwardOutput.span, shape: shape,
                    statistics: statistics, activation: relu, into: &outputSpan, residualGradient: &residualSpan)
            }
        case (.backwardInference, false):
            // (The inference backward always reads the mask from `y`.)
            _ = try layer.backwardInference(
                gradOutput: gradOutput.span, input: input.span, forwardOutput: forwardOutput.span, shape: shape,
                activation: relu, into: &outputSpan)
        case (.inferenceInputGradient, false):
            try layer.inputGradientInference(
                gradOutput: gradOutput.span, forwardOutput: forwardOutput.span, shape: shape, activation: relu,
                into: &outputSpan)
        }
    }

    /// The naive reference with the epilogue: plain loops, then `relu(y + r)` or the mask of `dy`.
    private mutating func runNaiveWithActivation(_ direction: BenchDirection) {
        let residual = activation.hasResidual ? self.residual : nil
        switch direction {
        case .forwardTraining:
            _ = NaiveBatchNorm.trainingForward(
                input, shape: shape, residual: residual, relu: true, gamma: layer.gamma, beta: layer.beta,
                epsilon: Double(layer.epsilon), into: &output)
        case .forwardInference:
            NaiveBatchNorm.inferenceForward(
                input, shape: shape, residual: residual, relu: true, runningMean: layer.runningMean,
                runningVariance: layer.runningVariance, gamma: layer.gamma, beta: layer.beta,
                epsilon: Double(layer.epsilon), into: &output)
        case .backward:
            let masked = NaiveBatchNorm.reluGradient(gradOutput: gradOutput, forwardOutput: forwardOutput)
            if activation.hasResidual { residualGradient = masked }
            _ = NaiveBatchNorm.trainingBackward(
                gradOutput: masked, input: input, shape: shape, mean: statistics.mean.map(Double.init),
                inverseStandardDeviation: statistics.inverseStandardDeviation.map(Double.init),
                gamma: layer.gamma, into: &output)
        case .backwardInference, .inferenceInputGradient:
            let masked = NaiveBatchNorm.reluGradient(gradOutput: gradOutput, forwardOutput: forwardOutput)
            if activation.hasResidual { residualGradient = masked }
            _ = NaiveBatchNorm.inferenceBackward(
                gradOutput: masked, input: input, shape: shape, runningMean: layer.runningMean,
                runningVariance: layer.runningVariance, gamma: layer.gamma, epsilon: Double(layer.epsilon),
                into: &output)
        }
    }

    /// The float64 reference of `direction` on the same data (the naive implementation run on `Double`),
    /// with the activation's epilogue (forward) or mask from the fused forward's `y` (backward).
    func reference(_ direction: BenchDirection) -> [Double] {
        var expected = plainReference(direction, gradOutput: activation == .none ? gradOutput.map(Double.init)
            : NaiveBatchNorm.reluGradient(gradOutput: gradOutput, forwardOutput: forwardOutput).map(Double.init))
        if !direction.isBackward && activation != .none {
            NaiveBatchNorm.applyEpilogue(
                to: &expected, residual: activation.hasResidual ? residual.map(Double.init) : nil, relu: true)
        }
        return expected
    }

    private func plainReference(_ direction: BenchDirection, gradOutput: [Double]) -> [Double] {
        let inputInDouble = input.map(Double.init)
        var expected = [Double](repeating: 0, count: input.count)
        let gamma = layer.gamma.map(Double.init), beta = layer.beta.map(Double.init)
        switch direction {
        case .forwardTraining:
            _ = NaiveBatchNorm.trainingForward(
                inputInDouble, shape: shape, gamma: gamma, beta: beta, epsilon: Double(layer.epsilon), into: &expected)
        case .forwardInference:
            NaiveBatchNorm.inferenceForward(
                inputInDouble, shape: shape, runningMean: layer.runningMean.map(Double.init),
                runningVariance: layer.runningVariance.map(Double.init), gamma: gamma, beta: beta,
                epsilon: Double(layer.epsilon), into: &expected)
        case .backward:
            let statistics = NaiveBatchNorm.statistics(inputInDouble, shape: shape, epsilon: Double(layer.epsilon))
            _ = NaiveBatchNorm.trainingBackward(
                gradOutput: gradOutput, input: inputInDouble, shape: shape, statistics: statistics, gamma: gamma, into: &expected)
        case .backwardInference, .inferenceInputGradient:
            _ = NaiveBatchNorm.inferenceBackward(
                gradOutput: gradOutput, input: inputInDouble, shape: shape,
                runningMean: layer.runningMean.map(Double.init), runningVariance: layer.runningVariance.map(Double.init),
                gamma: gamma, epsilon: Double(layer.epsilon), into: &expected)
        }
        return expected
    }

    /// Largest `|output - expected| / (|expected| + 1)` of the last run (outputs are O(1)).
    func maximumError(against expected: [Double]) -> Double {
        var worst = 0.0
        for index in output.indices {
            let error = abs(Double(output[index]) - expected[index]) / (abs(expected[index]) + 1)
            if !(error <= worst) { worst = error }
        }
        return worst
    }
}
