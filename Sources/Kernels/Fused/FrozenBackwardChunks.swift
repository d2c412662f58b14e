/// The backward with constant statistics (inference-mode, or frozen batch norm) over tensors beyond the
/// cache, in chunks: of runs (channels-first tensors with long runs) or of samples or rows (channels-last,
/// short channels-first runs read as rows).
///
/// With the statistics constant, `dx = k·dy` (or `k·dz` through a ReLU) does not wait for the sums:
/// each chunk's sums and then its `dx` step run back to back, the step finding the chunk's `x` and `dy`
/// (and `dz`) still in the cache. The two passes over the whole tensor read `x` and `dy` from memory,
/// then `dy` again: 4·S of traffic where the chunks move 3·S; through a ReLU masked by `y` without a
/// residual, 6·S (the sums read `x`, `dy`, `y` and write `dz`, the step reads `dz` and writes `dx`)
/// where the chunks move 4·S (`dz` is written into `dx`'s buffer and overwritten there in the cache).
///
/// Each thread takes a consecutive range of runs, samples or rows and walks it chunk by chunk, alone. The
/// per-channel sums are added in `Double` chunk by chunk, then thread by thread: they differ from the
/// unchunked passes' by where the blocks summed in the working precision end and by the order of `Double`
/// additions; `dx` is the same bits.
extension FusedPasses {
    /// `Σ dy`, `Σ dy·(x - mean)` (or of `dz` with `mask`) per channel, and `dx = k·dy` (`k·dz`), in
    /// chunks; `nil`, having written nothing, where ``Fused/frozenBackwardChunking(_:_:cachedTensors:)`` keeps
    /// the two passes.
    ///
    /// - Precondition: `mask`, when given, stores `dz` into `inputGradient` (no residual gradient).
    ///   Writes every element of `inputGradient`.
    static func frozenBackwardInChunks<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>,
        geometry: ChannelGeometry, mean: [Scalar], gradientScale: [Scalar], mask: Fused.GradientMask<Scalar>? = nil
    ) -> BackwardReductions<Scalar>? {
        assert(mask.map { $0.maskedGradient == inputGradient } ?? true)
        guard let chunking = Fused.frozenBackwardChunking(
            geometry, Scalar.self, cachedTensors: mask == nil ? 2 : 3) else { return nil }
        let channelCount = geometry.channelCount
        let rowLength = channelCount * geometry.innerCount
        let parts = Fused.threadCount(for: geometry, Scalar.self, reduces: true)
        let center = ChannelCenter(high: mean)
        let coefficients = InputGradientCoefficients(gradientScale: gradientScale, centered: nil)
        // `dx` streams as it would unchunked; `dz` stays in the cache for the step that overwrites it.
        let streaming = mask == nil && Fused.streamsOutput(geometry, Scalar.self)
        // Each thread its consecutive runs, samples or rows, chunk by chunk, its sums in its own row of
        // `partGradient` and `partProduct` (merged as the unchunked reductions merge theirs).
        var partGradient = [Double](repeating: 0, count: channelCount * parts)
        var partProduct = [Double](repeating: 0, count: channelCount * parts)
        // The uncentered step's zero center and bias (its `dx = k·dy` adds `0·(x - 0) + 0`), for the run loops.
        let zeros = [Scalar](repeating: 0, count: channelCount)
        partGradient.withUnsafeMutableBufferPointer { gradientBuffer in
        partProduct.withUnsafeMutableBufferPointer { productBuffer in
        mean.withUnsafeBufferPointer { meanBuffer in
        gradientScale.withUnsafeBufferPointer { kBuffer in
        zeros.withUnsafeBufferPointer { zerosBuffer in
            guard let gradientBase = gradientBuffer.baseAddress, let productBase = productBuffer.baseAddress,
                  let meanBase = meanBuffer.baseAddress, let kBase = kBuffer.baseAddress,
                  let zerosBase = zerosBuffer.baseAddress else { return }
            let sharedGradient = Fused.SharedPointer(base: gradientBase)
            let sharedProduct = Fused.SharedPointer(base: productBase)
            let sharedResult = Fused.SharedPointer(base: inputGradient)
            let sharedMask = UncheckedSendableBox(mask)
            let runCoefficients = UncheckedSendableBox((meanBase, kBase, zerosBase))
            Fused.forEachPart(parts) { part in
                let sumGradient = sharedGradient.base + channelCount * part
                let sumProduct = sharedProduct.base + channelCount * part
                let units = Fused.slice(chunking.unitCount(geometry), part: part, of: parts)
                var firstUnit = units.lowerBound
                while firstUnit < units.upperBound {
                    let count = min(chunking.unitsPerChunk, units.upperBound - firstUnit)
                    if chunking.byRuns {
                        // Runs `firstUnit..<firstUnit + count` of the whole tensor, in the AVX2 run loops.
                        let runs = firstUnit..<(firstUnit + count)
                        let (meanPointer, kPointer, zerosPointer) = runCoefficients.value
                        // (The rule chose runs only where these loops run: both return true.)
                        let summed = Fused.WideLoops.gradientSumsRuns(
                            input, gradient, runs: runs, runLength: geometry.innerCount, channelCount: channelCount,
                            center: meanPointer, filter: sharedMask.value?.wideFilter ?? .init(bound: nil),
                            sumGradient: sumGradient, sumProduct: sumProduct)
                        let stepped = Fused.WideLoops.inputGradientRuns(
                            input, sharedMask.value == nil ? gradient : UnsafePointer(sharedResult.base),
                            sharedResult.base, runs: runs, runLength: geometry.innerCount, channelCount: channelCount,
                            center: zerosPointer, k: kPointer, p: nil, q: zerosPointer, bound: nil, streaming: streaming)
                        assert(summed && stepped)
                    } else {
                        // Samples or rows: a tensor of their own to the passes.
                        let chunk = ChannelGeometry(outerCount: count, channelCount: channelCount, innerCount: geometry.innerCount)
                        let offset = firstUnit * rowLength
                        let sums = reductionsInDouble(
                            input + offset, gradient + offset, geometry: chunk, center: center,
                            mask: sharedMask.value?.advanced(by: offset), chunkOf: geometry)
                        for channel in 0..<channelCount {
                            sumGradient[channel] += sums.sumGradient[channel]
                            sumProduct[channel] += sums.sumGradientTimesCentered[channel]
                        }
                        let result = sharedResult.base + offset
                        FusedPasses.inputGradient(
                            input + offset, sharedMask.value == nil ? gradient + offset : UnsafePointer(result), result,
                            geometry: chunk, coefficients: coefficients, chunkStreaming: streaming)
                    }
                    firstUnit += count
                }
                // (The samples' and rows' steps fence their own streaming stores.)
                if streaming && chunking.byRuns { Fused.streamingFence() }
            }
        }}}}}
        // The parts' sums added part by part, as the unchunked reductions add theirs.
        let perChannel = Fused.RowGrouping.ungrouped(channelCount: channelCount)
        return BackwardReductions(
            sumGradient: ChannelLoops.map(perChannel.channelTotals(partGradient, parts: parts)) { Scalar($0) },
            sumGradientTimesCentered: ChannelLoops.map(perChannel.channelTotals(partProduct, parts: parts)) { Scalar($0) })
    }
}

extension Fused {
    /// How the frozen backward (``FusedPasses/frozenBackwardInChunks(_:_:_:geometry:mean:gradientScale:mask:)``)
    /// cuts a tensor: into chunks of `unitsPerChunk` runs (`byRuns`: channels-first tensors whose runs the
    /// AVX2 run loops take) or samples or rows (the rest: channels-last rows, short channels-first runs read as
    /// rows of samples).
    struct FrozenChunking: Equatable {
        let unitsPerChunk: Int
        let byRuns: Bool

        /// Runs, or samples or rows, in `geometry`.
        func unitCount(_ geometry: ChannelGeometry) -> Int {
            byRuns ? geometry.outerCount * geometry.channelCount : geometry.outerCount
        }
    }

    /// The chunks of the frozen backward, or `nil` for the two passes over the whole tensor: when the
    /// `cachedTensors` (`x` and `dy`, and `y` through a ReLU) fit together in the L3 (under twice
    /// ``streamingThresholdBytes``) the second pass reads them from there anyway; when a run, sample or row
    /// of them is beyond twice ``frozenBackwardChunkBytes``; and when the threads would get fewer than 8
    /// each (the split is even to an eighth). A chunk's cached tensors take about ``frozenBackwardChunkBytes``;
    /// narrow channels-last rows come in whole groups (``RowGrouping/rowsPerGroup``), so a chunk is walked
    /// as the whole tensor would be.
    static func frozenBackwardChunking<Scalar>(
        _ geometry: ChannelGeometry, _: Scalar.Type, cachedTensors: Int
    ) -> FrozenChunking? {
        let parts = threadCount(for: geometry, Scalar.self, reduces: true)
        // Runs where the elementwise step reads runs (no row view with one part; then the reductions, which
        // ask with `parts`, read runs too).
        let byRuns = geometry.innerCount > 1 && WideLoops.enabled
            && (Scalar.self == Float.self || Scalar.self == Double.self)
            && RowGrouping(geometry: geometry, scalar: Scalar.self, parts: 1) == nil
        let unitCount = FrozenChunking(unitsPerChunk: 0, byRuns: byRuns).unitCount(geometry)
        if let forced = FusedTuning.frozenChunkSizeOverride {
            return forced > 0 && forced < unitCount ? FrozenChunking(unitsPerChunk: forced, byRuns: byRuns) : nil
        }
        let scalarBytes = MemoryLayout<Scalar>.stride
        let (unitBytes, unitOverflow) = (scalarBytes * cachedTensors)
            .multipliedReportingOverflow(by: byRuns ? geometry.innerCount : geometry.channelCount * geometry.innerCount)
        guard !unitOverflow, unitBytes > 0 else { return nil }
        let (bytes, overflow) = unitBytes.multipliedReportingOverflow(by: unitCount)
        guard overflow || bytes >= 2 * streamingThresholdBytes, unitBytes <= 2 * frozenBackwardChunkBytes,
              unitCount >= 8 * parts else {
            return nil
        }
        var units = max(1, frozenBackwardChunkBytes / unitBytes)
        if geometry.innerCount == 1 {
            let group = RowGrouping(channelCount: geometry.channelCount).rowsPerGroup
            units = max(group, units / group * group)
        }
        return units < unitCount ? FrozenChunking(unitsPerChunk: units, byRuns: byRuns) : nil
    }

    /// 4 MiB: a chunk's cached tensors (each thread's), well inside the L3 beside the other threads'; a
    /// sample of up to twice that is a chunk of its own (64x128x56x56 through a ReLU: 4.8 MB a sample,
    /// 30 against 38 ms at 1 thread; docs/BENCHMARK_NOTES.md, "The frozen backward in chunks").
    static let frozenBackwardChunkBytes = 4 << 20
}

extension FusedTuning {
    /// When set, the frozen backward takes chunks of this many runs, samples or rows (as its rule would cut
    /// the tensor) whatever the tensor size (`0`: never chunks).
    @TaskLocal static var forcedFrozenChunkSize: Int?

    /// Runs `body` with the frozen backward's chunks forced to `units` runs, samples or rows (`0`: the two
    /// passes; `nil`: the rule, ``Fused/frozenBackwardChunking(_:_:cachedTensors:)``).
    package static func withForcedFrozenChunkSize<Result>(_ units: Int?, _ body: () throws -> Result) rethrows -> Result {
        try TestSeams.scope { try $forcedFrozenChunkSize.withValue(units, operation: body) }
    }

    /// The frozen backward's chunks for `geometry` (the production rule, `Fused.frozenBackwardChunking`; `nil`:
    /// the two passes), plain or `throughReLU` (reading `y`): runs, samples or rows per chunk, and whether
    /// they are runs.
    package static func frozenBackwardChunking<Scalar>(
        _ geometry: ChannelGeometry, _ scalar: Scalar.Type, throughReLU: Bool
    ) -> (unitsPerChunk: Int, byRuns: Bool)? {
        Fused.frozenBackwardChunking(geometry, scalar, cachedTensors: throughReLU ? 3 : 2)
            .map { ($0.unitsPerChunk, $0.byRuns) }
    }

    /// The forced chunk size, if a test set one (one relaxed load otherwise).
    @inline(__always)
    static var frozenChunkSizeOverride: Int? { TestSeams.anyOpen ? forcedFrozenChunkSize : nil }
}
