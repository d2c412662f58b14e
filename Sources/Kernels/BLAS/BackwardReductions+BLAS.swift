extension BackwardReductions {
    /// BLAS composition: `Σ dy` by `gemv` against ones; `Σ dy·(x - center)` per contiguous piece by
    /// centering `x` into a piece-sized scratch (`copy` + `axpy`) and `dot` (or `sbmv` for
    /// channels-last), then a column sum over `outerCount`. Centering first keeps the sum accurate for
    /// a large mean.
    static func blas(
        input: UnsafePointer<Scalar>, gradient: UnsafePointer<Scalar>, geometry: ChannelGeometry,
        center: ChannelCenter<Scalar>
    ) -> Self {
        let channelCount = geometry.channelCount
        var sumGradientTimesCentered = [Scalar](repeating: 0, count: channelCount)
        guard geometry.elementCount > 0 else {
            return Self(sumGradient: sumGradientTimesCentered, sumGradientTimesCentered: sumGradientTimesCentered)
        }
        let blas = Scalar.blasRoutines
        let limit = BLASCount.maximumCount
        if geometry.innerCount == 1, let rowsPerBlock = ChannelsLastBlocks.rowsPerBlock(geometry, limit: limit) {
            return ChannelsLastBlocks.backwardReductions(
                input: input, gradient: gradient, geometry: geometry, rowsPerBlock: rowsPerBlock, center: center)
        }
        let sumGradient = BLASReductions.channelSums(gradient, geometry: geometry)
        let pieceLength = ChannelRuns.longestPiece(geometry, limit: limit)
        var scratch = [Scalar](repeating: 0, count: pieceLength)
        let centerLow = center.low ?? []

        if geometry.innerCount == 1 {
            center.high.withUnsafeBufferPointer { centerBuffer in
            centerLow.withUnsafeBufferPointer { centerLowBuffer in
            scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            sumGradientTimesCentered.withUnsafeMutableBufferPointer { resultBuffer in
                guard let centerBase = centerBuffer.baseAddress, let scratchBase = scratchBuffer.baseAddress,
                      let resultBase = resultBuffer.baseAddress else { return }
                ChannelRuns.forEachChannelVectorPiece(geometry, limit: limit) { offset, count, firstChannel in
                    let n = BLASCount.checked(count)
                    blas.copyCentered(n, input + offset, scratchBase, center: centerBase + firstChannel,
                                      residual: centerLowBuffer.isEmpty ? nil : centerLowBuffer.baseAddress.map { $0 + firstChannel })
                    blas.diagonalMultiplyAdd(n, gradient + offset, scratchBase, resultBase + firstChannel)
                }
            }}}}
        } else {
            var runSums = [Scalar](repeating: 0, count: geometry.rowCount)
            let ones = [Scalar](repeating: 1, count: pieceLength)
            ones.withUnsafeBufferPointer { onesBuffer in
            scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            runSums.withUnsafeMutableBufferPointer { runSumsBuffer in
            sumGradientTimesCentered.withUnsafeMutableBufferPointer { resultBuffer in
                guard let onesBase = onesBuffer.baseAddress, let scratchBase = scratchBuffer.baseAddress,
                      let runSumsBase = runSumsBuffer.baseAddress, let resultBase = resultBuffer.baseAddress
                else { return }
                ChannelRuns.forEachSingleChannelPiece(geometry, limit: limit) { offset, count, channel in
                    let n = BLASCount.checked(count)
                    blas.copyCentered(n, input + offset, scratchBase, center: center.high[channel],
                                      residual: center.low?[channel] ?? 0, ones: onesBase)
                    runSumsBase[offset / geometry.innerCount] += blas.dot(n, gradient + offset, 1, scratchBase, 1)
                }
                BLASReductions.accumulateColumnSums(
                    UnsafePointer(runSumsBase), rows: geometry.outerCount, columns: channelCount, into: resultBase)
            }}}}
        }
        return Self(sumGradient: sumGradient, sumGradientTimesCentered: sumGradientTimesCentered)
    }
}
