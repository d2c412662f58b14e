/// The backward with constant statistics (inference-mode, or frozen batch norm) over tensors beyond the
/// cache, in chunks of samples (channels-first) or rows (channels-last).
///
/// With the statistics constant, `dx = k·dy` (or `k·dz` through a ReLU) does not wait for the sums:
/// each chunk's sums and then its `dx` step run back to back, the step finding the chunk's `x` and `dy`
/// (and `dz`) still in the cache. The two passes over the whole tensor read `x` and `dy` from memory,
/// then `dy` again: 4·S of traffic where the chunks move 3·S; through a ReLU masked by `y` without a
/// residual, 6·S (the sums read `x`, `dy`, `y` and write `dz`, the step reads `dz` and writes `dx`)
/// where the chunks move 4·S (`dz` is written into `dx`'s buffer and overwritten there in the cache).
///
/// Each thread takes a consecutive range of samples or rows and walks it chunk by chunk, alone; a chunk
/// is a tensor of its own to the passes (its samples or rows are consecutive in memory). The per-channel
/// sums are added in `Double` chunk by chunk, then thread by thread: they differ from the unchunked
/// passes' by where the blocks summed in the working precision end and by the order of `Double`
/// additions; `dx` is the same bits.
extension FusedPasses {
    /// `Σ dy`, `Σ dy·(x - mean)` (or of `dz` with `mask`) per channel, and `dx = k·dy` (`k·dz`), in
    /// chunks; `nil`, having written nothing, when the tensors fit in the cache or a single sample or row
    /// is too large for a chunk (``Fused/frozenBackwardChunkRows(_:_:cachedTensors:)``).
    ///
    /// - Precondition: `mask`, when given, stores `dz` into `inputGradient` (no residual gradient).
    ///   Writes every element of `inputGradient`.
    static func frozenBackwardInChunks<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, _ gradient: UnsafePointer<Scalar>, _ inputGradient: UnsafeMutablePointer<Scalar>,
        geometry: ChannelGeometry, mean: [Scalar], gradientScale: [Scalar], mask: Fused.GradientMask<Scalar>? = nil
    ) -> BackwardReductions<Scalar>? {
        assert(mask.map { $0.maskedGradient == inputGradient } ?? true)
        guard let rowsPerChunk = Fused.frozenBackwardChunkRows(
            geometry, Scalar.self, cachedTensors: mask == nil ? 2 : 3) else { return nil }
        let channelCount = geometry.channelCount
        let rowLength = channelCount * geometry.innerCount
        let parts = Fused.threadCount(elementCount: geometry.elementCount)
        let center = ChannelCenter(high: mean)
        let coefficients = InputGradientCoefficients(gradientScale: gradientScale, centered: nil)
        // `dx` streams as it would unchunked; `dz` stays in the cache for the step that overwrites it.
        let streaming = mask == nil && Fused.streamsOutput(geometry, Scalar.self)
        // Each thread its consecutive rows, chunk by chunk, its sums in its own row of `partSums`.
        var partSums = [Double](repeating: 0, count: 2 * channelCount * parts)
        partSums.withUnsafeMutableBufferPointer { sumsBuffer in
            guard let sumsBase = sumsBuffer.baseAddress else { return }
            let shared = Fused.SharedPointer(base: sumsBase)
            let sharedResult = Fused.SharedPointer(base: inputGradient)
            let sharedMask = UncheckedSendableBox(mask)
            Fused.forEachPart(parts) { part in
                let sumGradient = shared.base + 2 * channelCount * part, sumProduct = sumGradient + channelCount
                let rows = Fused.slice(geometry.outerCount, part: part, of: parts)
                var firstRow = rows.lowerBound
                while firstRow < rows.upperBound {
                    let count = min(rowsPerChunk, rows.upperBound - firstRow)
                    let chunk = ChannelGeometry(outerCount: count, channelCount: channelCount, innerCount: geometry.innerCount)
                    let offset = firstRow * rowLength
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
                    firstRow += count
                }
            }
        }
        // The parts' sums added in part order.
        var sumGradient = [Double](repeating: 0, count: channelCount)
        var sumProduct = [Double](repeating: 0, count: channelCount)
        for part in 0..<parts {
            for channel in 0..<channelCount {
                sumGradient[channel] += partSums[2 * channelCount * part + channel]
                sumProduct[channel] += partSums[2 * channelCount * part + channelCount + channel]
            }
        }
        return BackwardReductions(sumGradient: sumGradient.map { Scalar($0) },
                                  sumGradientTimesCentered: sumProduct.map { Scalar($0) })
    }
}

extension Fused {
    /// Samples (channels-first) or rows (channels-last) per chunk of the frozen backward
    /// (``FusedPasses/frozenBackwardInChunks(_:_:_:geometry:mean:gradientScale:mask:)``), or `nil` for
    /// the two passes over the whole tensor: when the `cachedTensors` (`x` and `dy`, and `y` through a
    /// ReLU) fit together in the L3 (under twice ``streamingThresholdBytes``) the second pass reads them
    /// from there anyway, and a chunk must hold at least one sample. A chunk's cached tensors take about
    /// ``frozenBackwardChunkBytes``; narrow channels-last rows come in whole groups
    /// (``RowGrouping/rowsPerGroup``), so a chunk is walked as the whole tensor would be.
    static func frozenBackwardChunkRows<Scalar>(
        _ geometry: ChannelGeometry, _: Scalar.Type, cachedTensors: Int
    ) -> Int? {
        if let forced = FusedTuning.frozenChunkRowsOverride {
            return forced > 0 && forced < geometry.outerCount ? forced : nil
        }
        let scalarBytes = MemoryLayout<Scalar>.stride
        let (rowBytes, rowOverflow) = (geometry.channelCount * scalarBytes * cachedTensors)
            .multipliedReportingOverflow(by: geometry.innerCount)
        guard !rowOverflow, rowBytes > 0 else { return nil }
        let (bytes, overflow) = rowBytes.multipliedReportingOverflow(by: geometry.outerCount)
        // (Each thread takes whole samples or rows: at least 8 each, so the split is even to an eighth.)
        guard overflow || bytes >= 2 * streamingThresholdBytes, rowBytes <= 2 * frozenBackwardChunkBytes,
              geometry.outerCount >= 8 * threadCount(elementCount: geometry.elementCount) else {
            return nil
        }
        var rows = max(1, frozenBackwardChunkBytes / rowBytes)
        if geometry.innerCount == 1 {
            let group = RowGrouping(channelCount: geometry.channelCount).rowsPerGroup
            rows = max(group, rows / group * group)
        }
        return rows < geometry.outerCount ? rows : nil
    }

    /// 4 MiB: a chunk's cached tensors (each thread's), well inside the L3 beside the other threads'; a
    /// sample of up to twice that is a chunk of its own (64x128x56x56 through a ReLU: 4.8 MB a sample,
    /// 30 against 38 ms at 1 thread; docs/BENCHMARK_NOTES.md, "The frozen backward in chunks").
    static let frozenBackwardChunkBytes = 4 << 20
}

extension FusedTuning {
    /// When set, the frozen backward takes chunks of this many samples or rows whatever the tensor size
    /// (`0`: never chunks).
    @TaskLocal static var forcedFrozenChunkRows: Int?

    /// Runs `body` with the frozen backward's chunks forced to `rows` samples or rows (`0`: the two passes;
    /// `nil`: the rule, ``Fused/frozenBackwardChunkRows(_:_:cachedTensors:)``).
    package static func withForcedFrozenChunkRows<Result>(_ rows: Int?, _ body: () throws -> Result) rethrows -> Result {
        try TestSeams.scope { try $forcedFrozenChunkRows.withValue(rows, operation: body) }
    }

    /// Samples or rows per chunk of the frozen backward for `geometry` (the production rule,
    /// `Fused.frozenBackwardChunkRows`; `nil`: the two passes), plain or `throughReLU` (reading `y`).
    package static func frozenBackwardChunkRows<Scalar>(
        _ geometry: ChannelGeometry, _ scalar: Scalar.Type, throughReLU: Bool
    ) -> Int? {
        Fused.frozenBackwardChunkRows(geometry, scalar, cachedTensors: throughReLU ? 3 : 2)
    }

    /// The forced chunk rows, if a test set them (one relaxed load otherwise).
    @inline(__always)
    static var frozenChunkRowsOverride: Int? { TestSeams.anyOpen ? forcedFrozenChunkRows : nil }
}
