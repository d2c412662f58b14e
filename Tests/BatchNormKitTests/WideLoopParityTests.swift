import Testing
import BatchNormKit
import Kernels
import BatchNormTestSupport

/// The AVX2 loops (`CKernelSupport`'s WideLoops.c: the channels-last rows and the channels-first runs)
/// against the Swift loops they stand in for: every output of every fused entry point that runs them (training and inference forward with
/// and without ReLU and the residual, the saved and running statistics, the backward with the mask from
/// `y`, with the recomputed mask, with the residual's gradient, and the inference backward), computed
/// once with the Swift loops forced and once with the CPU's choice, must agree bit for bit. The one
/// exception is a NaN's sign and payload, which IEEE 754 leaves open and LLVM does not keep (it may
/// swap the operands of a commutative operation), so two NaNs agree. Interleaved rows (channels-last,
/// and `[N, C]` in either layout) with channel counts below, at and around the 16-lane vector, odd
/// ones that make vectors cross rows, more than 64 rows (the accumulators' flush), rows wide enough to
/// be walked in blocks of four (with and without a vector tail, leftover rows, partial first rows from
/// the forced splits); channels-first runs of every length from 2 to 17 in the shapes' mix (below, at
/// and above the 4-, 8- and 16-lane steps), 25, 49 and 100, and runs longer than a reduction block, short ones
/// both as runs and as rows of samples; the
/// forced work splits (which start a part inside the channels) and streaming stores (whose heads
/// depend on each run's alignment); random data, a NaN in one channel, a constant channel, a large
/// offset. Skipped on CPUs without AVX2, where the Swift loops are all that runs.
@Suite("AVX2 loops agree with the Swift loops bit for bit",
       .enabled(if: FusedTuning.wideLoopsSupported, "this CPU has no AVX2: only the Swift loops run"))
struct WideLoopParityTests {
    static let shapes: [([Int], TensorLayout)] = [
        ([40, 1], .channelsFirst),            // [N, C] with one channel
        ([16, 5], .channelsFirst),            // [N, C]: interleaved in either layout
        ([9, 16], .channelsLast),
        ([130, 33], .channelsLast),           // > 64 rows; vectors cross rows
        ([4, 17, 3], .channelsLast),
        ([3, 5, 7, 4], .channelsLast),
        ([2, 3, 5, 15], .channelsLast),
        ([3, 4, 6, 17], .channelsLast),
        ([2, 2, 3, 64], .channelsLast),
        ([2, 3, 3, 2, 31], .channelsLast),
        ([3, 2, 100], .channelsLast),
        // Channels-first: run lengths 2, 3, 5, 12, 17, 49, 100 and 1,100 (a block of 1,024 and a tail);
        // channel counts that make a part start mid-tensor. Runs shorter than 64 are read as rows of
        // samples (`Fused.RowGrouping`) unless the rows are too wide for the cache: the last shape here
        // and the last of `wideRowShapes` take the run loops everywhere. Their sums also take runs when there are fewer samples than
        // parts: the one-sample shapes under the forced 2- and 3-part splits.
        ([1, 7, 2], .channelsFirst),
        ([1, 5, 3], .channelsFirst),
        ([1, 4, 5], .channelsFirst),
        ([1, 3, 12], .channelsFirst),
        ([1, 2, 17], .channelsFirst),
        ([1, 5, 7, 7], .channelsFirst),
        ([5, 3, 2], .channelsFirst),
        ([4, 5, 3], .channelsFirst),
        ([3, 7, 5, 1], .channelsFirst),
        ([2, 3, 4, 3], .channelsFirst),
        ([3, 2, 17], .channelsFirst),
        ([2, 5, 7, 7], .channelsFirst),
        ([3, 3, 10, 10], .channelsFirst),
        ([2, 3, 1100], .channelsFirst),
        ([2, 90, 49], .channelsFirst),        // runs of 49, 17,640-byte Float arrays: run loops
        ([3, 200, 5, 5], .channelsFirst),     // runs of 25 in the run loops: a tail of 9 as one more vector
    ]

    /// Rows wide enough that every loop walks them in blocks of four (WideLoopsTemplate.h, "Row blocks";
    /// in both precisions) and the normalize loop in channel tiles where rows are whole cache lines
    /// ("Channel tiles"; with a residual, or on every normalize where the CPU has AVX-512): whole vectors,
    /// so streaming blocks too; a vector tail per row with one leftover row (blocks, not tiles); more rows
    /// than a group of tiles in a part, in equal tiles (Float) and in a ragged last tile with a lane tail
    /// (Double: 1,032 channels are tiles of 352, 352 and 328);
    /// channels-first short runs in rows too wide for the row view (the run loops); and rows whose periodic
    /// coefficient arrays are large enough to be built in scratch memory (`FusedPasses.PeriodicCoefficients`).
    /// Random data only, the size-based choices and the 3-part splits (partial first rows) with and
    /// without streaming: the blocks change which rows go together, not the arithmetic, which the shapes
    /// above check on every kind of data (the run loops too).
    static let wideRowShapes: [([Int], TensorLayout)] = [
        ([2, 7, 2048], .channelsLast),
        ([13, 2050], .channelsFirst),
        ([140, 1648], .channelsFirst),        // [N, C]: interleaved; 70 rows a part at two parts > WIDE_TILE_ROWS
        ([140, 1032], .channelsFirst),
        ([1, 3641, 9], .channelsFirst),       // not rows: runs of 9 whose row view needs 131,076-byte arrays
        ([2, 32771], .channelsFirst),         // periodic arrays of 128 KiB and more: in scratch memory
    ]

    enum Data: CaseIterable { case random, nanChannel, constantChannel, largeOffset }

    /// `nil`: the size-based choices; otherwise `WorkSplitTests.variants[index]`.
    static let variants: [Int?] = [nil] + WorkSplitTests.variants.indices.map { $0 }

    @Test("every output", arguments: shapes, variants)
    func everyOutput(entry: ([Int], TensorLayout), variant: Int?) throws {
        try checkEveryOutput(entry: entry, variant: variant, data: Data.allCases)
    }

    @Test("every output on rows walked in blocks", arguments: wideRowShapes,
          [nil] + WorkSplitTests.variants.indices.filter { WorkSplitTests.variants[$0].0 == 3 })
    func wideRows(entry: ([Int], TensorLayout), variant: Int?) async throws {
        // Bits compared across calls, and without a forced part count the larger shapes split by the
        // thread count: it must not change in between (ThreadCountGate).
        try await ThreadCountGate.unchanged {
            try checkEveryOutput(entry: entry, variant: variant, data: [.random])
        }
    }

    /// The first rows' sums (the moments' shift), squares (few-row `Float` tensors' raw sums) and centered
    /// sums and squares (their rejected channels' `Double` shifted sums): the C loop adds in the Swift loop's
    /// order, so the same bits, over rows in fours and a tail, and positions in
    /// eights and a tail. Magnitudes spread over 2^±20, so that another order would round otherwise.
    @Test("the first rows' sums and squares", arguments: [(1, 5), (4, 8), (7, 23), (13, 64), (64, 1030)])
    func headRows(rows: Int, rowLength: Int) {
        var generator = SeededGenerator.fresh()
        let magnitudes: [Double] = (0..<rows * rowLength).map { _ in
            let exponent = Int.random(in: -20...20, using: &generator)
            return Double.random(in: -2...2, using: &generator) * Double(sign: .plus, exponent: exponent, significand: 1)
        }
        func check<Scalar: BatchNormScalar>(_ input: [Scalar]) {
            let swift = FusedTuning.withSwiftLoops(true) {
                FusedTuning.headRowSums(input, rows: rows, rowLength: rowLength, withSquares: true)
            }
            let wide = FusedTuning.withSwiftLoops(false) {
                FusedTuning.headRowSums(input, rows: rows, rowLength: rowLength, withSquares: true)
            }
            let plain = FusedTuning.withSwiftLoops(false) {
                FusedTuning.headRowSums(input, rows: rows, rowLength: rowLength, withSquares: false)
            }
            let centers = (0..<rowLength).map { Double(input[$0]) / 3 }
            let swiftCentered = FusedTuning.withSwiftLoops(true) {
                FusedTuning.headRowSums(input, rows: rows, rowLength: rowLength, withSquares: true, centers: centers)
            }
            let wideCentered = FusedTuning.withSwiftLoops(false) {
                FusedTuning.headRowSums(input, rows: rows, rowLength: rowLength, withSquares: true, centers: centers)
            }
            let context = "\(Scalar.self) \(rows)x\(rowLength) seed \(generator.seed)"
            let bits = { (values: [Double]?) in (values ?? []).map(\.bitPattern) }
            #expect(bits(swift.sums) == bits(wide.sums), "\(context) sums")
            #expect(bits(swift.squares) == bits(wide.squares), "\(context) squares")
            #expect(swift.squares?.count == rowLength && plain.squares == nil, "\(context)")
            #expect(bits(plain.sums) == bits(wide.sums), "\(context) sums without squares")
            #expect(bits(swiftCentered.sums) == bits(wideCentered.sums), "\(context) centered sums")
            #expect(bits(swiftCentered.squares) == bits(wideCentered.squares), "\(context) centered squares")
            #expect(bits(swiftCentered.sums) != bits(swift.sums), "\(context) centers unused")
        }
        check(magnitudes.map { Float($0) })
        check(magnitudes)
    }

    /// The derivation of the one read's shifted sums (`Fused.shiftedSums(fromCenteredSums:...)`): the AVX
    /// loop (1,024 channels a call, four a step, a tail) decides and derives as the Swift lanes, bit for bit,
    /// and lists the same rejected channels in order; about +0 and about centers.
    @Test("the one read's derived sums and rejections", arguments: [3, 1030, 2053])
    func derivedSums(channelCount: Int) {
        var generator = SeededGenerator.fresh()
        let count = 24
        var sums = [Double](), squares = [Double](), centers = [Double](), shift = [Float]()
        for channel in 0..<channelCount {
            // Mostly accepted; every ninth far off +0, every thirteenth constant, every 97th NaN.
            let offset: Float = channel % 9 == 0 ? 3e4 : 0.5
            var values = (0..<count).map { _ in offset + Float.random(in: -1...1, using: &generator) }
            if channel % 13 == 0 { values = [Float](repeating: offset, count: count) }
            if channel % 97 == 0 { values[5] = .nan }
            let center = channel % 2 == 0 ? Double(values[0]) : 0
            sums.append(values.reduce(0.0) { $0 + (Double($1) - center) })
            squares.append(values.reduce(0.0) { $0 + (Double($1) - center) * (Double($1) - center) })
            centers.append(center)
            shift.append(Float(center + sums[channel] / Double(count)))
        }
        for withCenters in [false, true] {
            let given = withCenters ? centers : [Double](repeating: 0, count: channelCount)
            let swift = FusedTuning.withSwiftLoops(true) {
                FusedTuning.shiftedSumsFromCenteredSums(sums, squares: squares, centers: given, shift: shift, count: count)
            }
            let wide = FusedTuning.withSwiftLoops(false) {
                FusedTuning.shiftedSumsFromCenteredSums(sums, squares: squares, centers: given, shift: shift, count: count)
            }
            let context = "\(channelCount) channels, centers \(withCenters), seed \(generator.seed)"
            #expect(swift.rejected == wide.rejected, "\(context)")
            #expect(!swift.rejected.isEmpty || channelCount < 9, "\(context): some channel is rejected")
            #expect(swift.sums.map(\.bitPattern) == wide.sums.map(\.bitPattern), "\(context) sums")
            #expect(swift.squares.map(\.bitPattern) == wide.squares.map(\.bitPattern), "\(context) squares")
        }
    }

    /// The inference forward's coefficients in one C loop (four channels a step, a tail; split over the
    /// threads from 8,192 channels) against the Swift passes they stand for, bit for bit: running variances
    /// of every kind a caller may set (0, -0, subnormal, near the top of the range, infinite, NaN, negative),
    /// `γ` of either sign and 0, with and without `γ` and `β`.
    @Test("the inference coefficients in one loop", arguments: [3, 1030, 8195])
    func inferenceCoefficients(channelCount: Int) {
        check(Float.self)
        check(Double.self)
        func check<Scalar: BatchNormScalar>(_: Scalar.Type) where Scalar.RawSignificand: FixedWidthInteger {
            var generator = SeededGenerator.fresh()
            var variance = [Scalar].random(count: channelCount, in: 0...4, using: &generator)
            let specials: [Scalar] = [0, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .infinity, .nan, -1]
            for (index, special) in specials.enumerated() where index * 7 < channelCount { variance[index * 7] = special }
            var gamma = [Scalar].random(count: channelCount, in: -2...2, using: &generator)
            gamma[channelCount / 2] = 0
            let beta = [Scalar].random(count: channelCount, in: -3...3, using: &generator)
            for (withGamma, withBeta) in [(true, true), (false, true), (true, false), (false, false)] {
                func coefficients(swiftLoops: Bool) -> (scale: [Scalar], foldedShift: [Scalar]) {
                    FusedTuning.withSwiftLoops(swiftLoops) {
                        BatchNormKernels.fusedInferenceCoefficients(
                            mean: variance, variance: variance, gamma: withGamma ? gamma : nil, beta: withBeta ? beta : nil,
                            epsilon: 1e-5)
                    }
                }
                let swift = coefficients(swiftLoops: true), wide = coefficients(swiftLoops: false)
                let context = "\(Scalar.self) \(channelCount) channels, gamma \(withGamma), beta \(withBeta)"
                for (name, swiftValues, wideValues) in [
                    ("scale", swift.scale, wide.scale), ("folded shift", swift.foldedShift, wide.foldedShift),
                ] {
                    #expect(swiftValues.count == channelCount && wideValues.count == channelCount, "\(context) \(name)")
                    let first = swiftValues.indices.first { !Self.agree(Double(swiftValues[$0]), Double(wideValues[$0])) }
                    #expect(first == nil, "\(context) \(name) differs first at \(first ?? 0)")
                }
            }
        }
    }

    func checkEveryOutput(entry: ([Int], TensorLayout), variant: Int?, data cases: [Data]) throws {
        let (parts, streaming) = variant.map { WorkSplitTests.variants[$0] } ?? (nil, nil)
        let shape = TestShapes.shape(entry)
        try FusedTuning.withForcedPartCount(parts) {
            try FusedTuning.withForcedStreamingStores(streaming) {
                for data in cases {
                    try check(Float.self, shape: shape, data: data)
                    try check(Double.self, shape: shape, data: data)
                }
            }
        }
    }

    func check<Scalar: BatchNormScalar>(_: Scalar.Type, shape: TensorShape, data: Data) throws
    where Scalar.RawSignificand: FixedWidthInteger {
        var generator = SeededGenerator.fresh()
        let layer = try BatchNorm<Scalar>.random(channelCount: shape.channelCount, path: .fused, using: &generator)
        var input = [Scalar].random(count: shape.elementCount, in: -2...2, using: &generator)
        let channelCount = shape.channelCount
        switch data {
        case .random: break
        case .nanChannel: input[channelCount - 1] = .nan
        case .constantChannel: for index in stride(from: 0, to: input.count, by: channelCount) { input[index] = 0.25 }
        case .largeOffset: input = input.map { 1e4 + $0 / 100 }
        }
        let residual = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        let gradOutput = [Scalar].random(count: shape.elementCount, in: -1...1, using: &generator)
        let swift = try FusedTuning.withSwiftLoops(true) {
            try outputs(layer, input: input, residual: residual, gradOutput: gradOutput, shape: shape)
        }
        let wide = try FusedTuning.withSwiftLoops(false) {
            try outputs(layer, input: input, residual: residual, gradOutput: gradOutput, shape: shape)
        }
        let context = "\(Scalar.self) \(shape) \(data) seed \(generator.seed)"
        #expect(swift.count == wide.count)
        for ((name, swiftValues), (_, wideValues)) in zip(swift, wide) {
            #expect(swiftValues.count == wideValues.count, "\(context) \(name) count")
            let first = swiftValues.indices.first { !Self.agree(swiftValues[$0], wideValues[$0]) }
            #expect(first == nil, "\(context) \(name) differs first at \(first ?? 0)")
        }
    }

    /// Every output of the entry points that run the interleaved loops, by name, widened to `Double`
    /// (exact for both precisions).
    func outputs<Scalar: BatchNormScalar>(
        _ layer: BatchNorm<Scalar>, input: [Scalar], residual: [Scalar], gradOutput: [Scalar], shape: TensorShape
    ) throws -> [(String, [Double])] {
        var result = [(String, [Double])]()
        func record(_ name: String, _ values: [Scalar]) { result.append((name, values.map(Double.init))) }
        for activation in FusedActivation.allCases {
            for withResidual in [false, true] {
                let name = "\(activation)\(withResidual ? "+residual" : "")"
                var trained = layer
                let (y, statistics) = try trained.forwardTraining(
                    input, shape: shape, residual: withResidual ? residual : nil, activation: activation)
                record("\(name) training y", y)
                record("\(name) mean", statistics.mean)
                record("\(name) invstd", statistics.inverseStandardDeviation)
                record("\(name) running mean", trained.runningMean)
                record("\(name) running variance", trained.runningVariance)
                record("\(name) inference y", try layer.forwardInference(
                    input, shape: shape, residual: withResidual ? residual : nil, activation: activation))
                let fromOutput = try layer.backward(
                    gradOutput: gradOutput, input: input, forwardOutput: y, shape: shape, statistics: statistics,
                    activation: activation, residualGradient: withResidual)
                record("\(name) dx", fromOutput.input)
                record("\(name) dgamma", fromOutput.parameters.gamma)
                record("\(name) dbeta", fromOutput.parameters.beta)
                record("\(name) dresidual", fromOutput.residual ?? [])
                let inference = try layer.backwardInference(
                    gradOutput: gradOutput, input: input, forwardOutput: y, shape: shape, activation: activation,
                    residualGradient: withResidual)
                record("\(name) inference dx", inference.input)
                record("\(name) inference dgamma", inference.parameters.gamma)
                if activation == .relu && !withResidual {
                    let recomputed = try layer.backward(
                        gradOutput: gradOutput, input: input, shape: shape, statistics: statistics, activation: .relu)
                    record("recomputed-mask dx", recomputed.input)
                    record("recomputed-mask dgamma", recomputed.parameters.gamma)
                }
            }
        }
        return result
    }

    /// Equal bit patterns, or both NaN.
    static func agree(_ lhs: Double, _ rhs: Double) -> Bool {
        lhs.bitPattern == rhs.bitPattern || (lhs.isNaN && rhs.isNaN)
    }
}
