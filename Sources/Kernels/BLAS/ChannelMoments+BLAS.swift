extension ChannelMoments {
    /// Per-channel moments of `tensor` through BLAS, with the corrected two-pass algorithm:
    /// ```
    /// m₀   = Σx / M                       (gemv against ones)
    /// d    = x - m₀                       (copy + axpy per contiguous piece, into a piece-sized scratch)
    /// mean = m₀ + Σd / M                 (kept in two words, high + low)
    /// M2   = Σd² - (Σd)² / M              (dot, or sbmv for channels-last)
    /// ```
    /// Centering before squaring keeps the variance accurate where `E[x²] - E[x]²` cancels (a large
    /// mean with a small spread); the `Σd` term removes the rounding error of `m₀` to first order.
    /// Reads the tensor twice; allocates only per-channel vectors and one piece of scratch.
    static func blas(_ tensor: UnsafePointer<Scalar>, geometry: ChannelGeometry) -> Self {
        let channelCount = geometry.channelCount
        let valueCount = geometry.valuesPerChannel
        guard geometry.elementCount > 0 else { return .empty(channelCount: channelCount) }
        let blas = Scalar.blasRoutines
        let limit = BLASCount.maximumCount
        if geometry.innerCount == 1, let rowsPerBlock = ChannelsLastBlocks.rowsPerBlock(geometry, limit: limit) {
            return ChannelsLastBlocks.moments(tensor, geometry: geometry, rowsPerBlock: rowsPerBlock)
        }
        let countScalar = Scalar(valueCount)

        let firstMean = BLASReductions.channelSums(tensor, geometry: geometry).map { $0 / countScalar }
        var centeredSum = [Scalar](repeating: 0, count: channelCount)
        var centeredSquares = [Scalar](repeating: 0, count: channelCount)
        let pieceLength = ChannelRuns.longestPiece(geometry, limit: limit)
        var scratch = [Scalar](repeating: 0, count: pieceLength)
        let ones = [Scalar](repeating: 1, count: pieceLength)

        if geometry.innerCount == 1 {
            firstMean.withUnsafeBufferPointer { meanBuffer in
            scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            centeredSum.withUnsafeMutableBufferPointer { sumBuffer in
            centeredSquares.withUnsafeMutableBufferPointer { squaresBuffer in
                guard let meanBase = meanBuffer.baseAddress, let scratchBase = scratchBuffer.baseAddress,
                      let sumBase = sumBuffer.baseAddress, let squaresBase = squaresBuffer.baseAddress
                else { return }
                ChannelRuns.forEachChannelVectorPiece(geometry, limit: limit) { offset, count, firstChannel in
                    let n = BLASCount.checked(count)
                    blas.copyCentered(n, tensor + offset, scratchBase, center: meanBase + firstChannel, residual: nil)
                    blas.axpy(n, 1, scratchBase, 1, sumBase + firstChannel, 1)
                    blas.diagonalMultiplyAdd(n, scratchBase, scratchBase, squaresBase + firstChannel)
                }
            }}}}
        } else {
            // Per (outer, channel) run: Σd and Σd², then a column sum over `outerCount`.
            var runSums = [Scalar](repeating: 0, count: geometry.rowCount)
            var runSquares = [Scalar](repeating: 0, count: geometry.rowCount)
            ones.withUnsafeBufferPointer { onesBuffer in
            scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            runSums.withUnsafeMutableBufferPointer { runSumsBuffer in
            runSquares.withUnsafeMutableBufferPointer { runSquaresBuffer in
                guard let onesBase = onesBuffer.baseAddress, let scratchBase = scratchBuffer.baseAddress,
                      let runSumsBase = runSumsBuffer.baseAddress, let runSquaresBase = runSquaresBuffer.baseAddress
                else { return }
                ChannelRuns.forEachSingleChannelPiece(geometry, limit: limit) { offset, count, channel in
                    let n = BLASCount.checked(count)
                    let run = offset / geometry.innerCount
                    blas.copyCentered(n, tensor + offset, scratchBase, center: firstMean[channel], residual: 0, ones: onesBase)
                    runSumsBase[run] += blas.dot(n, scratchBase, 1, onesBase, 1)
                    runSquaresBase[run] += blas.dot(n, scratchBase, 1, scratchBase, 1)
                }
                centeredSum.withUnsafeMutableBufferPointer { sumBuffer in
                    guard let sumBase = sumBuffer.baseAddress else { return }
                    BLASReductions.accumulateColumnSums(
                        UnsafePointer(runSumsBase), rows: geometry.outerCount, columns: channelCount, into: sumBase)
                }
                centeredSquares.withUnsafeMutableBufferPointer { squaresBuffer in
                    guard let squaresBase = squaresBuffer.baseAddress else { return }
                    BLASReductions.accumulateColumnSums(
                        UnsafePointer(runSquaresBase), rows: geometry.outerCount, columns: channelCount, into: squaresBase)
                }
            }}}}
        }

        var mean = firstMean
        var meanLow = [Scalar](repeating: 0, count: channelCount)
        var sumOfSquaredDeviations = centeredSquares
        for channel in 0..<channelCount {
            let correction = centeredSum[channel]
            (mean[channel], meanLow[channel]) = ErrorFreeSums.fastTwoSum(firstMean[channel], correction / countScalar)
            let corrected = centeredSquares[channel] - correction * correction / countScalar
            // Rounding can leave a tiny negative value for a constant channel; NaN must pass through.
            sumOfSquaredDeviations[channel] = corrected < 0 ? 0 : corrected
        }
        return Self(count: valueCount, mean: mean, meanLow: meanLow, sumOfSquaredDeviations: sumOfSquaredDeviations)
    }
}
