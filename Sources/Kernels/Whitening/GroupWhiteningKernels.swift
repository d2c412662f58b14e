/// Group whitening (decorrelated batch normalization) over borrowed memory, both layouts through
/// ``ChannelGeometry``. Channels `g·G ..< (g+1)·G` form group `g`; each group's values over the
/// `M = outerCount · innerCount` samples are whitened together. The callers (`BatchNormKit`) have
/// validated every size, including that `innerCount` and `channelCount` (the tensor's leading
/// dimensions) fit CBLAS's 32-bit integers; sample counts are split by ``GroupChunks``.
///
/// Each pass walks the groups in chunks of samples (``GroupChunks``) whose centered copy stays in L2:
/// the training forward reads the input twice (second moments about a shift taken from the data, then
/// the output), backward reads input and output gradient twice; no pass over the whole tensor writes a
/// scratch copy. Per chunk the tensor-sized work is BLAS-3: `syrk` (or `gemm` when the pool splits the
/// work) for the second moments with a ones row for the sums, `gemm` with `G × G` matrices for the
/// output and the input gradient, `gemm` for `dY Sᵀ`. On channels-first groups and CPUs with AVX2 + FMA,
/// ``WhiteningProducts`` does these products instead (the output passes then center as they load and
/// need no scratch); OpenBLAS stays the reference path. The `G × G` algebra is ``WhiteningTransform``.
///
/// Safe to call from many threads at once: no state, scratch allocated per call.
package enum GroupWhiteningKernels {
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
        var factors: GroupWhiteningFactors<Scalar>?
        input.withUnsafeBufferPointer { inputBuffer in
            output.withUnsafeMutableBufferPointer { outputBuffer in
                guard let inputBase = inputBuffer.baseAddress, let outputBase = outputBuffer.baseAddress else { return }
                factors = forwardTraining(
                    inputBase, geometry: geometry, groupSize: groupSize, method: method, epsilon: epsilon,
                    gamma: gamma, beta: beta, into: outputBase)
            }
        }
        return factors ?? GroupWhiteningFactors(center: ChannelCenter(high: []), covariance: [], whitening: [])
    }

    /// ``forwardTraining(_:geometry:groupSize:method:epsilon:gamma:beta:into:)`` into a new array, which
    /// the kernel fills without zeroing it first.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func forwardTraining<Scalar: BatchNormScalar>(
        _ input: Span<Scalar>, geometry: ChannelGeometry, groupSize: Int, method: WhiteningMethod,
        epsilon: Double, gamma: [Scalar]?, beta: [Scalar]?
    ) -> (output: [Scalar], factors: GroupWhiteningFactors<Scalar>) {
        var factors = GroupWhiteningFactors<Scalar>(center: ChannelCenter(high: []), covariance: [], whitening: [])
        let output = filledArray(count: geometry.elementCount) { outputBase in
            input.withUnsafeBufferPointer { inputBuffer in
                guard let inputBase = inputBuffer.baseAddress else { return }
                factors = forwardTraining(
                    inputBase, geometry: geometry, groupSize: groupSize, method: method, epsilon: epsilon,
                    gamma: gamma, beta: beta, into: outputBase)
            }
        }
        return (output, factors)
    }

    static func forwardTraining<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, geometry: ChannelGeometry, groupSize: Int, method: WhiteningMethod,
        epsilon: Double, gamma: [Scalar]?, beta: [Scalar]?, into output: UnsafeMutablePointer<Scalar>
    ) -> GroupWhiteningFactors<Scalar> {
        assert(geometry.channelCount % groupSize == 0)
        let chunks = GroupChunks(geometry: geometry, groupSize: groupSize)
        let sampleCount = Double(geometry.valuesPerChannel)
        let shift = dataShift(of: input, chunks: chunks)
        var high = [Scalar](repeating: 0, count: geometry.channelCount)
        var low = [Scalar](repeating: 0, count: geometry.channelCount)
        var covariances: [SquareMatrix] = []
        var whitenings: [SquareMatrix] = []
        let width = groupSize + 1
        for batch in chunks.groupBatches {
            let batchChunks = chunks.restricted(to: batch)
            let batchSums = shiftedSecondMoments(of: input, shift: shift, chunks: batchChunks)
            var matrices: [[[Scalar]]] = []
            var shifts: [[Scalar]] = []
            for group in batch {
                let channels = group * groupSize ..< (group + 1) * groupSize
                let groupSums = batchSums[group - batch.lowerBound]
                // mean = shift + d with d = Σ (x - shift) / M; Σ = S Sᵀ / M - d dᵀ about the same shift.
                let offset = (0..<groupSize).map { groupSums[$0 * width + groupSize] / sampleCount }
                var covariance = SquareMatrix.zero(size: groupSize)
                for row in 0..<groupSize {
                    for column in row..<groupSize {
                        let value = groupSums[row * width + column] / sampleCount - offset[row] * offset[column]
                        covariance[row, column] = value
                        covariance[column, row] = value
                    }
                    covariance[row, row] += epsilon
                }
                for (index, channel) in channels.enumerated() {
                    (high[channel], low[channel]) = twoWord(Double(shift[channel]), offset[index])
                }
                let whitening = WhiteningTransform.whitening(covariance: covariance, method: method, epsilon: epsilon)
                // y = diag(gamma) Φ (x - high - low) + beta: the low word goes into the shift.
                let scale = gamma.map { Array($0[channels]).map(Double.init) } ?? .init(repeating: 1, count: groupSize)
                let matrix = whitening.scalingRows(by: scale)
                let bias = beta.map { Array($0[channels]).map(Double.init) } ?? .init(repeating: 0, count: groupSize)
                let residual = low[channels].map(Double.init)
                matrices.append([scalars(matrix)])
                shifts.append(zip(bias, multiply(matrix, residual)).map { Scalar($0 - $1) })
                covariances.append(covariance)
                whitenings.append(whitening)
            }
            combine(
                chunks: batchChunks, input: input, center: high, terms: [.centeredInput], matrices: matrices,
                shifts: shifts, into: output)
        }
        return GroupWhiteningFactors(
            center: ChannelCenter(high: high, low: low), covariance: covariances, whitening: whitenings)
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
        input.withUnsafeBufferPointer { inputBuffer in
            output.withUnsafeMutableBufferPointer { outputBuffer in
                guard let inputBase = inputBuffer.baseAddress, let outputBase = outputBuffer.baseAddress else { return }
                forwardInference(
                    inputBase, geometry: geometry, groupSize: groupSize, mean: mean, whitening: whitening,
                    gamma: gamma, beta: beta, into: outputBase)
            }
        }
    }

    /// ``forwardInference(_:geometry:groupSize:mean:whitening:gamma:beta:into:)`` into a new array.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func forwardInference<Scalar: BatchNormScalar>(
        _ input: Span<Scalar>, geometry: ChannelGeometry, groupSize: Int, mean: [Scalar], whitening: [Scalar],
        gamma: [Scalar]?, beta: [Scalar]?
    ) -> [Scalar] {
        filledArray(count: geometry.elementCount) { outputBase in
            input.withUnsafeBufferPointer { inputBuffer in
                guard let inputBase = inputBuffer.baseAddress else { return }
                forwardInference(
                    inputBase, geometry: geometry, groupSize: groupSize, mean: mean, whitening: whitening,
                    gamma: gamma, beta: beta, into: outputBase)
            }
        }
    }

    static func forwardInference<Scalar: BatchNormScalar>(
        _ input: UnsafePointer<Scalar>, geometry: ChannelGeometry, groupSize: Int, mean: [Scalar],
        whitening: [Scalar], gamma: [Scalar]?, beta: [Scalar]?, into output: UnsafeMutablePointer<Scalar>
    ) {
        let chunks = GroupChunks(geometry: geometry, groupSize: groupSize)
        var matrices: [[Scalar]] = []
        var shifts: [[Scalar]] = []
        for group in chunks.groups {
            let channels = group * groupSize ..< (group + 1) * groupSize
            let matrix = fixedWhitening(whitening, group: group, groupSize: groupSize)
                .scalingRows(by: gamma.map { Array($0[channels]).map(Double.init) } ?? .init(repeating: 1, count: groupSize))
            let bias = beta.map { Array($0[channels]).map(Double.init) } ?? .init(repeating: 0, count: groupSize)
            shifts.append(zip(bias, multiply(matrix, mean[channels].map(Double.init))).map { Scalar($0 - $1) })
            matrices.append(scalars(matrix))
        }
        combine(
            chunks: chunks, input: input, center: nil, terms: [.input], matrices: matrices.map { [$0] },
            shifts: shifts, into: output)
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
        var sums: (gamma: [Scalar], beta: [Scalar]) = ([], [])
        gradInput.withUnsafeMutableBufferPointer { gradInputBuffer in
            guard let gradInputBase = gradInputBuffer.baseAddress else { return }
            sums = backward(
                gradOutput: gradOutput, input: input, geometry: geometry, groupSize: groupSize, method: method,
                epsilon: epsilon, factors: factors, gamma: gamma, into: gradInputBase)
        }
        return sums
    }

    /// ``backward(gradOutput:input:geometry:groupSize:method:epsilon:factors:gamma:into:)`` into a new array.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func backward<Scalar: BatchNormScalar>(
        gradOutput: Span<Scalar>, input: Span<Scalar>, geometry: ChannelGeometry, groupSize: Int,
        method: WhiteningMethod, epsilon: Double, factors: GroupWhiteningFactors<Scalar>, gamma: [Scalar]?
    ) -> (input: [Scalar], parameters: (gamma: [Scalar], beta: [Scalar])) {
        var sums: (gamma: [Scalar], beta: [Scalar]) = ([], [])
        let gradInput = filledArray(count: geometry.elementCount) { gradInputBase in
            sums = backward(
                gradOutput: gradOutput, input: input, geometry: geometry, groupSize: groupSize, method: method,
                epsilon: epsilon, factors: factors, gamma: gamma, into: gradInputBase)
        }
        return (gradInput, sums)
    }

    static func backward<Scalar: BatchNormScalar>(
        gradOutput: Span<Scalar>, input: Span<Scalar>, geometry: ChannelGeometry, groupSize: Int,
        method: WhiteningMethod, epsilon: Double, factors: GroupWhiteningFactors<Scalar>, gamma: [Scalar]?,
        into gradInput: UnsafeMutablePointer<Scalar>
    ) -> (gamma: [Scalar], beta: [Scalar]) {
        let chunks = GroupChunks(geometry: geometry, groupSize: groupSize)
        let sampleCount = Double(geometry.valuesPerChannel)
        let width = groupSize + 1
        var gammaGradient = [Scalar](repeating: 0, count: geometry.channelCount)
        var betaGradient = [Scalar](repeating: 0, count: geometry.channelCount)
        input.withUnsafeBufferPointer { inputBuffer in
            gradOutput.withUnsafeBufferPointer { gradOutputBuffer in
                guard let inputBase = inputBuffer.baseAddress, let gradOutputBase = gradOutputBuffer.baseAddress
                else { return }
                for batch in chunks.groupBatches {
                    let batchChunks = chunks.restricted(to: batch)
                    // dY S_extᵀ per group: G × (G + 1), the last column Σ dy.
                    let crossProducts = gradientCrossProducts(
                        gradOutputBase, input: inputBase, center: factors.center.high, chunks: batchChunks)
                    var matrices: [[[Scalar]]] = []
                    var shifts: [[Scalar]] = []
                    for group in batch {
                        let crossProduct = crossProducts[group - batch.lowerBound]
                        let channels = group * groupSize ..< (group + 1) * groupSize
                        let residual = residualMean(factors.center, channels)
                        let whitening = factors.whitening[group]
                        let scale = gamma.map { Array($0[channels]).map(Double.init) } ?? .init(repeating: 1, count: groupSize)
                        // dY (S - r)ᵀ and Σ dy from the product with the ones row/column.
                        var sums = [Double](repeating: 0, count: groupSize)
                        var gradientCross = SquareMatrix.zero(size: groupSize)
                        for row in 0..<groupSize {
                            sums[row] = crossProduct[row * width + groupSize]
                            for column in 0..<groupSize {
                                gradientCross[row, column] = crossProduct[row * width + column] - sums[row] * residual[column]
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
                        ).map { Scalar(-($0 + $1)) }
                        matrices.append([scalars(outputMatrix), scalars(centeredMatrix)])
                        shifts.append(shift)
                    }
                    combine(
                        chunks: batchChunks, input: inputBase, center: factors.center.high,
                        terms: [.tensor(gradOutputBase), .centeredInput], matrices: matrices, shifts: shifts,
                        into: gradInput)
                }
            }
        }
        return (gammaGradient, betaGradient)
    }

    /// Inference backward with the running statistics as constants: with `A = diag(gamma) Φ_g`,
    /// `x̂ = Φ_g (x - mean)`, per group
    /// ```
    /// dx = Aᵀ dy,   dgamma = Σ_m dy ⊙ x̂,   dbeta = Σ_m dy
    /// ```
    /// Writes every element of `gradInput`; returns `dgamma`, `dbeta` (per channel).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func inferenceBackward<Scalar: BatchNormScalar>(
        gradOutput: Span<Scalar>, input: Span<Scalar>, geometry: ChannelGeometry, groupSize: Int,
        mean: [Scalar], whitening: [Scalar], gamma: [Scalar]?, into gradInput: inout MutableSpan<Scalar>
    ) -> (gamma: [Scalar], beta: [Scalar]) {
        assert(input.count == geometry.elementCount && gradOutput.count == geometry.elementCount)
        assert(gradInput.count == geometry.elementCount)
        let chunks = GroupChunks(geometry: geometry, groupSize: groupSize)
        let width = groupSize + 1
        var gammaGradient = [Scalar](repeating: 0, count: geometry.channelCount)
        var betaGradient = [Scalar](repeating: 0, count: geometry.channelCount)
        input.withUnsafeBufferPointer { inputBuffer in
            gradOutput.withUnsafeBufferPointer { gradOutputBuffer in
                gradInput.withUnsafeMutableBufferPointer { gradInputBuffer in
                    guard let inputBase = inputBuffer.baseAddress, let gradOutputBase = gradOutputBuffer.baseAddress,
                          let gradInputBase = gradInputBuffer.baseAddress else { return }
                    for batch in chunks.groupBatches {
                        let batchChunks = chunks.restricted(to: batch)
                        let crossProducts = gradientCrossProducts(
                            gradOutputBase, input: inputBase, center: mean, chunks: batchChunks)
                        var matrices: [[[Scalar]]] = []
                        for group in batch {
                            let crossProduct = crossProducts[group - batch.lowerBound]
                            let channels = group * groupSize ..< (group + 1) * groupSize
                            let phi = fixedWhitening(whitening, group: group, groupSize: groupSize)
                            for (index, channel) in channels.enumerated() {
                                // dgamma_i = Σ_k Φ_ik Σ_m dy_i (x_k - mean_k).
                                gammaGradient[channel] = Scalar((0..<groupSize).reduce(0.0) {
                                    $0 + phi[index, $1] * crossProduct[index * width + $1]
                                })
                                betaGradient[channel] = Scalar(crossProduct[index * width + groupSize])
                            }
                            let scale = gamma.map { Array($0[channels]).map(Double.init) } ?? .init(repeating: 1, count: groupSize)
                            matrices.append([scalars(phi.scalingRows(by: scale).transposed)])
                        }
                        combine(
                            chunks: batchChunks, input: inputBase, center: nil, terms: [.tensor(gradOutputBase)],
                            matrices: matrices,
                            shifts: .init(repeating: .init(repeating: 0, count: groupSize), count: batch.count),
                            into: gradInputBase)
                    }
                }
            }
        }
        return (gammaGradient, betaGradient)
    }

    // MARK: - Pieces

    /// Per channel, a value of the data to take second moments about: the mean of its first samples
    /// (0 when that is not finite). Any value near the data keeps `Σ (x - shift)²` free of cancellation;
    /// the exact mean is recovered from `Σ (x - shift)` in the same products.
    static func dataShift<Scalar: BatchNormScalar>(of input: UnsafePointer<Scalar>, chunks: GroupChunks) -> [Scalar] {
        let geometry = chunks.geometry
        let count = min(geometry.valuesPerChannel, 64)
        return (0..<geometry.channelCount).map { channel in
            let sum = (0..<count).reduce(0.0) { $0 + Double(input[chunks.tensorOffset(channel: channel, sample: $1)]) }
            let mean = Scalar(sum / Double(count))
            return mean.isFinite ? mean : 0
        }
    }

    /// Per group of `chunks.groups`, `S S_extᵀ` (`G × (G + 1)` row-major, `Double`) with `S = x - shift`, `S_ext` its rows and a
    /// ones row: the second moments about the shift and, in the last column, `Σ (x - shift)`.
    static func shiftedSecondMoments<Scalar: BatchNormScalar>(
        of input: UnsafePointer<Scalar>, shift: [Scalar], chunks: GroupChunks
    ) -> [[Double]] {
        let groupSize = chunks.groupSize
        let width = groupSize + 1
        let scratchStride = chunks.scratchLeadingDimension
        let useProducts = chunks.channelMajor && WhiteningProducts.apply(to: Scalar.self, depth: groupSize)
        let useSymmetricUpdate = useProducts || chunks.parts == 1
        return accumulate(of: input, centeredOn: shift, chunks: chunks, upperOnly: useSymmetricUpdate) {
            scratch, group, samples, product in
            if useProducts {
                product.update(repeating: 0, count: groupSize * width)
                WhiteningProducts.addSecondMoments(
                    rows: groupSize, scratch, stride: scratchStride, count: samples.count, into: product)
                return
            }
            var first = true
            BLASCount.forEachChunk(of: samples.count, limit: chunks.samplesPerCall) { start, count in
                let operand = scratch + chunks.scratchOffset(start)
                let beta: Scalar = first ? 0 : 1
                if useSymmetricUpdate {
                    Scalar.whiteningRoutines.syrk(
                        !chunks.channelMajor, BLASCount.checked(width), BLASCount.checked(count), 1, operand,
                        BLASCount.checked(scratchStride), beta, product, BLASCount.checked(width))
                } else {
                    // The pool's threads each run a single-threaded gemm (OpenBLAS threads every syrk).
                    Scalar.whiteningRoutines.gemm(
                        !chunks.channelMajor, chunks.channelMajor, BLASCount.checked(groupSize), BLASCount.checked(width),
                        BLASCount.checked(count), 1, operand, BLASCount.checked(scratchStride), operand,
                        BLASCount.checked(scratchStride), beta, product, BLASCount.checked(width))
                }
                first = false
            }
        }
    }

    /// Per group of `chunks.groups`, `dY S_extᵀ` (`G × (G + 1)` row-major, `Double`) with `S = x - center`: the last column
    /// is `Σ dy`.
    static func gradientCrossProducts<Scalar: BatchNormScalar>(
        _ gradOutput: UnsafePointer<Scalar>, input: UnsafePointer<Scalar>, center: [Scalar], chunks: GroupChunks
    ) -> [[Double]] {
        let groupSize = chunks.groupSize
        let width = groupSize + 1
        let tensorStride = BLASCount.checked(chunks.tensorLeadingDimension)
        let scratchStride = BLASCount.checked(chunks.scratchLeadingDimension)
        // OpenBLAS's gemm, on every CPU: a full product, which the AVX2 kernel did not run faster (15%
        // faster at G = 64, 25% slower at G = 16 and 5% at G = 128; docs/BENCHMARK_NOTES.md).
        return accumulate(of: input, centeredOn: center, chunks: chunks, upperOnly: false) {
            scratch, group, samples, product in
            var first = true
            chunks.forEachRun(of: samples, group: group, callSized: true) { tensorOffset, chunkOffset, count in
                Scalar.whiteningRoutines.gemm(
                    !chunks.channelMajor, chunks.channelMajor, BLASCount.checked(groupSize), BLASCount.checked(width),
                    BLASCount.checked(count), 1, gradOutput + tensorOffset, tensorStride,
                    scratch + chunks.scratchOffset(chunkOffset), scratchStride, first ? 0 : 1, product,
                    BLASCount.checked(width))
                first = false
            }
        }
    }

    /// For every `(group, chunk)` item, split over the pool's parts: copies `x - center` of the chunk into
    /// the part's scratch (ones row kept), runs `chunkProduct(scratch, group, samples, product)`, which
    /// writes a `G × (G + 1)` product (row stride `G + 1`), and sums the products per group in `Double`
    /// (in part order, so the result does not depend on timing). With `upperOnly` (`syrk`) only the
    /// entries on and above the diagonal are summed; the others stay 0.
    static func accumulate<Scalar: BatchNormScalar>(
        of input: UnsafePointer<Scalar>, centeredOn center: [Scalar], chunks: GroupChunks, upperOnly: Bool,
        _ chunkProduct: (
            _ scratch: UnsafeMutablePointer<Scalar>, _ group: Int, _ samples: Range<Int>,
            _ product: UnsafeMutablePointer<Scalar>
        ) -> Void
    ) -> [[Double]] {
        let groupSize = chunks.groupSize
        let width = groupSize + 1
        let groupCount = chunks.groups.count
        let matrixCount = groupSize * width
        var partSums = [Double](repeating: 0, count: chunks.parts * groupCount * matrixCount)
        var products = [Scalar](repeating: 0, count: chunks.parts * width * width)
        partSums.withUnsafeMutableBufferPointer { sumsBuffer in
            products.withUnsafeMutableBufferPointer { productsBuffer in
                guard let sumsBase = sumsBuffer.baseAddress, let productsBase = productsBuffer.baseAddress else { return }
                forEachChunk(chunks, input: input, centeredOn: center) { part, group, samples, scratch in
                    guard let scratch else { return }
                    let product = productsBase + part * width * width
                    chunkProduct(scratch, group, samples, product)
                    let target = sumsBase + (part * groupCount + group - chunks.groups.lowerBound) * matrixCount
                    for row in 0..<groupSize {
                        for column in (upperOnly ? row : 0)..<width {
                            target[row * width + column] += Double(product[row * width + column])
                        }
                    }
                }
            }
        }
        return (0..<groupCount).map { group in
            var total = [Double](repeating: 0, count: matrixCount)
            for part in 0..<chunks.parts {
                let base = (part * groupCount + group) * matrixCount
                for index in 0..<matrixCount { total[index] += partSums[base + index] }
            }
            return total
        }
    }

    /// A term of ``combine``: what a `G × G` matrix multiplies.
    enum CombineTerm<Scalar> {
        /// The input centered on the combine's `center` (through the scratch).
        case centeredInput
        /// The input itself.
        case input
        /// Another tensor of the input's shape (e.g. `dy`).
        case tensor(UnsafePointer<Scalar>)

        /// Whether the term reads the centered input (a chunk's scratch copy).
        var isCentered: Bool { if case .centeredInput = self { true } else { false } }
    }

    /// `output = shift + Σ_t matrices[g][t] · term_t` over every group `g` of `chunks.groups` (indexed
    /// from the first of them; each matrix `G × G`,
    /// row-major, acting on the channel index), chunk by chunk over the pool's parts.
    static func combine<Scalar: BatchNormScalar>(
        chunks: GroupChunks, input: UnsafePointer<Scalar>, center: [Scalar]?, terms: [CombineTerm<Scalar>],
        matrices: [[[Scalar]]], shifts: [[Scalar]], into output: UnsafeMutablePointer<Scalar>
    ) {
        precondition(center != nil || !terms.contains(where: \.isCentered), "a centered term needs the center")
        let groupSize = chunks.groupSize
        if WhiteningProducts.apply(to: Scalar.self, depth: terms.count * groupSize) {
            if chunks.channelMajor {
                combineWithProducts(
                    chunks: chunks, input: input, center: center, terms: terms, matrices: matrices, shifts: shifts,
                    into: output)
            } else {
                combineRowsWithProducts(
                    chunks: chunks, input: input, center: center, terms: terms, matrices: matrices, shifts: shifts,
                    into: output)
            }
            return
        }
        let order = BLASCount.checked(groupSize)
        let tensorStride = chunks.tensorLeadingDimension
        let scratchStride = chunks.scratchLeadingDimension
        let flatMatrices = matrices.flatMap { $0.flatMap { $0 } }
        let matrixCount = groupSize * groupSize
        flatMatrices.withUnsafeBufferPointer { matricesBuffer in
            guard let matricesBase = matricesBuffer.baseAddress else { return }
            forEachChunk(chunks, input: input, centeredOn: terms.contains(where: \.isCentered) ? center : nil) { _, group, samples, partScratch in
                let shift = shifts[group - chunks.groups.lowerBound]
                chunks.forEachRun(of: samples, group: group, callSized: true) { tensorOffset, chunkOffset, count in
                    let target = output + tensorOffset
                    // The shift first, then every product added with beta = 1: OpenBLAS skips its
                    // beta pass over the output, and the shift needs no pass of its own.
                    if chunks.channelMajor {
                        for row in 0..<groupSize {
                            (target + row * tensorStride).update(repeating: shift[row], count: count)
                        }
                    } else {
                        shift.withUnsafeBufferPointer { shiftBuffer in
                            guard let shiftBase = shiftBuffer.baseAddress else { return }
                            for sample in 0..<count {
                                (target + sample * tensorStride).update(from: shiftBase, count: groupSize)
                            }
                        }
                    }
                    for (index, term) in terms.enumerated() {
                        let source: UnsafePointer<Scalar>, sourceStride: Int
                        switch term {
                        case .centeredInput:
                            guard let partScratch else { continue }
                            (source, sourceStride) = (UnsafePointer(partScratch + chunks.scratchOffset(chunkOffset)), scratchStride)
                        case .input: (source, sourceStride) = (input + tensorOffset, tensorStride)
                        case .tensor(let base): (source, sourceStride) = (base + tensorOffset, tensorStride)
                        }
                        let matrix = matricesBase
                            + ((group - chunks.groups.lowerBound) * terms.count + index) * matrixCount
                        if chunks.channelMajor {
                            Scalar.whiteningRoutines.gemm(
                                false, false, order, BLASCount.checked(count), order, 1, matrix, order,
                                source, BLASCount.checked(sourceStride), 1, target, BLASCount.checked(tensorStride))
                        } else {
                            Scalar.whiteningRoutines.gemm(
                                false, true, BLASCount.checked(count), order, order, 1, source,
                                BLASCount.checked(sourceStride), matrix, order, 1, target,
                                BLASCount.checked(tensorStride))
                        }
                    }
                }
            }
        }
    }

    /// ``combine`` on ``WhiteningProducts``: channel-major groups, one or two terms. Centers while it loads
    /// and writes each output value once, so it needs neither the centered copy nor the shift pass.
    static func combineWithProducts<Scalar: BatchNormScalar>(
        chunks: GroupChunks, input: UnsafePointer<Scalar>, center: [Scalar]?, terms: [CombineTerm<Scalar>],
        matrices: [[[Scalar]]], shifts: [[Scalar]], into output: UnsafeMutablePointer<Scalar>
    ) {
        let chunks = chunks.scratchFree()
        let groupSize = chunks.groupSize
        let depth = terms.count * groupSize
        let packedCount = WhiteningProducts.packedCount(rows: groupSize, depth: depth)
        let groups = chunks.groups
        // Per group: the packed `[M_0 | M_1]`, the centers of its terms (0 for uncentered ones), the shift.
        var packed = [Scalar](repeating: 0, count: groups.count * packedCount)
        var centers = [Scalar](repeating: 0, count: groups.count * depth)
        for (index, group) in groups.enumerated() {
            packed.withUnsafeMutableBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return }
                WhiteningProducts.pack(rows: groupSize, matrices[index], sampleMajor: false, into: base + index * packedCount)
            }
            for (termIndex, term) in terms.enumerated() {
                guard case .centeredInput = term, let center else { continue }
                for row in 0..<groupSize {
                    centers[index * depth + termIndex * groupSize + row] = center[group * groupSize + row]
                }
            }
        }
        let flatShifts = shifts.flatMap { $0 }
        let sources: [UnsafePointer<Scalar>] = terms.map { term in
            switch term {
            case .centeredInput, .input: input
            case .tensor(let base): base
            }
        }
        let stride = chunks.tensorLeadingDimension
        // Streaming stores above the fused kernels' threshold: 2x faster on G = 16, where the output pass is
        // memory-bound (docs/BENCHMARK_NOTES.md).
        let streaming = Fused.streamsOutput(chunks.geometry, Scalar.self)
        packed.withUnsafeBufferPointer { packedBuffer in
            centers.withUnsafeBufferPointer { centersBuffer in
                flatShifts.withUnsafeBufferPointer { shiftsBuffer in
                    guard let packedBase = packedBuffer.baseAddress, let centersBase = centersBuffer.baseAddress,
                          let shiftsBase = shiftsBuffer.baseAddress else { return }
                    chunks.forEachPart { _, items in
                        for item in items {
                            let (group, chunk) = chunks.groupAndChunk(of: item)
                            let index = group - groups.lowerBound
                            chunks.forEachRun(of: chunks.samples(of: chunk), group: group, callSized: false) {
                                tensorOffset, _, count in
                                WhiteningProducts.combine(
                                    rows: groupSize, depth: depth, count: count,
                                    packed: packedBase + index * packedCount, first: sources[0] + tensorOffset,
                                    second: sources[sources.count - 1] + tensorOffset, sourceStride: stride,
                                    centers: centersBase + index * depth, shift: shiftsBase + index * groupSize,
                                    output: output + tensorOffset, outputStride: stride, streaming: streaming)
                            }
                        }
                        if streaming { Fused.streamingFence() }
                    }
                }
            }
        }
    }

    /// ``combine`` on ``WhiteningProducts`` for sample-major groups, one or two terms: the centered input
    /// through the chunk's scratch as before, the other terms straight from the tensor; each output value
    /// written once, with no shift pass.
    static func combineRowsWithProducts<Scalar: BatchNormScalar>(
        chunks: GroupChunks, input: UnsafePointer<Scalar>, center: [Scalar]?, terms: [CombineTerm<Scalar>],
        matrices: [[[Scalar]]], shifts: [[Scalar]], into output: UnsafeMutablePointer<Scalar>
    ) {
        let groupSize = chunks.groupSize
        let depth = terms.count * groupSize
        let padded = WhiteningProducts.paddedRows(groupSize, Scalar.self)
        let groups = chunks.groups
        var packed = [Scalar](repeating: 0, count: groups.count * padded * depth)
        var paddedShifts = [Scalar](repeating: 0, count: groups.count * padded)
        for index in 0..<groups.count {
            packed.withUnsafeMutableBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return }
                WhiteningProducts.pack(rows: groupSize, matrices[index], sampleMajor: true, into: base + index * padded * depth)
            }
            for row in 0..<groupSize { paddedShifts[index * padded + row] = shifts[index][row] }
        }
        let tensorStride = chunks.tensorLeadingDimension
        packed.withUnsafeBufferPointer { packedBuffer in
            paddedShifts.withUnsafeBufferPointer { shiftsBuffer in
                guard let packedBase = packedBuffer.baseAddress, let shiftsBase = shiftsBuffer.baseAddress else { return }
                forEachChunk(chunks, input: input, centeredOn: terms.contains(where: \.isCentered) ? center : nil) { _, group, samples, partScratch in
                    let index = group - groups.lowerBound
                    chunks.forEachRun(of: samples, group: group, callSized: false) { tensorOffset, chunkOffset, count in
                        func source(_ term: CombineTerm<Scalar>) -> (UnsafePointer<Scalar>, Int) {
                            switch term {
                            case .centeredInput:
                                // `combine` checked that a centered term comes with its center, hence a scratch.
                                guard let partScratch else { preconditionFailure("a centered term without scratch") }
                                return (UnsafePointer(partScratch + chunks.scratchOffset(chunkOffset)), chunks.scratchLeadingDimension)
                            case .input: return (input + tensorOffset, tensorStride)
                            case .tensor(let base): return (base + tensorOffset, tensorStride)
                            }
                        }
                        let first = source(terms[0]), second = source(terms[terms.count - 1])
                        WhiteningProducts.combineRows(
                            rows: groupSize, depth: depth, count: count, packed: packedBase + index * padded * depth,
                            shift: shiftsBase + index * padded, first: first.0, firstStride: first.1,
                            second: second.0, secondStride: second.1, output: output + tensorOffset,
                            outputStride: tensorStride)
                    }
                }
            }
        }
    }

    /// Runs `body(part, group, samples, scratch)` for every `(group, chunk)` item of `chunks`, split over the
    /// pool's parts (`part` is the one running the item); with `center`, `scratch` is the part's scratch
    /// holding the chunk's `x - center` (rows `0 ..< G`, the ones kept), else `nil`.
    static func forEachChunk<Scalar: BatchNormScalar>(
        _ chunks: GroupChunks, input: UnsafePointer<Scalar>, centeredOn center: [Scalar]?,
        _ body: (_ part: Int, _ group: Int, _ samples: Range<Int>, _ scratch: UnsafeMutablePointer<Scalar>?) -> Void
    ) {
        let groupSize = chunks.groupSize
        // Each group's centers, sliced once rather than per chunk.
        let groupCenters = center.map { center in
            chunks.groups.map { Array(center[$0 * groupSize ..< ($0 + 1) * groupSize]) }
        }
        func walk(_ scratch: UnsafeMutablePointer<Scalar>?) {
            chunks.forEachPart { part, items in
                let partScratch = scratch.map { $0 + part * chunks.scratchCount }
                for item in items {
                    let (group, chunk) = chunks.groupAndChunk(of: item)
                    let samples = chunks.samples(of: chunk)
                    if let partScratch, let groupCenters {
                        chunks.centeredCopy(
                            of: input, group: group, samples: samples,
                            center: groupCenters[group - chunks.groups.lowerBound], into: partScratch)
                    }
                    body(part, group, samples, partScratch)
                }
            }
        }
        if center != nil {
            chunks.withScratch(Scalar.self) { walk($0) }
        } else {
            walk(nil)
        }
    }

    /// An array of `count` elements that `fill` writes entirely (not zeroed first).
    static func filledArray<Scalar: BatchNormScalar>(
        count: Int, _ fill: (UnsafeMutablePointer<Scalar>) -> Void
    ) -> [Scalar] {
        [Scalar](unsafeUninitializedCapacity: count) { buffer, initializedCount in
            if let base = buffer.baseAddress { fill(base) }
            initializedCount = count
        }
    }

    /// Group `group`'s matrix of a `[C/G][G][G]` array, in `Double`.
    static func fixedWhitening<Scalar: BatchNormScalar>(_ whitening: [Scalar], group: Int, groupSize: Int) -> SquareMatrix {
        let matrixCount = groupSize * groupSize
        return SquareMatrix(
            size: groupSize, values: whitening[group * matrixCount ..< (group + 1) * matrixCount].map(Double.init))
    }

    /// `value + offset` as two words of `Scalar`: `high` its rounding, `low` what `high` misses. Unlike
    /// `ErrorFreeSums.rounded`, a non-finite `low` is kept (NaN where the sum is not finite), so a
    /// group with non-finite data keeps a NaN running mean.
    static func twoWord<Scalar: BatchNormScalar>(_ value: Double, _ offset: Double) -> (high: Scalar, low: Scalar) {
        let (sum, error) = ErrorFreeSums.twoSum(offset, value)
        let high = Scalar(sum)
        return (high, Scalar((sum - Double(high)) + error))
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
