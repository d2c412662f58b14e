import Testing
import BatchNormKit
import Kernels
import BatchNormTestSupport

/// The backward with running statistics as constants (frozen batch norm) in chunks of runs, samples or rows
/// (`FusedPasses.frozenBackwardInChunks`), forced on small tensors (`FusedTuning.withForcedFrozenChunkSize`):
///
/// - `dx` bit for bit the two passes over the whole tensor (it does not depend on the sums), and `dγ`,
///   `dβ` the same up to the order of the chunks' `Double` additions, plain and through a ReLU masked by
///   `y`; on random data, a NaN channel, a constant channel and a large offset, in both layouts and
///   precisions, in chunks of 1, 2 and 3 runs, samples or rows and 1 to 3 parts;
/// - parity against the float64 reference on every test shape (plain, ReLU, add + ReLU);
/// - the rule: tensors beyond the cache only, runs of channels-first tensors that the run loops take,
///   enough runs, samples or rows for the threads, whole groups of narrow channels-last rows.
@Suite("The frozen backward in chunks")
struct FrozenBackwardChunkTests {
    enum Data: CaseIterable { case random, nanChannel, constantChannel, largeOffset }

    static let shapes: [([Int], TensorLayout)] = [
        ([7, 3, 5, 9], .channelsFirst), ([6, 5, 100], .channelsFirst), ([9, 4, 4, 5], .channelsLast),
        ([13, 70], .channelsFirst), ([11, 3, 3, 3], .channelsLast),
    ]

    @Test("dx bit for bit the two passes, dγ and dβ up to the chunks' order", arguments: shapes)
    func againstTwoPasses(entry: ([Int], TensorLayout)) throws {
        let shape = TestShapes.shape(entry)
        for data in Data.allCases {
            for relu in [false, true] {
                try check(Float.self, shape: shape, data: data, relu: relu)
                try check(Double.self, shape: shape, data: data, relu: relu)
            }
        }
    }

    @Test("parity against the float64 reference, chunked", arguments: TestShapes.all, [1, 3])
    func parity(entry: ([Int], TensorLayout), rows: Int) throws {
        try FusedTuning.withForcedFrozenChunkSize(rows) {
            try FusedTuning.withForcedPartCount(2) {
                let backward = BackwardParityTests(), activation = ActivationParityTests()
                try backward.checkInference(Float.self, entry: entry, path: .fused)
                try backward.checkInference(Double.self, entry: entry, path: .fused)
                for epilogue in [EpilogueCase.relu, .addRelu] {
                    try activation.checkInference(Float.self, entry: entry, epilogue: epilogue, path: .fused)
                    try activation.checkInference(Double.self, entry: entry, epilogue: epilogue, path: .fused)
                }
            }
        }
    }

    @Test("the rule: tensors beyond the cache, at least 8 samples or rows a thread, whole groups of narrow rows")
    func rule() throws {
        try FusedTuning.withForcedPartCount(2) { try ruleAtTwoThreads() }
        // 100 rows of 1 MiB (2-D): 2 rows a chunk for 2 threads, too few rows for 16.
        let wideRows = try TensorShape([100, 262_144], layout: .channelsFirst).geometry
        #expect(FusedTuning.withForcedPartCount(2) { chunking(wideRows, Float.self, throughReLU: false) }
                == .init(unitsPerChunk: 2, byRuns: false))
        #expect(FusedTuning.withForcedPartCount(16) { chunking(wideRows, Float.self, throughReLU: false) } == nil)
    }

    func ruleAtTwoThreads() throws {
        // 64x128x56x56 Float: runs of 12.5 KB, 167 runs of `x` and `dy` a chunk (111 with `y`).
        let large = try TensorShape([64, 128, 56, 56], layout: .channelsFirst).geometry
        #expect(chunking(large, Float.self, throughReLU: false) == .init(unitsPerChunk: 167, byRuns: true))
        #expect(chunking(large, Float.self, throughReLU: true) == .init(unitsPerChunk: 111, byRuns: true))
        // In the cache: the two passes (32x256x14x14, 12.8 MB of `x` and `dy`).
        let cached = try TensorShape([32, 256, 14, 14], layout: .channelsFirst).geometry
        #expect(chunking(cached, Float.self, throughReLU: false) == nil)
        // A detection-sized map, 2 samples of 61 MB: 8 runs of 480x640 a chunk.
        let detection = try TensorShape([2, 64, 480, 640], layout: .channelsFirst).geometry
        #expect(chunking(detection, Float.self, throughReLU: false) == .init(unitsPerChunk: 1, byRuns: true))
        // A run beyond twice the chunk: the two passes (2x16x1024x1280, 10.5 MB of `x` and `dy` a run).
        let hugeRuns = try TensorShape([2, 16, 1024, 1280], layout: .channelsFirst).geometry
        #expect(chunking(hugeRuns, Float.self, throughReLU: false) == nil)
        // Short runs read as rows of samples: samples (256x64x5x5, 12.8 KB of `x` and `dy` a sample).
        let shortRuns = try TensorShape([4096, 64, 5, 5], layout: .channelsFirst).geometry
        #expect(chunking(shortRuns, Float.self, throughReLU: false) == .init(unitsPerChunk: 327, byRuns: false))
        // Channels-last 64x56x56x128: 1 KiB of `x` and `dy` a row, 4,096 rows a chunk.
        let rows = try TensorShape([64, 56, 56, 128], layout: .channelsLast).geometry
        #expect(chunking(rows, Float.self, throughReLU: false) == .init(unitsPerChunk: 4096, byRuns: false))
        // Narrow rows (3 channels; 32 rows, 96 values, a group): whole groups.
        let narrow = try TensorShape([64, 224, 224, 3], layout: .channelsLast).geometry
        let narrowChunks = try #require(chunking(narrow, Float.self, throughReLU: false))
        #expect(narrowChunks.unitsPerChunk % 32 == 0 && narrowChunks.unitsPerChunk > 0 && !narrowChunks.byRuns)
    }

    struct Chunking: Equatable {
        let unitsPerChunk: Int
        let byRuns: Bool
    }

    func chunking<Scalar>(_ geometry: ChannelGeometry, _ scalar: Scalar.Type, throughReLU: Bool) -> Chunking? {
        FusedTuning.frozenBackwardChunking(geometry, scalar, throughReLU: throughReLU).map {
            Chunking(unitsPerChunk: $0.unitsPerChunk, byRuns: $0.byRuns)
        }
    }

    /// The chunked backward (forced chunks of 1 to 3 samples or rows, 1 to 3 parts) against the two passes
    /// over the whole tensor in one part.
    func check<Scalar: BatchNormScalar>(
        _: Scalar.Type, shape: TensorShape, data: Data, relu: Bool
    ) throws where Scalar.RawSignificand: FixedWidthInteger {
        var generator = SeededGenerator.fresh()
        let layer = try BatchNorm<Scalar>.random(channelCount: shape.channelCount, path: .fused, using: &generator)
        var input = [Scalar].random(count: shape.elementCount, in: -2...3, using: &generator)
        let gradOutput = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        let geometry = shape.geometry
        // Channel 0's elements, in either layout.
        let firstChannel = input.indices.filter { ($0 / geometry.innerCount) % geometry.channelCount == 0 }
        switch data {
        case .random: break
        case .nanChannel: input[firstChannel[firstChannel.count / 2]] = .nan
        case .constantChannel: for index in firstChannel { input[index] = 0.75 }
        case .largeOffset: input = input.map { 1e4 + $0 / 100 }
        }
        // The sums add blocks of up to 64 values a lane in `Scalar` before `Double` (`Fused.blockLength`), and
        // chunks move the blocks' ends: each ordering is within 64 units of roundoff of Σ|term| (the parity
        // suites' bound), and a term is at most |dy|·|x - mean|·invstd (|dy| ≤ 1, invstd ≤ 1.5, |mean| ≤ 1).
        let termBound = (data == .largeOffset ? 1.1e4 : 4.0) * 1.5
        let m = Double(geometry.valuesPerChannel)
        let reorderBound = 2 * 64 * unitRoundoff(Scalar.self) * m * termBound
        let forwardOutput = try layer.forwardInference(input, shape: shape, residual: nil, activation: .relu)
        func run() throws -> BatchNormGradients<Scalar> {
            relu ? try layer.backwardInference(
                       gradOutput: gradOutput, input: input, forwardOutput: forwardOutput, shape: shape, activation: .relu)
                 : try layer.backwardInference(gradOutput: gradOutput, input: input, shape: shape)
        }
        let whole = try FusedTuning.withForcedFrozenChunkSize(0) { try FusedTuning.withForcedPartCount(1) { try run() } }
        let context = "\(Scalar.self) \(shape) \(data) relu \(relu) seed \(generator.seed)"
        for (rows, parts, streaming) in [(1, 1, false), (2, 2, true), (3, 3, false)] {
            let chunked = try FusedTuning.withForcedFrozenChunkSize(rows) {
                try FusedTuning.withForcedPartCount(parts) {
                    try FusedTuning.withForcedStreamingStores(streaming) { try run() }
                }
            }
            let variant = "\(context) rows \(rows) parts \(parts)"
            #expect(sameBits(chunked.input, whole.input), "\(variant) dx")
            expectSameSums(chunked.parameters.gamma, whole.parameters.gamma, bound: reorderBound, "\(variant) dgamma")
            expectSameSums(chunked.parameters.beta, whole.parameters.beta, bound: reorderBound, "\(variant) dbeta")
            // Chunks of runs in one part: the run loops add each run into its channel's sums in run order, as
            // over the whole tensor: the same bits.
            let byRuns = FusedTuning.withForcedFrozenChunkSize(rows) {
                FusedTuning.withForcedPartCount(parts) {
                    FusedTuning.frozenBackwardChunking(geometry, Scalar.self, throughReLU: relu)?.byRuns
                }
            }
            if byRuns == true, parts == 1 {
                let sums = chunked.parameters.gamma + chunked.parameters.beta
                let wholeSums = whole.parameters.gamma + whole.parameters.beta
                #expect(sameBits(sums, wholeSums), "\(variant) dgamma and dbeta in chunks of runs")
            }
        }
    }


    /// The same sums added in another order: within `bound` (the two orders' error bounds) plus one unit in
    /// the last place of the larger (the rounding to `Scalar`), NaN where the other is NaN.
    func expectSameSums<Scalar: BatchNormScalar>(
        _ actual: [Scalar], _ expected: [Scalar], bound: Double, _ context: String
    ) {
        #expect(actual.count == expected.count, "\(context) count")
        for (a, e) in zip(actual, expected) {
            if e.isNaN || a.isNaN {
                #expect(a.isNaN && e.isNaN, "\(context): \(a) against \(e)")
            } else {
                #expect(Double(abs(a - e)) <= Double(max(abs(a), abs(e)).ulp) + bound, "\(context): \(a) against \(e)")
            }
        }
    }
}
