/// The BLAS composition for channels-last tensors (`innerCount == 1`, rows of `channelCount`
/// interleaved channels), one call per block of rows instead of per row.
///
/// Per-channel coefficients are laid out as *patterns*: the `channelCount`-vector repeated for every
/// row of a block, so that `copy`/`axpy`/`tbmv`/`sbmv` over a whole block apply the right coefficient
/// to every element. Per-channel sums of a block go through one `gemv` (transposed, against ones) and
/// are accumulated across blocks in `Double`, which also bounds their rounding error to that of a
/// block. Blocks hold about `targetBlockLength` elements and never more than `BLASCount.maximumCount`.
enum ChannelsLastBlocks {
    static let targetBlockLength = 1 << 14

    /// Rows per block, or `nil` when not even one row fits a CBLAS count (then the per-piece code runs).
    static func rowsPerBlock(_ geometry: ChannelGeometry, limit: Int) -> Int? {
        let channelCount = max(geometry.channelCount, 1)
        let rows = min(max(1, targetBlockLength / channelCount), limit / channelCount, geometry.outerCount)
        return rows >= 1 ? rows : nil
    }

    /// `values` repeated `rows` times.
    static func pattern<Scalar: BatchNormScalar>(_ values: [Scalar], rows: Int) -> [Scalar] {
        var result = [Scalar]()
        result.reserveCapacity(values.count * rows)
        for _ in 0..<rows { result.append(contentsOf: values) }
        return result
    }

    /// Calls `body(firstRow, rowCount)` for consecutive blocks of at most `rowsPerBlock` rows.
    @inline(__always)
    static func forEachBlock(_ geometry: ChannelGeometry, rowsPerBlock: Int, _ body: (Int, Int) -> Void) {
        BLASCount.forEachChunk(of: geometry.outerCount, limit: rowsPerBlock, body)
    }

    // MARK: - Sums

    /// Per-channel sums of `tensor` in `Double`: one `gemv` per block.
    static func channelSums<Scalar: BatchNormScalar>(
        _ tensor: UnsafePointer<Scalar>, geometry: ChannelGeometry, rowsPerBlock: Int
    ) -> [Double] {
        let channelCount = geometry.channelCount
        var totals = [Double](repeating: 0, count: channelCount)
        let ones = [Scalar](repeating: 1, count: rowsPerBlock)
        var blockSums = [Scalar](repeating: 0, count: channelCount)
        ones.withUnsafeBufferPointer { onesBuffer in
        blockSums.withUnsafeMutableBufferPointer { blockBuffer in
            guard let onesBase = onesBuffer.baseAddress, let blockBase = blockBuffer.baseAddress else { return }
            forEachBlock(geometry, rowsPerBlock: rowsPerBlock) { firstRow, rows in
                addColumnSums(tensor + firstRow * channelCount, rows: rows, channelCount: channelCount,
                              ones: onesBase, scratch: blockBase, into: &totals)
            }
        }}
        return totals
    }

    /// `totals[c] += Σ_r block[r, c]` through one transposed `gemv` into `scratch`.
    @inline(__always)
    static func addColumnSums<Scalar: BatchNormScalar>(
        _ block: UnsafePointer<Scalar>, rows: Int, channelCount: Int, ones: UnsafePointer<Scalar>,
        scratch: UnsafeMutablePointer<Scalar>, into totals: inout [Double]
    ) {
        scratch.update(repeating: 0, count: channelCount)
        Scalar.blasRoutines.gemv(
            true, BLASCount.checked(rows), BLASCount.checked(channelCount), 1, block,
            BLASCount.checked(channelCount), ones, 1, 1, scratch)
        for channel in 0..<channelCount { totals[channel] += Double(scratch[channel]) }
    }

    // MARK: - Moments

    /// Corrected two-pass moments (see `ChannelMoments.blas`), block by block: `d = x - m₀` by `copy` and
    /// `axpy` of the mean pattern, `d²` by `copy` and `tbmv` with `d` as the diagonal, and both summed by
    /// `gemv`.
    static func moments<Scalar: BatchNormScalar>(
        _ tensor: UnsafePointer<Scalar>, geometry: ChannelGeometry, rowsPerBlock: Int
    ) -> ChannelMoments<Scalar> {
        let channelCount = geometry.channelCount
        let count = Double(geometry.valuesPerChannel)
        let blas = Scalar.blasRoutines
        let firstMean = channelSums(tensor, geometry: geometry, rowsPerBlock: rowsPerBlock)
            .map { Scalar($0 / count) }
        let meanPattern = pattern(firstMean, rows: rowsPerBlock)
        var centered = [Scalar](repeating: 0, count: rowsPerBlock * channelCount)
        var squares = [Scalar](repeating: 0, count: rowsPerBlock * channelCount)
        var blockSums = [Scalar](repeating: 0, count: channelCount)
        let ones = [Scalar](repeating: 1, count: rowsPerBlock)
        var centeredSum = [Double](repeating: 0, count: channelCount)
        var centeredSquares = [Double](repeating: 0, count: channelCount)
        meanPattern.withUnsafeBufferPointer { meanBuffer in
        ones.withUnsafeBufferPointer { onesBuffer in
        centered.withUnsafeMutableBufferPointer { centeredBuffer in
        squares.withUnsafeMutableBufferPointer { squaresBuffer in
        blockSums.withUnsafeMutableBufferPointer { blockBuffer in
            guard let meanBase = meanBuffer.baseAddress, let onesBase = onesBuffer.baseAddress,
                  let centeredBase = centeredBuffer.baseAddress, let squaresBase = squaresBuffer.baseAddress,
                  let blockBase = blockBuffer.baseAddress else { return }
            forEachBlock(geometry, rowsPerBlock: rowsPerBlock) { firstRow, rows in
                let n = BLASCount.checked(rows * channelCount)
                blas.copyCentered(n, tensor + firstRow * channelCount, centeredBase, center: meanBase, residual: nil)
                blas.copy(n, centeredBase, squaresBase)
                blas.diagonalMultiplyInPlace(n, centeredBase, squaresBase)
                addColumnSums(centeredBase, rows: rows, channelCount: channelCount, ones: onesBase,
                              scratch: blockBase, into: &centeredSum)
                addColumnSums(squaresBase, rows: rows, channelCount: channelCount, ones: onesBase,
                              scratch: blockBase, into: &centeredSquares)
            }
        }}}}}
        var mean = [Scalar](), meanLow = [Scalar](), sumOfSquaredDeviations = [Scalar]()
        for channel in 0..<channelCount {
            let (twoWordMean, residual) = ErrorFreeSums.twoSum(Double(firstMean[channel]), centeredSum[channel] / count)
            let (high, low) = ErrorFreeSums.rounded(twoWordMean, low: residual, as: Scalar.self)
            mean.append(high)
            meanLow.append(low)
            let m2 = centeredSquares[channel] - centeredSum[channel] * centeredSum[channel] / count
            sumOfSquaredDeviations.append(Scalar(m2 < 0 ? 0 : m2))
        }
        return ChannelMoments(count: geometry.valuesPerChannel, mean: mean, meanLow: meanLow,
                              sumOfSquaredDeviations: sumOfSquaredDeviations)
    }

    // MARK: - Elementwise steps

    /// `output = (input - center) * scale + shift`: `copy`, `axpy` of the center pattern(s), `tbmv` with
    /// the scale pattern, `axpy` of the shift pattern, per block.
    static func normalize<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, geometry: ChannelGeometry, rowsPerBlock: Int,
        center: ChannelCenter<Scalar>, scale: [Scalar], shift: [Scalar], output: UnsafeMutablePointer<Scalar>
    ) {
        let channelCount = geometry.channelCount
        let blas = Scalar.blasRoutines
        let centerPattern = pattern(center.high, rows: rowsPerBlock)
        let lowPattern = center.low.map { pattern($0, rows: rowsPerBlock) } ?? []
        let scalePattern = pattern(scale, rows: rowsPerBlock)
        let shiftPattern = pattern(shift, rows: rowsPerBlock)
        centerPattern.withUnsafeBufferPointer { centerBuffer in
        lowPattern.withUnsafeBufferPointer { lowBuffer in
        scalePattern.withUnsafeBufferPointer { scaleBuffer in
        shiftPattern.withUnsafeBufferPointer { shiftBuffer in
            guard let centerBase = centerBuffer.baseAddress, let scaleBase = scaleBuffer.baseAddress,
                  let shiftBase = shiftBuffer.baseAddress else { return }
            let lowBase = lowBuffer.isEmpty ? nil : lowBuffer.baseAddress
            forEachBlock(geometry, rowsPerBlock: rowsPerBlock) { firstRow, rows in
                let n = BLASCount.checked(rows * channelCount)
                let offset = firstRow * channelCount
                blas.copyCentered(n, input + offset, output + offset, center: centerBase, residual: lowBase)
                blas.diagonalMultiplyInPlace(n, scaleBase, output + offset)
                blas.axpy(n, 1, shiftBase, 1, output + offset, 1)
            }
        }}}}
    }

    /// `Σ dy` and `Σ dy · (x - center)` per channel: the product through `tbmv` with the `dy` block as
    /// the diagonal, both sums by `gemv`, accumulated in `Double`.
    static func backwardReductions<Scalar: BatchNormScalar>(
        input: UnsafePointer<Scalar>, gradient: UnsafePointer<Scalar>, geometry: ChannelGeometry, rowsPerBlock: Int,
        center: ChannelCenter<Scalar>
    ) -> BackwardReductions<Scalar> {
        let channelCount = geometry.channelCount
        let blas = Scalar.blasRoutines
        let sumGradient = channelSums(gradient, geometry: geometry, rowsPerBlock: rowsPerBlock)
        let centerPattern = pattern(center.high, rows: rowsPerBlock)
        let lowPattern = center.low.map { pattern($0, rows: rowsPerBlock) } ?? []
        let ones = [Scalar](repeating: 1, count: rowsPerBlock)
        var product = [Scalar](repeating: 0, count: rowsPerBlock * channelCount)
        var blockSums = [Scalar](repeating: 0, count: channelCount)
        var sumProduct = [Double](repeating: 0, count: channelCount)
        centerPattern.withUnsafeBufferPointer { centerBuffer in
        lowPattern.withUnsafeBufferPointer { lowBuffer in
        ones.withUnsafeBufferPointer { onesBuffer in
        product.withUnsafeMutableBufferPointer { productBuffer in
        blockSums.withUnsafeMutableBufferPointer { blockBuffer in
            guard let centerBase = centerBuffer.baseAddress, let onesBase = onesBuffer.baseAddress,
                  let productBase = productBuffer.baseAddress, let blockBase = blockBuffer.baseAddress else { return }
            let lowBase = lowBuffer.isEmpty ? nil : lowBuffer.baseAddress
            forEachBlock(geometry, rowsPerBlock: rowsPerBlock) { firstRow, rows in
                let n = BLASCount.checked(rows * channelCount)
                let offset = firstRow * channelCount
                blas.copyCentered(n, input + offset, productBase, center: centerBase, residual: lowBase)
                blas.diagonalMultiplyInPlace(n, gradient + offset, productBase)
                addColumnSums(productBase, rows: rows, channelCount: channelCount, ones: onesBase,
                              scratch: blockBase, into: &sumProduct)
            }
        }}}}}
        return BackwardReductions(sumGradient: sumGradient.map { Scalar($0) },
                                  sumGradientTimesCentered: sumProduct.map { Scalar($0) })
    }

    /// `dx = k·dy + p·(x - center) + q`: `copy` + `axpy` (centering), `tbmv` (p), `sbmv` (k ⊙ dy),
    /// `axpy` (q) per block; without a centered term `copy` of `dy` and `tbmv` (k).
    static func inputGradient<Scalar: BatchNormScalar>(
        input: UnsafePointer<Scalar>, gradient: UnsafePointer<Scalar>, geometry: ChannelGeometry, rowsPerBlock: Int,
        coefficients: InputGradientCoefficients<Scalar>, inputGradient: UnsafeMutablePointer<Scalar>
    ) {
        let channelCount = geometry.channelCount
        let blas = Scalar.blasRoutines
        let kPattern = pattern(coefficients.gradientScale, rows: rowsPerBlock)
        let centerPattern = coefficients.centered.map { pattern($0.center.high, rows: rowsPerBlock) } ?? []
        let lowPattern = coefficients.centered?.center.low.map { pattern($0, rows: rowsPerBlock) } ?? []
        let pPattern = coefficients.centered.map { pattern($0.scale, rows: rowsPerBlock) } ?? []
        let qPattern = coefficients.centered.map { pattern($0.bias, rows: rowsPerBlock) } ?? []
        kPattern.withUnsafeBufferPointer { kBuffer in
        centerPattern.withUnsafeBufferPointer { centerBuffer in
        lowPattern.withUnsafeBufferPointer { lowBuffer in
        pPattern.withUnsafeBufferPointer { pBuffer in
        qPattern.withUnsafeBufferPointer { qBuffer in
            guard let kBase = kBuffer.baseAddress else { return }
            let lowBase = lowBuffer.isEmpty ? nil : lowBuffer.baseAddress
            forEachBlock(geometry, rowsPerBlock: rowsPerBlock) { firstRow, rows in
                let n = BLASCount.checked(rows * channelCount)
                let offset = firstRow * channelCount
                let target = inputGradient + offset
                if let centerBase = centerBuffer.baseAddress, !centerBuffer.isEmpty,
                   let pBase = pBuffer.baseAddress, let qBase = qBuffer.baseAddress {
                    blas.copyCentered(n, input + offset, target, center: centerBase, residual: lowBase)
                    blas.diagonalMultiplyInPlace(n, pBase, target)
                    blas.diagonalMultiplyAdd(n, kBase, gradient + offset, target)
                    blas.axpy(n, 1, qBase, 1, target, 1)
                } else {
                    blas.copy(n, gradient + offset, target)
                    blas.diagonalMultiplyInPlace(n, kBase, target)
                }
            }
        }}}}}
    }
}
