public import BatchNormKit

// MARK: - Training forward

extension SynchronizedBatchNorm {
    /// Training forward of this rank's samples with the statistics of the whole batch. Collective: one
    /// `MPI_Allgather`. Writes `output` and updates the running statistics and `numBatchesTracked`
    /// of ``layer`` exactly as `BatchNorm.forwardTraining` over the concatenated batch would, the
    /// same on every rank.
    ///
    /// - Parameters:
    ///   - input: this rank's `shape.elementCount` values in `shape.layout` order.
    ///   - shape: this rank's part: any batch size `>= 1`, the layer's channel count. (Statistics are
    ///     per channel over every value, so ranks may even differ in layout or spatial size.)
    ///   - output: `shape.elementCount` values, entirely overwritten.
    /// - Returns: what ``backward(gradOutput:input:shape:statistics:into:)`` takes.
    /// - Throws: on every rank alike: `.refused` on a rank whose arguments `BatchNorm` refuses
    ///   (`.refusedOnOtherRanks` on the others), `.refused(.tooFewValuesPerChannel)` everywhere when
    ///   the whole batch has one value per channel, or another ``SynchronizedBatchNormError``. Nothing
    ///   is written and no layer changes then.
    /// - Complexity: local work as `BatchNorm.forwardTraining`; communication `O(ranks · channelCount)`.
    public mutating func forwardTraining(
        _ input: Span<Scalar>, shape: TensorShape, into output: inout MutableSpan<Scalar>
    ) throws(SynchronizedBatchNormError) -> SynchronizedBatchStatistics<Scalar> {
        let local: Result<PartialStatistics<Scalar>, BatchNormError>
        do throws(BatchNormError) {
            // `partialStatistics` checks everything the forward pass checks but the output size.
            guard output.count == shape.elementCount else {
                throw .elementCountMismatch(argument: "output", expected: shape.elementCount, actual: output.count)
            }
            local = .success(try layer.partialStatistics(input, shape: shape))
        } catch {
            local = .failure(error)
        }
        let global = try mergedStatistics(local)
        do throws(BatchNormError) {
            let batchStatistics = try layer.forwardTraining(input, shape: shape, globalStatistics: global, into: &output)
            return SynchronizedBatchStatistics(batchStatistics: batchStatistics, globalStatistics: global)
        } catch {
            throw .refused(error)
        }
    }

    /// Training forward on arrays; see ``forwardTraining(_:shape:into:)-(Span<Scalar>,_,_)``.
    /// - Returns: this rank's normalized output and the statistics for the backward pass.
    public mutating func forwardTraining(
        _ input: [Scalar], shape: TensorShape
    ) throws(SynchronizedBatchNormError) -> (output: [Scalar], statistics: SynchronizedBatchStatistics<Scalar>) {
        var output = [Scalar](repeating: 0, count: shape.elementCount)
        var outputSpan = output.mutableSpan
        let statistics = try forwardTraining(input.span, shape: shape, into: &outputSpan)
        return (output, statistics)
    }

    /// The training forward of a rank that holds no samples of this batch: takes part in the exchange
    /// and updates the running statistics like every other rank. Collective.
    /// - Throws: as ``forwardTraining(_:shape:into:)-(Span<Scalar>,_,_)``.
    public mutating func forwardTrainingWithoutLocalSamples(
    ) throws(SynchronizedBatchNormError) -> SynchronizedBatchStatistics<Scalar> {
        let local: Result<PartialStatistics<Scalar>, BatchNormError>
        do throws(BatchNormError) {
            local = .success(try PartialStatistics.empty(channelCount: channelCount))
        } catch {
            local = .failure(error)
        }
        let global = try mergedStatistics(local)
        do throws(BatchNormError) {
            let batchStatistics = try layer.forwardTrainingWithoutLocalSamples(globalStatistics: global)
            return SynchronizedBatchStatistics(batchStatistics: batchStatistics, globalStatistics: global)
        } catch {
            throw .refused(error)
        }
    }
}

// MARK: - Inference forward

extension SynchronizedBatchNorm {
    /// Inference forward with the running statistics: local, no communication (the running
    /// statistics are the same on every rank). See `BatchNorm.forwardInference`.
    public func forwardInference(
        _ input: Span<Scalar>, shape: TensorShape, into output: inout MutableSpan<Scalar>
    ) throws(BatchNormError) {
        try layer.forwardInference(input, shape: shape, into: &output)
    }

    /// Inference forward on an array; see ``forwardInference(_:shape:into:)-(Span<Scalar>,_,_)``.
    public func forwardInference(_ input: [Scalar], shape: TensorShape) throws(BatchNormError) -> [Scalar] {
        try layer.forwardInference(input, shape: shape)
    }
}

// MARK: - Training backward

extension SynchronizedBatchNorm {
    /// Backward of ``forwardTraining(_:shape:into:)-(Span<Scalar>,_,_)`` for this rank's samples.
    /// Collective: one `MPI_Allgather` of the two per-channel sums; the elementwise step is local.
    /// ```
    /// dβ = Σ_G dy,   dγ = Σ_G dy · x̂,   dx = γ · invstd / M_G · (M_G · dy - dβ - x̂ · dγ)
    /// ```
    /// - Parameters:
    ///   - gradOutput: `dL/dy` of this rank's samples.
    ///   - input: this rank's `x` of the forward pass.
    ///   - statistics: what the forward pass returned.
    ///   - inputGradient: receives this rank's `dL/dx`; entirely overwritten.
    /// - Returns: `dγ` and `dβ` of the whole batch, the same on every rank (no further all-reduce
    ///   needed for them).
    /// - Throws: on every rank alike, as ``forwardTraining(_:shape:into:)-(Span<Scalar>,_,_)``; nothing
    ///   is written then.
    public func backward(
        gradOutput: Span<Scalar>, input: Span<Scalar>, shape: TensorShape,
        statistics: SynchronizedBatchStatistics<Scalar>, into inputGradient: inout MutableSpan<Scalar>
    ) throws(SynchronizedBatchNormError) -> ParameterGradients<Scalar> {
        let local: Result<GradientSums<Scalar>, BatchNormError>
        do throws(BatchNormError) {
            // `backwardSums` checks everything the elementwise step checks but the gradient's size.
            guard inputGradient.count == shape.elementCount else {
                throw .elementCountMismatch(
                    argument: "inputGradient", expected: shape.elementCount, actual: inputGradient.count)
            }
            local = .success(try layer.backwardSums(
                gradOutput: gradOutput, input: input, shape: shape, statistics: statistics.batchStatistics))
        } catch {
            local = .failure(error)
        }
        let globalSums = try summedGradientSums(local)
        do throws(BatchNormError) {
            return try layer.backward(
                gradOutput: gradOutput, input: input, shape: shape, statistics: statistics.batchStatistics,
                globalSums: globalSums, globalCount: statistics.globalStatistics.count, into: &inputGradient)
        } catch {
            throw .refused(error)
        }
    }

    /// Backward on arrays; see ``backward(gradOutput:input:shape:statistics:into:)``.
    public func backward(
        gradOutput: [Scalar], input: [Scalar], shape: TensorShape, statistics: SynchronizedBatchStatistics<Scalar>
    ) throws(SynchronizedBatchNormError) -> BatchNormGradients<Scalar> {
        var inputGradient = [Scalar](repeating: 0, count: shape.elementCount)
        var inputGradientSpan = inputGradient.mutableSpan
        let parameters = try backward(
            gradOutput: gradOutput.span, input: input.span, shape: shape, statistics: statistics,
            into: &inputGradientSpan)
        return BatchNormGradients(input: inputGradient, parameters: parameters)
    }

    /// The backward of a rank that holds no samples of this batch: takes part in the exchange and
    /// returns the parameter gradients of the whole batch. Collective.
    public func backwardWithoutLocalSamples(
        statistics: SynchronizedBatchStatistics<Scalar>
    ) throws(SynchronizedBatchNormError) -> ParameterGradients<Scalar> {
        let local: Result<GradientSums<Scalar>, BatchNormError>
        do throws(BatchNormError) {
            local = .success(try GradientSums.zero(channelCount: channelCount))
        } catch {
            local = .failure(error)
        }
        let globalSums = try summedGradientSums(local)
        do throws(BatchNormError) {
            return try layer.backwardWithoutLocalSamples(
                statistics: statistics.batchStatistics, globalSums: globalSums,
                globalCount: statistics.globalStatistics.count)
        } catch {
            throw .refused(error)
        }
    }
}
