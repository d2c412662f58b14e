import BatchNormKit
import Kernels
import BatchNormTestSupport

extension BatchNorm where Scalar.RawSignificand: FixedWidthInteger {
    /// A layer with random parameters and running statistics, pinned to `path`.
    static func random(
        channelCount: Int, path: KernelPath, momentum: Scalar? = 0.1, affine: Bool = true,
        using generator: inout SeededGenerator
    ) throws -> Self {
        var layer = try Self(channelCount: channelCount, momentum: momentum, affine: affine)
        layer.kernelPath = path
        if affine {
            layer.gamma = .random(count: channelCount, in: 0.5...1.5, using: &generator)
            layer.beta = .random(count: channelCount, in: -1...1, using: &generator)
        }
        layer.runningMean = .random(count: channelCount, in: -1...1, using: &generator)
        layer.runningVariance = .random(count: channelCount, in: 0.5...2, using: &generator)
        return layer
    }

    var gammaInDouble: [Double]? { affine ? gamma.map(Double.init) : nil }
    var betaInDouble: [Double]? { affine ? beta.map(Double.init) : nil }
}

/// Root mean square of a vector: the natural magnitude of a set of outputs.
func rootMeanSquare(_ values: [Double]) -> Double {
    (values.reduce(0) { $0 + $1 * $1 } / Double(max(values.count, 1))).squareRoot()
}
