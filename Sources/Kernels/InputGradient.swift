/// Per-channel coefficients of the backward elementwise step:
/// ```
/// dx = gradientScale_c · dy + centeredScale_c · (x - center_c) + bias_c
/// ```
/// Training backward: `k = γ·invstd`, `gradientScale = k`, `centeredScale = -k·invstd·dγ/M`,
/// `bias = -k·dβ/M`. Inference backward: `gradientScale = γ·invstd`, no centered term (`dx` does not
/// then read `x`, so a NaN in `x` does not reach `dx`).
package struct InputGradientCoefficients<Scalar: BatchNormScalar>: Sendable {
    package var gradientScale: [Scalar]
    /// `nil` when `dx` depends on `dy` only.
    package var centered: (center: [Scalar], scale: [Scalar], bias: [Scalar])?

    package init(gradientScale: [Scalar], centered: (center: [Scalar], scale: [Scalar], bias: [Scalar])?) {
        self.gradientScale = gradientScale
        self.centered = centered
    }
}

enum InputGradient {
    /// BLAS composition per contiguous piece: `copy` x, `axpy` the center, `scal` (`tbmv`), `axpy` of
    /// `dy` (`sbmv` for channels-last), `axpy` of the bias. Reads `x` and `dy` once, writes `dx` once.
    static func blas<Scalar: BatchNormScalar>(
        input: UnsafePointer<Scalar>, gradient: UnsafePointer<Scalar>, geometry: ChannelGeometry,
        coefficients: InputGradientCoefficients<Scalar>, inputGradient: UnsafeMutablePointer<Scalar>
    ) {
        guard geometry.elementCount > 0 else { return }
        let blas = Scalar.blasRoutines
        let limit = BLASCount.maximumCount
        let pieceLength = ChannelRuns.longestPiece(geometry, limit: limit)
        let gradientScale = coefficients.gradientScale
        guard let (center, centeredScale, bias) = coefficients.centered else {
            // dx = k · dy
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
                let zeros = [Scalar](repeating: 0, count: gradientScale.contains(0) ? pieceLength : 0)
                zeros.withUnsafeBufferPointer { zerosBuffer in
                    ChannelRuns.forEachSingleChannelPiece(geometry, limit: limit) { offset, count, channel in
                        let n = BLASCount.checked(count)
                        blas.copy(n, gradient + offset, inputGradient + offset)
                        blas.scaleInPlace(n, gradientScale[channel], inputGradient + offset, zeros: zerosBuffer.baseAddress)
                    }
                }
            }
            return
        }
        if geometry.innerCount == 1 {
            gradientScale.withUnsafeBufferPointer { gradientScaleBuffer in
            center.withUnsafeBufferPointer { centerBuffer in
            centeredScale.withUnsafeBufferPointer { centeredScaleBuffer in
            bias.withUnsafeBufferPointer { biasBuffer in
                guard let gradientScaleBase = gradientScaleBuffer.baseAddress, let centerBase = centerBuffer.baseAddress,
                      let centeredScaleBase = centeredScaleBuffer.baseAddress, let biasBase = biasBuffer.baseAddress
                else { return }
                ChannelRuns.forEachChannelVectorPiece(geometry, limit: limit) { offset, count, firstChannel in
                    let n = BLASCount.checked(count)
                    let piece = inputGradient + offset
                    blas.copy(n, input + offset, piece)
                    blas.axpy(n, -1, centerBase + firstChannel, 1, piece, 1)
                    blas.diagonalMultiplyInPlace(n, centeredScaleBase + firstChannel, piece)
                    blas.diagonalMultiplyAdd(n, gradientScaleBase + firstChannel, gradient + offset, piece)
                    blas.axpy(n, 1, biasBase + firstChannel, 1, piece, 1)
                }
            }}}}
        } else {
            let ones = [Scalar](repeating: 1, count: pieceLength)
            let zeros = [Scalar](repeating: 0, count: centeredScale.contains(0) ? pieceLength : 0)
            ones.withUnsafeBufferPointer { onesBuffer in
            zeros.withUnsafeBufferPointer { zerosBuffer in
                guard let onesBase = onesBuffer.baseAddress else { return }
                ChannelRuns.forEachSingleChannelPiece(geometry, limit: limit) { offset, count, channel in
                    let n = BLASCount.checked(count)
                    let piece = inputGradient + offset
                    blas.copy(n, input + offset, piece)
                    blas.axpy(n, -center[channel], onesBase, 1, piece, 1)
                    blas.scaleInPlace(n, centeredScale[channel], piece, zeros: zerosBuffer.baseAddress)
                    blas.axpy(n, gradientScale[channel], gradient + offset, 1, piece, 1)
                    blas.axpy(n, bias[channel], onesBase, 1, piece, 1)
                }
            }}
        }
    }
}
