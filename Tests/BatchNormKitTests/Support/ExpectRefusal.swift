import Testing
import BatchNormKit

/// The value refused calls must leave in every output element.
let refusalSentinel: Float = 42

/// Runs `body` on a fresh 3-channel layer (with parameters and running statistics, then `configure`d)
/// and a sentinel-filled 24-element output, expects `error`, and checks that the layer and every
/// output element are unchanged.
func expectRefusal(
    _ error: BatchNormError, layer configure: (inout BatchNorm<Float>) -> Void = { _ in },
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: (inout BatchNorm<Float>, inout MutableSpan<Float>) throws(BatchNormError) -> Void
) throws {
    var layer = try BatchNorm<Float>(channelCount: 3)
    layer.gamma = [1, 2, 3]
    layer.beta = [0.5, 0.25, 0]
    layer.runningMean = [0.1, 0.2, 0.3]
    layer.runningVariance = [1, 2, 3]
    configure(&layer)
    let before = layer
    var output = [Float](repeating: refusalSentinel, count: 24)
    var outputSpan = output.mutableSpan
    #expect(throws: error, sourceLocation: sourceLocation) { try body(&layer, &outputSpan) }
    _ = consume outputSpan
    #expect(layer == before, "layer state changed", sourceLocation: sourceLocation)
    #expect(output.allSatisfy { $0 == refusalSentinel }, "output was written", sourceLocation: sourceLocation)
}
