import BatchNormKit
import BatchNormReference
import BatchNormTestSupport
import Testing

/// `KernelThreads.count` is the documented Swift way to set the kernels' threads (the alternative to
/// `OPENBLAS_NUM_THREADS`): it reads back what was set, clamps to at least 1, and every count gives
/// the reference's results. It changes the process-wide setting, so it runs apart from the comparisons
/// that assume it stays put (`ThreadCountGate`).
@Suite("Kernel thread count from Swift")
struct KernelThreadsTests {
    @Test("set, read back, clamp, and the same results within tolerance at 1 and 2 threads")
    func setAndReadBack() async throws {
        try await ThreadCountGate.changing { try checkSetAndReadBack() }
    }

    func checkSetAndReadBack() throws {
        let original = KernelThreads.count
        defer { KernelThreads.count = original }
        var generator = SeededGenerator.fresh()
        // 2^17 values: above the fused kernels' threshold for splitting across threads.
        let shape = try TensorShape([16, 8, 32, 32])
        let x = [Float].random(count: shape.elementCount, in: -3...5, using: &generator)
        var expected = [Double](repeating: 0, count: x.count)
        _ = NaiveBatchNorm.trainingForward(
            x.map(Double.init), shape: shape, gamma: nil, beta: nil, epsilon: Double(Float(1e-5)), into: &expected)
        for threads in [1, 2] {
            KernelThreads.count = threads
            #expect(KernelThreads.count == threads)
            var layer = try BatchNorm<Float>(channelCount: 8)
            let (y, _) = try layer.forwardTraining(x, shape: shape)
            // Float output of a normalized value: 64 unit roundoffs, as the forward parity tests.
            expectClose(y, expected, tolerance: 64 * unitRoundoff(Float.self), "\(threads) threads, seed \(generator.seed)")
        }
        KernelThreads.count = 0
        #expect(KernelThreads.count == 1)
        KernelThreads.count = -5
        #expect(KernelThreads.count == 1)
    }
}
