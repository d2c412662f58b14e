/// Group whitening (decorrelated batch normalization) over borrowed memory, both layouts through
/// ``ChannelGeometry``. Channels `g·G ..< (g+1)·G` form group `g`; each group's values over the
/// `M = outerCount · innerCount` samples are whitened together. The callers (`BatchNormKit`) have
/// validated every size, including that `M`, `innerCount` and `channelCount` fit CBLAS's 32-bit
/// counts; kernels only `assert`.
///
/// Per group the tensor-sized work is three BLAS-3 calls: the covariance by `syrk` on a centered copy,
/// the output (or input gradient) by `gemm` with `G × G` matrices, and in backward the cross product
/// `dY Sᵀ` by `gemm`. The `G × G` algebra (eigendecomposition, Newton–Schulz) is ``WhiteningTransform``.
///
/// Safe to call from many threads at once: no state, scratch allocated per call.
package enum GroupWhiteningKernels {
    /// Rows of a sample-major group handled per product, so that the shift pass finds them in cache.
    static let sampleChunk = 256

    // MARK: - Forward

    /// Training forward: batch mean and covariance per group, `Φ`, and
    /// `output = gamma ⊙ (Φ (x - mean)) + beta` (`gamma`/`beta` `nil` for a non-affine layer).
    /// Writes every element of `output`.
    /// - Complexity: `O(C·G·M)` in BLAS-3 plus `O(C·G²)` for the group matrices.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func forwardTraining<Scalar: BatchNormScalar>(
        _ input: Span<Scalar>, geometry: ChannelGeometry, groupSize: Int, method: WhiteningMethod,
        epsilon: Double, gamma: [Scalar]?, beta: [Scalar]?, into output: inout MutableSpan<Scalar>
    ) -> GroupWhiteningFactors<Scalar> {
        assert(input.count == geometry.elementCount && output.count == geometry.elementCount)
        assert(geometry.channelCount % groupSize == 0)
        let moments = BatchNormKernels.moments(of: input, geometry: geometry, path: .fused)
        let center = moments.center
        let groupCount = geometry.channelCount / groupSize
        var covariances: [SquareMatrix] = []
        var whitenings: [SquareMatrix] = []
        var scratch = [Scalar](repeating: 0, count: GroupScratch.elementCount(geometry: geometry, groupSize: groupSize))
        let rowLength = GroupScratch.rowLength(geometry: geometry, groupSize: groupSize)
        input.withUnsafeBufferPointer { inputBuffer in
            output.withUnsafeMutableBufferPointer { outputBuffer in
                scratch.withUnsafeMutableBufferPointer { scratchBuffer in
                    guard let inputBase = inputBuffer.baseAddress, let outputBase = outputBuffer.baseAddress,
                          let scratchBase = scratchBuffer.baseAddress else { return }
                    let source = UnsafeMutablePointer(mutating: inputBase)
                    let scratchOperand = GroupOperand(scratch: scratchBase, geometry: geometry, rowLength: rowLength)
                    for group in 0..<groupCount {
                        let channels = group * groupSize ..< (group + 1) * groupSize
                        centeredCopy(
                            of: GroupOperand(tensor: source, geometry: geometry, group: group, groupSize: groupSize),
                            center: Array(center.high[channels]), geometry: geometry, withOnes: false,
                            into: scratchOperand)
                        let residual = residualMean(center, channels)
                        var covariance = secondMoment(of: scratchOperand, geometry: geometry, groupSize: groupSize)
                        for row in 0..<groupSize {
                            for column in 0..<groupSize {
                                covariance[row, column] -= residual[row] * residual[column]
                            }
                            covariance[row, row] += epsilon
                        }
                        let whitening = WhiteningTransform.whitening(
                            covariance: covariance, method: method, epsilon: epsilon)
                        // y = diag(gamma) Φ (S - r) + beta: the residual r of the two-word mean goes into the shift.
                        let scale = gamma.map { Array($0[channels]).map(Double.init) }
                            ?? .init(repeating: 1, count: groupSize)
                        let matrix = whitening.scalingRows(by: scale)
                        let offset = beta.map { Array($0[channels]).map(Double.init) }
                            ?? .init(repeating: 0, count: groupSize)
                        let shift = zip(offset, multiply(matrix, residual)).map { $0 - $1 }
                        combine(
                            [(scalars(matrix), scratchOperand)], shift: shift.map { Scalar($0) },
                            into: GroupOperand(tensor: outputBase, geometry: geometry, group: group, groupSize: groupSize),
                            geometry: geometry, groupSize: groupSize)
                        covariances.append(covariance)
                        whitenings.append(whitening)
                    }
                }
            }
        }
        return GroupWhiteningFactors(center: center, covariance: covariances, whitening: whitenings)
    }

    /// Inference forward with fixed statistics: `output = gamma ⊙ (Φ_g (x - mean)) + beta`, folded into
    /// `A x + (beta - A mean)` with `A = diag(gamma) Φ_g`. `whitening` holds the groups' `G × G` matrices
    /// one after another (row-major). Writes every element of `output`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func forwardInference<Scalar: BatchNormScalar>(
        _ input: Span<Scalar>, geometry: ChannelGeometry, groupSize: Int, mean: [Scalar], whitening: [Scalar],
        gamma: [Scalar]?, beta: [Scalar]?, into output: inout MutableSpan<Scalar>
    ) {
        assert(input.count == geometry.elementCount && output.count == geometry.elementCount)
        let groupCount = geometry.channelCount / groupSize
        let matrixCount = groupSize * groupSize
        input.withUnsafeBufferPointer { inputBuffer in
            output.withUnsafeMutableBufferPointer { outputBuffer in
                guard let inputBase = inputBuffer.baseAddress, let outputBase = outputBuffer.baseAddress else { return }
                let source = UnsafeMutablePointer(mutating: inputBase)
                for group in 0..<groupCount {
                    let channels = group * groupSize ..< (group + 1) * groupSize
                    let phi = SquareMatrix(
                        size: groupSize,
                        values: whitening[group * matrixCount ..< (group + 1) * matrixCount].map(Double.init))
                    let scale = gamma.map { Array($0[channels]).map(Double.init) } ?? .init(repeating: 1, count: groupSize)
                    let matrix = phi.scalingRows(by: scale)
                    let offset = beta.map { Array($0[channels]).map(Double.init) } ?? .init(repeating: 0, count: groupSize)
                    let shift = zip(offset, multiply(matrix, mean[channels].map(Double.init))).map { $0 - $1 }
                    combine(
                        [(scalars(matrix), GroupOperand(tensor: source, geometry: geometry, group: group, groupSize: groupSize))],
                        shift: shift.map { Scalar($0) },
                        into: GroupOperand(tensor: outputBase, geometry: geometry, group: group, groupSize: groupSize),
                        geometry: geometry, groupSize: groupSize)
                }
            }
        }
    }

    // MARK: - Backward

    /// Training backward through the batch statistics of `factors` (from ``forwardTraining``). With
    /// `S = x - mean`, `x̂ = Φ S`, `D = gamma ⊙ dy`, per group:
    /// ```
    /// dbeta = Σ_m dy,   dgamma = diag(dY Sᵀ Φ),   dΦ = D Sᵀ,   dΣ = WhiteningTransform backward of dΦ
    /// dx = Φ (D - mean_m D) + (2 / M) sym(dΣ) S
    /// ```
    /// Writes every element of `gradInput`; returns `dgamma`, `dbeta` (per channel).
    /// - Complexity: `O(C·G·M)` in BLAS-3 plus `O(C·G²)` (IterNorm: `O(C·G²·T)`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func backward<Scalar: BatchNormScalar>(
        gradOutput: Span<Scalar>, input: Span<Scalar>, geometry: ChannelGeometry, groupSize: Int,
        method: WhiteningMethod, epsilon: Double, factors: GroupWhiteningFactors<Scalar>, gamma: [Scalar]?,
        into gradInput: inout MutableSpan<Scalar>
    ) -> (gamma: [Scalar], beta: [Scalar]) {
        assert(input.count == geometry.elementCount && gradOutput.count == geometry.elementCount)
        assert(gradInput.count == geometry.elementCount)
        let groupCount = geometry.channelCount / groupSize
        let sampleCount = Double(geometry.valuesPerChannel)
        var gammaGradient = [Scalar](repeating: 0, count: geometry.channelCount)
        var betaGradient = [Scalar](repeating: 0, count: geometry.channelCount)
        var scratch = [Scalar](repeating: 0, count: GroupScratch.elementCount(geometry: geometry, groupSize: groupSize))
        let rowLength = GroupScratch.rowLength(geometry: geometry, groupSize: groupSize)
        var crossProduct = [Scalar](repeating: 0, count: groupSize * (groupSize + 1))
        input.withUnsafeBufferPointer { inputBuffer in
            gradOutput.withUnsafeBufferPointer { gradOutputBuffer in
                gradInput.withUnsafeMutableBufferPointer { gradInputBuffer in
                    scratch.withUnsafeMutableBufferPointer { scratchBuffer in
                        guard let inputBase = inputBuffer.baseAddress, let gradOutputBase = gradOutputBuffer.baseAddress,
                              let gradInputBase = gradInputBuffer.baseAddress, let scratchBase = scratchBuffer.baseAddress
                        else { return }
                        let scratchOperand = GroupOperand(scratch: scratchBase, geometry: geometry, rowLength: rowLength)
                        for group in 0..<groupCount {
                            let channels = group * groupSize ..< (group + 1) * groupSize
                            let gradOutputOperand = GroupOperand(
                                tensor: UnsafeMutablePointer(mutating: gradOutputBase), geometry: geometry, group: group,
                                groupSize: groupSize)
                            centeredCopy(
                                of: GroupOperand(
                                    tensor: UnsafeMutablePointer(mutating: inputBase), geometry: geometry, group: group,
                                    groupSize: groupSize),
                                center: Array(factors.center.high[channels]), geometry: geometry, withOnes: true,
                                into: scratchOperand)
                            crossProductWithScratch(
                                gradOutputOperand, scratchOperand, geometry: geometry, groupSize: groupSize,
                                into: &crossProduct)
                            let residual = residualMean(factors.center, channels)
                            let whitening = factors.whitening[group]
                            let scale = gamma.map { Array($0[channels]).map(Double.init) }
                                ?? .init(repeating: 1, count: groupSize)
                            // dY (S - r)ᵀ and Σ dy from the product with the ones row/column.
                            var sums = [Double](repeating: 0, count: groupSize)
                            var gradientCross = SquareMatrix.zero(size: groupSize)
                            for row in 0..<groupSize {
                                sums[row] = Double(crossProduct[row * (groupSize + 1) + groupSize])
                                for column in 0..<groupSize {
                                    gradientCross[row, column] = Double(crossProduct[row * (groupSize + 1) + column])
                                        - sums[row] * residual[column]
                                }
                            }
                            let projected = gradientCross * whitening
                            for (index, channel) in channels.enumerated() {
                                betaGradient[channel] = Scalar(sums[index])
                                gammaGradient[channel] = Scalar(projected[index, index])
                            }
                            let covarianceGradient = WhiteningTransform.covarianceGradient(
                                covariance: factors.covariance[group], method: method, epsilon: epsilon,
                                whiteningGradient: gradientCross.scalingRows(by: scale))
                            let outputMatrix = whitening.scalingColumns(by: scale)
                            let centeredMatrix = (2 / sampleCount) * covarianceGradient
                            let shift = zip(
                                multiply(outputMatrix, sums.map { $0 / sampleCount }), multiply(centeredMatrix, residual)
                            ).map { -($0 + $1) }
                            combine(
                                [(scalars(outputMatrix), gradOutputOperand), (scalars(centeredMatrix), scratchOperand)],
                                shift: shift.map { Scalar($0) },
                                into: GroupOperand(tensor: gradInputBase, geometry: geometry, group: group, groupSize: groupSize),
                                geometry: geometry, groupSize: groupSize)
                        }
                    }
                }
            }
        }
        return (gammaGradient, betaGradient)
    }

    // MARK: - Pieces

    /// `S = x - high` for one group into the scratch (and the ones row/column when asked).
    static func centeredCopy<Scalar: BatchNormScalar>(
        of source: GroupOperand<Scalar>, center: [Scalar], geometry: ChannelGeometry, withOnes: Bool,
        into scratch: GroupOperand<Scalar>
    ) {
        let groupSize = center.count
        if geometry.innerCount > 1 {
            let width = geometry.innerCount
            for panel in 0..<geometry.outerCount {
                for row in 0..<groupSize {
                    let from = source.base + panel * source.panelStride + row * source.leadingDimension
                    let to = scratch.base + panel * scratch.panelStride + row * scratch.leadingDimension
                    let value = center[row]
                    for index in 0..<width { to[index] = from[index] - value }
                }
            }
            if withOnes {
                (scratch.base + groupSize * scratch.leadingDimension).update(repeating: 1, count: geometry.valuesPerChannel)
            }
        } else {
            for sample in 0..<geometry.valuesPerChannel {
                let from = source.base + sample * source.leadingDimension
                let to = scratch.base + sample * scratch.leadingDimension
                for column in 0..<groupSize { to[column] = from[column] - center[column] }
                if withOnes { to[groupSize] = 1 }
            }
        }
    }

    /// `S Sᵀ / M` (channel-major; `Sᵀ S / M` sample-major) over the group's `G` rows, by `syrk`.
    static func secondMoment<Scalar: BatchNormScalar>(
        of scratch: GroupOperand<Scalar>, geometry: ChannelGeometry, groupSize: Int
    ) -> SquareMatrix {
        var upper = [Scalar](repeating: 0, count: groupSize * groupSize)
        let order = BLASCount.checked(groupSize)
        upper.withUnsafeMutableBufferPointer { upperBuffer in
            guard let upperBase = upperBuffer.baseAddress else { return }
            Scalar.whiteningRoutines.syrk(
                geometry.innerCount == 1, order, BLASCount.checked(geometry.valuesPerChannel),
                1 / Scalar(geometry.valuesPerChannel), scratch.base, BLASCount.checked(scratch.leadingDimension),
                0, upperBase, order)
        }
        var matrix = SquareMatrix.zero(size: groupSize)
        for row in 0..<groupSize {
            for column in row..<groupSize {
                matrix[row, column] = Double(upper[row * groupSize + column])
                matrix[column, row] = matrix[row, column]
            }
        }
        return matrix
    }

    /// `dY S_extᵀ`: `G × (G + 1)`, the last column `Σ dy` (from the scratch's ones).
    static func crossProductWithScratch<Scalar: BatchNormScalar>(
        _ gradOutput: GroupOperand<Scalar>, _ scratch: GroupOperand<Scalar>, geometry: ChannelGeometry,
        groupSize: Int, into product: inout [Scalar]
    ) {
        let rows = BLASCount.checked(groupSize), columns = BLASCount.checked(groupSize + 1)
        product.withUnsafeMutableBufferPointer { productBuffer in
            guard let productBase = productBuffer.baseAddress else { return }
            if geometry.innerCount > 1 {
                let depth = BLASCount.checked(geometry.innerCount)
                for panel in 0..<geometry.outerCount {
                    Scalar.whiteningRoutines.gemm(
                        false, true, rows, columns, depth, 1,
                        gradOutput.base + panel * gradOutput.panelStride, BLASCount.checked(gradOutput.leadingDimension),
                        scratch.base + panel * scratch.panelStride, BLASCount.checked(scratch.leadingDimension),
                        panel == 0 ? 0 : 1, productBase, columns)
                }
            } else {
                Scalar.whiteningRoutines.gemm(
                    true, false, rows, columns, BLASCount.checked(geometry.valuesPerChannel), 1,
                    gradOutput.base, BLASCount.checked(gradOutput.leadingDimension),
                    scratch.base, BLASCount.checked(scratch.leadingDimension), 0, productBase, columns)
            }
        }
    }

    /// `output = shift + Σ_t matrix_t · source_t` over one group (each matrix `G × G`, row-major, acting
    /// on the channel index), panel by panel or in chunks of samples.
    static func combine<Scalar: BatchNormScalar>(
        _ terms: [(matrix: [Scalar], source: GroupOperand<Scalar>)], shift: [Scalar],
        into output: GroupOperand<Scalar>, geometry: ChannelGeometry, groupSize: Int
    ) {
        let order = BLASCount.checked(groupSize)
        let outputStride = BLASCount.checked(output.leadingDimension)
        func withMatrices(_ index: Int, _ pointers: [UnsafePointer<Scalar>], _ body: ([UnsafePointer<Scalar>]) -> Void) {
            guard index < terms.count else { return body(pointers) }
            terms[index].matrix.withUnsafeBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return }
                withMatrices(index + 1, pointers + [base], body)
            }
        }
        withMatrices(0, []) { matrices in
            if geometry.innerCount > 1 {
                let width = geometry.innerCount
                for panel in 0..<geometry.outerCount {
                    let target = output.base + panel * output.panelStride
                    // The shift first, then every product added with beta = 1: OpenBLAS skips its
                    // beta pass over the output, and the shift needs no pass of its own.
                    for row in 0..<groupSize {
                        (target + row * output.leadingDimension).update(repeating: shift[row], count: width)
                    }
                    for (index, term) in terms.enumerated() {
                        Scalar.whiteningRoutines.gemm(
                            false, false, order, BLASCount.checked(width), order, 1, matrices[index], order,
                            term.source.base + panel * term.source.panelStride,
                            BLASCount.checked(term.source.leadingDimension), 1, target, outputStride)
                    }
                }
            } else {
                var start = 0
                while start < geometry.valuesPerChannel {
                    let count = min(sampleChunk, geometry.valuesPerChannel - start)
                    let target = output.base + start * output.leadingDimension
                    for sample in 0..<count {
                        let values = target + sample * output.leadingDimension
                        for column in 0..<groupSize { values[column] = shift[column] }
                    }
                    for (index, term) in terms.enumerated() {
                        Scalar.whiteningRoutines.gemm(
                            false, true, BLASCount.checked(count), order, order, 1,
                            term.source.base + start * term.source.leadingDimension,
                            BLASCount.checked(term.source.leadingDimension), matrices[index], order,
                            1, target, outputStride)
                    }
                    start += count
                }
            }
        }
    }

    /// The low words of the group's two-word mean, in `Double` (zero where there is none).
    static func residualMean<Scalar: BatchNormScalar>(_ center: ChannelCenter<Scalar>, _ channels: Range<Int>) -> [Double] {
        center.low.map { $0[channels].map(Double.init) } ?? .init(repeating: 0, count: channels.count)
    }

    /// `matrix · vector`.
    static func multiply(_ matrix: SquareMatrix, _ vector: [Double]) -> [Double] {
        (0..<matrix.size).map { row in (0..<matrix.size).reduce(0) { $0 + matrix[row, $1] * vector[$1] } }
    }

    static func scalars<Scalar: BatchNormScalar>(_ matrix: SquareMatrix) -> [Scalar] {
        matrix.values.map { Scalar($0) }
    }
}
