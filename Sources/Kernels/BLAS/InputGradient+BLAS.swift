enum InputGradient {
    /// BLAS composition per contiguous piece: center `x` into `dx` (`copy`, `axpy`), `scal` (`tbmv`),
    /// `axpy` of `dy` (`sbmv` for channels-last), `axpy` of the bias. Reads `x` and `dy` once, writes
    /// `dx` once. Without a centered term: `copy` of `dy` and `scal` (`tbmv`).
    static func blas<Scalar: BatchNormScalar>(
        input: UnsafePointer<Scalar>, gradient: UnsafePointer<Scalar>, geometry: ChannelGeometry,
        coefficients: InputGradientCoefficients<Scalar>, inputGradient: UnsafeMutablePointer<Scalar>
    ) {
        guard geometry.elementCount > 0 else { return }
        let blas = Scalar.blasRoutines
        let limit = BLASCount.maximumCount
        if geometry.innerCount == 1, let rowsPerBlock = ChannelsLastBlocks.rowsPerBlock(geometry, limit: limit) {
            ChannelsLastBlocks.inputGradient(
                input: input, gradient: gradient, geometry: geometry, rowsPerBlock: rowsPerBlock,
                coefficients: coefficients, inputGradient: inputGradient)
            return
        }
        let pieceLength = ChannelRuns.longestPiece(geometry, limit: limit)
        let gradientScale = coefficients.gradientScale
        guard let centered = coefficients.centered else {
            gradientOnly(gradient: gradient, geometry: geometry, gradientScale: gradientScale, inputGradient: inputGradient)
            return
        }
        let centerLow = centered.center.low ?? []
        if geometry.innerCount == 1 {
            gradientScale.withUnsafeBufferPointer { gradientScaleBuffer in
            centered.center.high.withUnsafeBufferPointer { centerBuffer in
            centerLow.withUnsafeBufferPointer { centerLowBuffer in
            centered.scale.withUnsafeBufferPointer { centeredScaleBuffer in
            centered.bias.withUnsafeBufferPointer { biasBuffer in
                guard let gradientScaleBase = gradientScaleBuffer.baseAddress, let centerBase = centerBuffer.baseAddress,
                      let centeredScaleBase = centeredScaleBuffer.baseAddress, let biasBase = biasBuffer.baseAddress
                else { return }
                ChannelRuns.forEachChannelVectorPiece(geometry, limit: limit) { offset, count, firstChannel in
                    let n = BLASCount.checked(count)
                    let piece = inputGradient + offset
                    blas.copyCentered(n, input + offset, piece, center: centerBase + firstChannel,
                                      residual: centerLowBuffer.isEmpty ? nil : centerLowBuffer.baseAddress.map { $0 + firstChannel })
                    blas.diagonalMultiplyInPlace(n, centeredScaleBase + firstChannel, piece)
                    blas.diagonalMultiplyAdd(n, gradientScaleBase + firstChannel, gradient + offset, piece)
                    blas.axpy(n, 1, biasBase + firstChannel, 1, piece, 1)
                }
            }}}}}
        } else {
            let ones = [Scalar](repeating: 1, count: pieceLength)
            var diagonal = BLASRoutines<Scalar>.diagonalScratch(
                for: centered.scale + gradientScale, pieceLength: pieceLength)
            ones.withUnsafeBufferPointer { onesBuffer in
            diagonal.withUnsafeMutableBufferPointer { diagonalBuffer in
                guard let onesBase = onesBuffer.baseAddress else { return }
                ChannelRuns.forEachSingleChannelPiece(geometry, limit: limit) { offset, count, channel in
                    let n = BLASCount.checked(count)
                    let piece = inputGradient + offset
                    blas.copyCentered(n, input + offset, piece, center: centered.center.high[channel],
                                      residual: centered.center.low?[channel] ?? 0, ones: onesBase)
                    blas.scaleInPlace(n, centered.scale[channel], piece, diagonalScratch: diagonalBuffer.baseAddress)
                    blas.addScaled(n, gradientScale[channel], gradient + offset, piece,
                                   diagonalScratch: diagonalBuffer.baseAddress)
                    blas.axpy(n, centered.bias[channel], onesBase, 1, piece, 1)
                }
            }}
        }
    }

    /// `dx = gradientScale_c · dy`.
    private static func gradientOnly<Scalar: BatchNormScalar>(
        gradient: UnsafePointer<Scalar>, geometry: ChannelGeometry, gradientScale: [Scalar],
        inputGradient: UnsafeMutablePointer<Scalar>
    ) {
        let blas = Scalar.blasRoutines
        let limit = BLASCount.maximumCount
        if geometry.innerCount == 1 {
            gradientScale.withUnsafeBufferPointer { scaleBuffer in
                guard let scaleBase = scaleBuffer.baseAddress else { return }
                ChannelRuns.forEachChannelVectorPiece(geometry, limit: limit) { offset, count, firstChannel in
                    let n = BLASCount.checked(count)
                    blas.copy(n, gradient + offset, inputGradient + offset)
                    blas.diagonalMultiplyInPlace(n, scaleBase + firstChannel, inputGradient + offset)
                }
            }
        } else {
            var diagonal = BLASRoutines<Scalar>.diagonalScratch(
                for: gradientScale, pieceLength: ChannelRuns.longestPiece(geometry, limit: limit))
            diagonal.withUnsafeMutableBufferPointer { diagonalBuffer in
                ChannelRuns.forEachSingleChannelPiece(geometry, limit: limit) { offset, count, channel in
                    let n = BLASCount.checked(count)
                    blas.copy(n, gradient + offset, inputGradient + offset)
                    blas.scaleInPlace(n, gradientScale[channel], inputGradient + offset,
                                      diagonalScratch: diagonalBuffer.baseAddress)
                }
            }
        }
    }
}
