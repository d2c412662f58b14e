import Testing
import BatchNormKit
import BatchNormReference
import Kernels
import BatchNormTestSupport

/// `BatchNorm` is a `Sendable` value type whose non-mutating methods may run concurrently on the same
/// value (see docs/CONCURRENCY.md). Here one `let` layer and `let` input arrays are shared by 1,000
/// child tasks of a task group, each running one of the entry points (training forward on its own
/// copy of the layer), and every result must equal the serial result bit for bit: the kernels keep no
/// state between calls, their scratch memory is per call, and the way they split work depends only on
/// the shape and the thread count, never on timing.
///
/// One of the shapes is above the fused path's fork-join threshold (2^16 elements), so on that path
/// the concurrent calls also fork worker threads of their own; OpenBLAS is entered from many threads
/// at once on the BLAS path. Under ThreadSanitizer (scripts/sanitizers.sh) this is the data-race test.
@Suite("Concurrent calls on shared values")
struct ConcurrencyTests {
    static let callCount = 1_000

    /// The entry points the tasks call.
    enum Operation: CaseIterable, Sendable {
        case inference, trainingOnCopy, backward, inferenceBackward, inputGradientAlone
    }

    /// One input with everything the entry points need, computed once and shared read-only.
    struct Workload: Sendable {
        let shape: TensorShape
        let input: [Float]
        let gradOutput: [Float]
        let statistics: BatchStatistics<Float>

        init(_ dimensions: [Int], layout: TensorLayout = .channelsFirst, layer: BatchNorm<Float>,
             using generator: inout SeededGenerator) throws {
            shape = try TensorShape(dimensions, layout: layout)
            input = .random(count: shape.elementCount, in: -2...3, using: &generator)
            gradOutput = .random(count: shape.elementCount, in: -1...1, using: &generator)
            var copy = layer
            statistics = try copy.forwardTraining(input, shape: shape).statistics
        }
    }

    /// Every array an operation produces, as bit patterns (NaN payloads and signed zeros compare too).
    struct Outcome: Equatable, Sendable {
        var arrays: [[UInt32]]

        init(_ arrays: [Float]...) { self.arrays = arrays.map { $0.map(\.bitPattern) } }
    }

    static func run(_ operation: Operation, on workload: Workload, layer: BatchNorm<Float>) throws -> Outcome {
        switch operation {
        case .inference:
            return Outcome(try layer.forwardInference(workload.input, shape: workload.shape))
        case .trainingOnCopy:
            var copy = layer
            let (output, statistics) = try copy.forwardTraining(workload.input, shape: workload.shape)
            return Outcome(output, statistics.mean, statistics.variance, statistics.inverseStandardDeviation,
                           copy.runningMean, copy.runningVariance)
        case .backward:
            let gradients = try layer.backward(
                gradOutput: workload.gradOutput, input: workload.input, shape: workload.shape,
                statistics: workload.statistics)
            return Outcome(gradients.input, gradients.parameters.gamma, gradients.parameters.beta)
        case .inferenceBackward:
            let gradients = try layer.backwardInference(
                gradOutput: workload.gradOutput, input: workload.input, shape: workload.shape)
            return Outcome(gradients.input, gradients.parameters.gamma, gradients.parameters.beta)
        case .inputGradientAlone:
            // Through ReLU with the residual's gradient (`x` stands in for the forward's `y`: the mask is any
            // data), and plain.
            let masked = try layer.inputGradientInference(
                gradOutput: workload.gradOutput, forwardOutput: workload.input, shape: workload.shape,
                activation: .relu, residualGradient: true)
            let plain = try layer.inputGradientInference(gradOutput: workload.gradOutput, shape: workload.shape)
            return Outcome(masked.input, masked.residual ?? [], plain)
        }
    }

    @Test("1,000 concurrent calls on one shared layer equal the serial calls bit for bit",
          arguments: KernelPath.allCases)
    func sharedLayer(path: KernelPath) async throws {
        // The fork-join workload splits by the thread count: it must not change between the serial and
        // the concurrent calls (ThreadCountGate).
        try await ThreadCountGate.unchanged { try await checkSharedLayer(path: path) }
    }

    func checkSharedLayer(path: KernelPath) async throws {
        var generator = SeededGenerator.fresh()
        let layer = try BatchNorm<Float>.random(channelCount: 6, path: path, using: &generator)
        let workloads = [
            try Workload([4, 6, 5, 7], layer: layer, using: &generator),
            try Workload([3, 5, 7, 6], layout: .channelsLast, layer: layer, using: &generator),
            try Workload([4, 6, 60, 50], layer: layer, using: &generator),  // 72,000 elements: fork-join
        ]
        let jobs = workloads.indices.flatMap { workload in Operation.allCases.map { (workload, $0) } }
        let serial = try jobs.map { try Self.run($0.1, on: workloads[$0.0], layer: layer) }
        // Equal to the serial calls is only worth something if those are right: their forward outputs
        // against the reference (64u, as in the parity suites).
        for (index, job) in jobs.enumerated() where job.1 == .trainingOnCopy {
            let workload = workloads[job.0]
            var expected = [Double](repeating: 0, count: workload.input.count)
            _ = NaiveBatchNorm.trainingForward(
                workload.input.map(Double.init), shape: workload.shape, gamma: layer.gammaInDouble,
                beta: layer.betaInDouble, epsilon: Double(layer.epsilon), into: &expected)
            let output = serial[index].arrays[0].map(Float.init(bitPattern:))
            expectClose(output, expected, tolerance: 64 * unitRoundoff(Float.self),
                        "\(path) \(workload.shape) seed \(generator.seed) serial training output")
        }
        // Every tenth call takes the large workload (it costs as much as 30 small ones in a debug build),
        // cycling through the operations; the others cycle through the small workloads' jobs.
        let smallJobs = jobs.indices.filter { jobs[$0].0 != 2 }, largeJobs = jobs.indices.filter { jobs[$0].0 == 2 }
        let schedule = (0..<Self.callCount).map { call in
            call % 10 == 9 ? largeJobs[(call / 10) % largeJobs.count] : smallJobs[call % smallJobs.count]
        }

        let concurrent = try await withThrowingTaskGroup(of: (call: Int, outcome: Outcome).self) { group in
            for call in 0..<Self.callCount {
                group.addTask {
                    let (workload, operation) = jobs[schedule[call]]
                    return (call, try Self.run(operation, on: workloads[workload], layer: layer))
                }
            }
            var results: [(call: Int, outcome: Outcome)] = []
            for try await result in group { results.append(result) }
            return results
        }

        #expect(concurrent.count == Self.callCount)
        let mismatches = concurrent.filter { $0.outcome != serial[schedule[$0.call]] }.map(\.call).sorted()
        let differing = mismatches.count
        #expect(differing == 0, """
            \(path) seed \(generator.seed): \(differing) of \(Self.callCount) concurrent calls differ from the \
            serial ones, first: \(mismatches.prefix(3).map { call in
                let (workload, operation) = jobs[schedule[call]]
                return "call \(call), \(operation) on \(workloads[workload].shape)"
            })
            """)
    }
}
