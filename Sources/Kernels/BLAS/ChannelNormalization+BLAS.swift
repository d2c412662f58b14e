/// The elementwise step of the forward pass: `output = scale_c * (input - center_c) + shift_c`.
///
/// Training passes the two-word batch mean as the center, `scale = gamma * invstd`, `shift = beta`;
/// inference the running mean and the folded running statistics. Subtracting the center first (rather
/// than folding it into the shift) keeps the result accurate when the mean is large against the spread.
enum ChannelNormalization {
    /// BLAS composition, per contiguous piece (in cache): `copy`, `axpy` of the center, `scal` (or
    /// `tbmv` for channels-last), `axpy` of the shift. One read of `input`, one write of `output`.
    static func blas<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, geometry: ChannelGeometry,
        center: ChannelCenter<Scalar>, scale: [Scalar], shift: [Scalar], output: UnsafeMutablePointer<Scalar>
    ) {
        guard geometry.elementCount > 0 else { return }
        let blas = Scalar.blasRoutines
        let limit = BLASCount.maximumCount
        if geometry.innerCount == 1, let rowsPerBlock = ChannelsLastBlocks.rowsPerBlock(geometry, limit: limit) {
            ChannelsLastBlocks.normalize(
                input, geometry: geometry, rowsPerBlock: rowsPerBlock, center: center, scale: scale, shift: shift,
                output: output)
            return
        }
        let pieceLength = ChannelRuns.longestPiece(geometry, limit: limit)
        let centerLow = center.low ?? []
        if geometry.innerCount == 1 {
            center.high.withUnsafeBufferPointer { centerBuffer in
            centerLow.withUnsafeBufferPointer { centerLowBuffer in
            scale.withUnsafeBufferPointer { scaleBuffer in
            shift.withUnsafeBufferPointer { shiftBuffer in
                guard let centerBase = centerBuffer.baseAddress, let scaleBase = scaleBuffer.baseAddress,
                      let shiftBase = shiftBuffer.baseAddress else { return }
                ChannelRuns.forEachChannelVectorPiece(geometry, limit: limit) { offset, count, firstChannel in
                    let n = BLASCount.checked(count)
                    let piece = output + offset
                    blas.copyCentered(n, input + offset, piece, center: centerBase + firstChannel,
                                      residual: centerLowBuffer.isEmpty ? nil : centerLowBuffer.baseAddress.map { $0 + firstChannel })
                    blas.diagonalMultiplyInPlace(n, scaleBase + firstChannel, piece)
                    blas.axpy(n, 1, shiftBase + firstChannel, 1, piece, 1)
                }
            }}}}
        } else {
            let ones = [Scalar](repeating: 1, count: pieceLength)
            var diagonal = BLASRoutines<Scalar>.diagonalScratch(for: scale, pieceLength: pieceLength)
            ones.withUnsafeBufferPointer { onesBuffer in
            diagonal.withUnsafeMutableBufferPointer { diagonalBuffer in
                guard let onesBase = onesBuffer.baseAddress else { return }
                ChannelRuns.forEachSingleChannelPiece(geometry, limit: limit) { offset, count, channel in
                    let n = BLASCount.checked(count)
                    let piece = output + offset
                    blas.copyCentered(n, input + offset, piece, center: center.high[channel],
                                      residual: center.low?[channel] ?? 0, ones: onesBase)
                    blas.scaleInPlace(n, scale[channel], piece, diagonalScratch: diagonalBuffer.baseAddress)
                    blas.axpy(n, shift[channel], onesBase, 1, piece, 1)
                }
            }}
        }
    }
}
