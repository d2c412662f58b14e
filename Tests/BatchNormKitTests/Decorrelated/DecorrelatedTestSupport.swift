import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// Data and helpers shared by the decorrelated batch-norm tests.
enum WhiteningTestData {
    /// Uniform values in `[-1, 1]` plus `coupling` times the group's first channel, so channels within a
    /// group are correlated (off-diagonal correlations about `coupling² / (1 + coupling²)`), plus
    /// `offset` per channel.
    static func correlated<Scalar: BatchNormScalar>(
        _ shape: TensorShape, groupSize: Int, coupling: Double = 0.8, offset: Double = 0.5,
        using generator: inout SeededGenerator
    ) -> [Scalar] where Scalar.RawSignificand: FixedWidthInteger {
        let geometry = shape.geometry
        let base = [Double].random(count: shape.elementCount, in: -1...1, using: &generator)
        var values = [Scalar](repeating: 0, count: shape.elementCount)
        for outer in 0..<geometry.outerCount {
            for channel in 0..<geometry.channelCount {
                let lead = channel - channel % groupSize
                for inner in 0..<geometry.innerCount {
                    let index = (outer * geometry.channelCount + channel) * geometry.innerCount + inner
                    let leadIndex = (outer * geometry.channelCount + lead) * geometry.innerCount + inner
                    let mixed = channel == lead ? base[index] : base[index] + coupling * base[leadIndex]
                    values[index] = Scalar(mixed + offset * Double(channel % 3))
                }
            }
        }
        return values
    }

    /// Per group, the `G × G` covariance (divided by `M`) of `values`' channels, in `Double`.
    static func groupCovariances<Scalar: BinaryFloatingPoint>(
        _ values: [Scalar], shape: TensorShape, groupSize: Int
    ) -> [[Double]] {
        let geometry = shape.geometry
        let samples = Double(geometry.valuesPerChannel)
        func value(_ channel: Int, _ sample: Int) -> Double {
            let outer = sample / geometry.innerCount, inner = sample % geometry.innerCount
            return Double(values[(outer * geometry.channelCount + channel) * geometry.innerCount + inner])
        }
        return (0..<(geometry.channelCount / groupSize)).map { group in
            let channels = (group * groupSize)..<((group + 1) * groupSize)
            let means = channels.map { channel in
                (0..<geometry.valuesPerChannel).reduce(0.0) { $0 + value(channel, $1) } / samples
            }
            var covariance = [Double](repeating: 0, count: groupSize * groupSize)
            for (row, first) in channels.enumerated() {
                for (column, second) in channels.enumerated() {
                    covariance[row * groupSize + column] = (0..<geometry.valuesPerChannel).reduce(0.0) {
                        $0 + (value(first, $1) - means[row]) * (value(second, $1) - means[column])
                    } / samples
                }
            }
            return covariance
        }
    }

    static func referenceMethod(_ whitening: Whitening) -> NaiveDecorrelatedBatchNorm.Method {
        switch whitening {
        case .zca: .zca
        case .iterNorm(let iterations): .iterNorm(iterations: iterations)
        }
    }

    /// A Double ZCA layer with random parameters, running mean in `[-1, 1]`, running whitening entries in
    /// `[-1, 1]` (any matrix: inference only applies it), and an input in `[-2, 2]`.
    static func inferenceCase(
        _ shape: TensorShape, groupSize: Int, using generator: inout SeededGenerator
    ) throws -> (layer: DecorrelatedBatchNorm<Double>, input: [Double]) {
        var layer = try Self.layer(
            Double.self, channelCount: shape.channelCount, groupSize: groupSize, whitening: .zca, using: &generator)
        layer.runningMean = .random(count: shape.channelCount, in: -1...1, using: &generator)
        layer.runningWhitening = .random(count: layer.whiteningElementCount, in: -1...1, using: &generator)
        return (layer, .random(count: shape.elementCount, in: -2...2, using: &generator))
    }

    /// A layer with random `gamma` in `[0.5, 1.5]` and `beta` in `[-0.5, 0.5]`.
    static func layer<Scalar: BatchNormScalar>(
        _: Scalar.Type, channelCount: Int, groupSize: Int, whitening: Whitening, using generator: inout SeededGenerator
    ) throws -> DecorrelatedBatchNorm<Scalar> where Scalar.RawSignificand: FixedWidthInteger {
        var layer = try DecorrelatedBatchNorm<Scalar>(
            channelCount: channelCount, groupSize: groupSize, whitening: whitening)
        layer.gamma = .random(count: channelCount, in: 0.5...1.5, using: &generator)
        layer.beta = .random(count: channelCount, in: -0.5...0.5, using: &generator)
        return layer
    }
}
