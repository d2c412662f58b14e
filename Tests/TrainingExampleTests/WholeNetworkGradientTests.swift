import Testing
import BatchNormKit
import BatchNormReference
@testable import TrainingExample

/// The whole network's backward pass (softmax cross-entropy, dense layers on dgemm, BatchNormKit's
/// training backward, activations) against central finite differences of the mean loss, in `Double`,
/// on a tiny batch: every weight, bias, gamma and beta.
///
/// Tolerance: `|analytic - numeric| <= 1e-6 · max(|analytic|, |numeric|) + 1e-9`. With step `h = 1e-5`
/// the central difference is off by `h² · |L'''| / 6 ≈ 1e-11` (derivatives of order 1 at this scale)
/// plus rounding `≈ ε · |L| / h ≈ 2e-16 · 2 / 1e-5 ≈ 4e-11`, both far below 1e-9; a real mistake (a
/// term of the batch-norm gradient left out, a transposed product) moves gradients by 1% or more.
/// ``checkCanFail()`` shows the comparison flags a gradient off by 0.1%.
@Suite("Whole-network gradient check")
struct WholeNetworkGradientTests {
    static let configurations: [(batchNorm: Bool, activation: Activation)] = [
        (true, .sigmoid), (true, .relu), (false, .sigmoid), (false, .relu),
    ]

    @Test("backward equals central finite differences", arguments: configurations)
    func matchesFiniteDifferences(batchNorm: Bool, activation: Activation) throws {
        var fixture = try Fixture(batchNorm: batchNorm, activation: activation)
        let mismatches = try fixture.mismatches(scalingAnalytic: 1)
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(fixture.parameterCount) gradients off; first: \(mismatches.prefix(5))")
    }

    @Test("the comparison flags a gradient off by 0.1%")
    func checkCanFail() throws {
        var fixture = try Fixture(batchNorm: true, activation: .sigmoid)
        let mismatches = try fixture.mismatches(scalingAnalytic: 1.001)
        // Every gradient that is not (near) zero is flagged.
        #expect(mismatches.count > fixture.parameterCount / 2)
    }
}

/// A 3-hidden-layer network of width 4 on 6 random rows of 5 features, 3 classes.
struct Fixture {
    typealias Path = (name: String, parameter: WritableKeyPath<Network<Double>, [Double]>, gradient: KeyPath<Network<Double>, [Double]>)

    var network: Network<Double>
    let input: [Double]
    let labels: [Int]
    let paths: [Path]

    init(batchNorm: Bool, activation: Activation) throws {
        network = try Network<Double>(NetworkConfiguration(
            inputCount: 5, classCount: 3, hiddenLayerCount: 3, width: 4, usesBatchNorm: batchNorm,
            activation: activation, seed: 7))
        var generator = SplitMix64(seed: 11)
        input = (0..<30).map { _ in standardNormal(using: &generator) }
        labels = [0, 1, 2, 2, 1, 0]
        // Nontrivial gamma and beta and biases, so their gradients and their effect are exercised.
        for index in network.hiddenLayers.indices {
            network.hiddenLayers[index].norm.gamma = (0..<4).map { _ in 1 + 0.3 * standardNormal(using: &generator) }
            network.hiddenLayers[index].norm.beta = (0..<4).map { _ in 0.3 * standardNormal(using: &generator) }
            network.hiddenLayers[index].dense.bias = network.hiddenLayers[index].dense.bias.map { _ in 0.3 * standardNormal(using: &generator) }
        }
        var paths: [Path] = []
        for index in network.hiddenLayers.indices {
            paths.append(("hidden \(index) weights", \.hiddenLayers[index].dense.weights, \.hiddenLayers[index].dense.weightGradient))
            if batchNorm {
                paths.append(("hidden \(index) gamma", \.hiddenLayers[index].norm.gamma, \.hiddenLayers[index].normGradients.gamma))
                paths.append(("hidden \(index) beta", \.hiddenLayers[index].norm.beta, \.hiddenLayers[index].normGradients.beta))
            } else {
                paths.append(("hidden \(index) bias", \.hiddenLayers[index].dense.bias, \.hiddenLayers[index].dense.biasGradient))
            }
        }
        paths.append(("output weights", \.outputLayer.weights, \.outputLayer.weightGradient))
        paths.append(("output bias", \.outputLayer.bias, \.outputLayer.biasGradient))
        self.paths = paths
    }

    var parameterCount: Int { paths.reduce(0) { $0 + network[keyPath: $1.parameter].count } }

    /// Mean loss of the batch in training mode (batch statistics).
    mutating func loss() throws -> Double {
        try network.forward(input, batchSize: labels.count, mode: .training)
        return network.evaluate(labels: labels[...]).lossSum / Double(labels.count)
    }

    /// The parameters whose analytic gradient (times `scalingAnalytic`) and finite difference disagree.
    mutating func mismatches(scalingAnalytic: Double) throws -> [String] {
        _ = try loss()
        try network.backward(input, labels: labels[...])
        let step = 1e-5
        var mismatches: [String] = []
        for path in paths {
            let analytic = network[keyPath: path.gradient]
            #expect(analytic.count == network[keyPath: path.parameter].count, "\(path.name)")
            for index in analytic.indices {
                let original = network[keyPath: path.parameter][index]
                network[keyPath: path.parameter][index] = original + step
                let above = try loss()
                network[keyPath: path.parameter][index] = original - step
                let below = try loss()
                network[keyPath: path.parameter][index] = original
                let numeric = (above - below) / (2 * step)
                let claimed = analytic[index] * scalingAnalytic
                if abs(claimed - numeric) > 1e-6 * max(abs(claimed), abs(numeric)) + 1e-9 {
                    mismatches.append("\(path.name)[\(index)]: analytic \(claimed), numeric \(numeric)")
                }
            }
        }
        return mismatches
    }
}
