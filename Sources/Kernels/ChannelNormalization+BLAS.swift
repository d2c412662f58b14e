/// The elementwise step of the forward pass: `output = scale_c * (input - center_c) + shift_c`.
///
/// Training passes `center = mean`, `scale = gamma * invstd`, `shift = beta`; inference the running
/// mean and the folded running statistics. Subtracting the center first (rather than folding it into
/// the shift) keeps the result accurate when the mean is large against the spread.
enum ChannelNormalization {
    /// BLAS composition, per contiguous piece (in cache): `copy`, `axpy` of the center, `scal` (or
    /// `tbmv` for channels-last), `axpy` of the shift. One read of `input`, one write of `output`.
    static func blas<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, geometry: ChannelGeometry,
        center: [Scalar], scale: [Scalar], shift: [Scalar], output: UnsafeMutablePointer<Scalar>
    ) {
        guard geometry.elementCount > 0 else { return }
        let blas = Scalar.blasRoutines
        let limit = BLASCount.maximumCount
        if geometry.innerCount == 1 {
            center.withUnsafeBufferPointer { centerBuffer in
            scale.withUnsafeBufferPointer { scaleBuffer in
            shift.withUnsafeBufferPointer { shiftBuffer in
                guard let centerBase = centerBuffer.baseAddress, let scaleBase = scaleBuffer.baseAddress,
                      let shiftBase = shiftBuffer.baseAddress else { return }
                ChannelRuns.forEachChannelVectorPiece(geometry, limit: limit) { offset, count, firstChannel in
                    let n = BLASCount.checked(count)
                    let piece = output + offset
                    blas.copy(n, input + offset, piece)
                    blas.axpy(n, -1, centerBase + firstChannel, 1, piece, 1)
                    blas.diagonalMultiplyInPlace(n, scaleBase + firstChannel, piece)
                    blas.axpy(n, 1, shiftBase + firstChannel, 1, piece, 1)
                }
            }}}
        } else {
            let pieceLength = ChannelRuns.longestPiece(geometry, limit: limit)
            let ones = [Scalar](repeating: 1, count: pieceLength)
            let zeros = [Scalar](repeating: 0, count: scale.contains(0) ? pieceLength : 0)
            ones.withUnsafeBufferPointer { onesBuffer in
            zeros.withUnsafeBufferPointer { zerosBuffer in
                guard let onesBase = onesBuffer.baseAddress else { return }
                ChannelRuns.forEachSingleChannelPiece(geometry, limit: limit) { offset, count, channel in
                    let n = BLASCount.checked(count)
                    let piece = output + offset
                    blas.copy(n, input + offset, piece)
                    blas.axpy(n, -center[channel], onesBase, 1, piece, 1)
                    blas.scaleInPlace(n, scale[channel], piece, zeros: zerosBuffer.baseAddress)
                    blas.axpy(n, shift[channel], onesBase, 1, piece, 1)
                }
            }}
        }
    }
}
