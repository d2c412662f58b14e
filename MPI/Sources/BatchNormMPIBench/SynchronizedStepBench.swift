import BatchNormKit
import BatchNormMPI

/// Times the synchronized training step of one rank, split into its phases with the public pieces
/// `SynchronizedBatchNorm.forwardTraining`/`backward` are made of.
enum SynchronizedStepBench {
    /// Runs `options.warmup + options.steps` steps on this rank's share of the batch.
    /// - Returns: the timing of each measured step and this rank's local batch size.
    static func run<Scalar: BatchNormScalar>(
        _: Scalar.Type, options: BenchOptions, communicator: Communicator
    ) throws -> (steps: [StepTiming], localBatch: Int) where Scalar.RawSignificand: FixedWidthInteger {
        let localBatch = options.localBatchSize(rank: communicator.rank, ranks: communicator.size)
        var dimensions = options.dimensions
        dimensions[0] = localBatch
        let wholeShape = try TensorShape(options.dimensions, layout: options.layout)
        var synchronized = try SynchronizedBatchNorm(
            BatchNorm<Scalar>(channelCount: wholeShape.channelCount), communicator: communicator)
        guard localBatch > 0 else {
            // A rank without samples still takes part in every collective.
            var steps = [StepTiming]()
            for step in 0..<(options.warmup + options.steps) {
                var timing = StepTiming()
                try timing.measure(\.wait) { () throws(MPIError) in try communicator.barrier() }
                let statistics = try timing.measure(\.communication) { () throws(SynchronizedBatchNormError) in
                    try synchronized.forwardTrainingWithoutLocalSamples()
                }
                try timing.measure(\.wait) { () throws(MPIError) in try communicator.barrier() }
                _ = try timing.measure(\.communication) { () throws(SynchronizedBatchNormError) in
                    try synchronized.backwardWithoutLocalSamples(statistics: statistics)
                }
                if step >= options.warmup { steps.append(timing) }
            }
            return (steps, 0)
        }
        let shape = try TensorShape(dimensions, layout: options.layout)
        var generator = SystemRandomNumberGenerator()
        let input = (0..<shape.elementCount).map { _ in Scalar.random(in: -2...3, using: &generator) }
        let gradOutput = (0..<shape.elementCount).map { _ in Scalar.random(in: -1...1, using: &generator) }
        var output = [Scalar](repeating: 0, count: shape.elementCount)
        var inputGradient = [Scalar](repeating: 0, count: shape.elementCount)

        var steps = [StepTiming]()
        for step in 0..<(options.warmup + options.steps) {
            var timing = StepTiming()
            let local = try timing.measure(\.compute) { () throws(BatchNormError) in
                try synchronized.layer.partialStatistics(input.span, shape: shape)
            }
            try timing.measure(\.wait) { () throws(MPIError) in try communicator.barrier() }
            let global = try timing.measure(\.communication) { () throws(SynchronizedBatchNormError) in
                try synchronized.allGatherStatistics(local)
            }
            let statistics = try timing.measure(\.compute) { () throws(BatchNormError) in
                var outputSpan = output.mutableSpan
                return try synchronized.layer.forwardTraining(
                    input.span, shape: shape, globalStatistics: global, into: &outputSpan)
            }
            let localSums = try timing.measure(\.compute) { () throws(BatchNormError) in
                try synchronized.layer.backwardSums(
                    gradOutput: gradOutput.span, input: input.span, shape: shape, statistics: statistics)
            }
            try timing.measure(\.wait) { () throws(MPIError) in try communicator.barrier() }
            let globalSums = try timing.measure(\.communication) { () throws(SynchronizedBatchNormError) in
                try synchronized.allReduceGradientSums(localSums)
            }
            _ = try timing.measure(\.compute) { () throws(BatchNormError) in
                var inputGradientSpan = inputGradient.mutableSpan
                return try synchronized.layer.backward(
                    gradOutput: gradOutput.span, input: input.span, shape: shape, statistics: statistics,
                    globalSums: globalSums, globalCount: global.count, into: &inputGradientSpan)
            }
            if step >= options.warmup { steps.append(timing) }
        }
        return (steps, localBatch)
    }
}
