/// The batch-norm kernels over borrowed memory: spans in, mutable spans out, per-channel vectors as
/// arrays. The callers (the `BatchNormKit` API) have validated every size; kernels only `assert`.
///
/// Each kernel is safe to call from many threads at once: it keeps no state and allocates its own
/// scratch.
package enum BatchNormKernels {
    // MARK: - Statistics

    /// Per-channel count, mean and sum of squared deviations of `input`. A channel whose moments
    /// come out non-finite (an overflow, or NaN/infinity in the data) is recomputed exactly scaled
    /// (``ScaledMoments``).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func moments<Scalar: BatchNormScalar>(
        of input: Span<Scalar>, geometry: ChannelGeometry, path: KernelPath
    ) -> ChannelMoments<Scalar> {
        assert(input.count == geometry.elementCount)
        return input.withUnsafeBufferPointer { inputBuffer in
            guard let inputBase = inputBuffer.baseAddress else { return .empty(channelCount: geometry.channelCount) }
            switch path {
            case .blas:
                var moments = ChannelMoments.blas(inputBase, geometry: geometry)
                moments.rescueOverflowedChannels(inputBase, geometry: geometry)
                return moments
            case .fused:
                return ChannelMoments(FusedPasses.moments(inputBase, geometry: geometry), count: geometry.valuesPerChannel)
            }
        }
    }

    // MARK: - Forward elementwise step

    /// `output = scale_c * (input - center_c) + shift_c`, the center in two words (see `ChannelCenter`). Writes every element of `output`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func normalize<Scalar: BatchNormScalar>(
        _ input: Span<Scalar>, geometry: ChannelGeometry,
        center: ChannelCenter<Scalar>, scale: [Scalar], shift: [Scalar],
        into output: inout MutableSpan<Scalar>, path: KernelPath
    ) {
        assert(input.count == geometry.elementCount && output.count == geometry.elementCount)
        assert(center.channelCount == geometry.channelCount && scale.count == geometry.channelCount
               && shift.count == geometry.channelCount)
        input.withUnsafeBufferPointer { inputBuffer in
            output.withUnsafeMutableBufferPointer { outputBuffer in
                guard let inputBase = inputBuffer.baseAddress, let outputBase = outputBuffer.baseAddress else { return }
                switch path {
                case .blas:
                    ChannelNormalization.blas(
                        inputBase, geometry: geometry, center: center, scale: scale, shift: shift, output: outputBase)
                case .fused:
                    FusedPasses.normalize(
                        inputBase, outputBase, geometry: geometry, center: center, scale: scale, shift: shift)
                }
            }
        }
    }

    // MARK: - Backward

    /// `Σ dy` and `Σ dy · (x - center)` per channel.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func backwardReductions<Scalar: BatchNormScalar>(
        input: Span<Scalar>, gradient: Span<Scalar>, geometry: ChannelGeometry,
        center: ChannelCenter<Scalar>, path: KernelPath
    ) -> BackwardReductions<Scalar> {
        assert(input.count == geometry.elementCount && gradient.count == geometry.elementCount)
        assert(center.channelCount == geometry.channelCount)
        return input.withUnsafeBufferPointer { inputBuffer in
            gradient.withUnsafeBufferPointer { gradientBuffer in
                guard let inputBase = inputBuffer.baseAddress, let gradientBase = gradientBuffer.baseAddress else {
                    let zeros = [Scalar](repeating: 0, count: geometry.channelCount)
                    return BackwardReductions(sumGradient: zeros, sumGradientTimesCentered: zeros)
                }
                switch path {
                case .blas:
                    return BackwardReductions.blas(
                        input: inputBase, gradient: gradientBase, geometry: geometry, center: center)
                case .fused:
                    return FusedPasses.backwardReductions(inputBase, gradientBase, geometry: geometry, center: center)
                }
            }
        }
    }

    /// `dx = gradientScale_c · dy + centeredScale_c · (x - center_c) + bias_c`. Writes every element of
    /// `inputGradient`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func backwardInputGradient<Scalar: BatchNormScalar>(
        input: Span<Scalar>, gradient: Span<Scalar>, geometry: ChannelGeometry,
        coefficients: InputGradientCoefficients<Scalar>,
        into inputGradient: inout MutableSpan<Scalar>, path: KernelPath
    ) {
        assert(input.count == geometry.elementCount && gradient.count == geometry.elementCount
               && inputGradient.count == geometry.elementCount)
        input.withUnsafeBufferPointer { inputBuffer in
            gradient.withUnsafeBufferPointer { gradientBuffer in
                inputGradient.withUnsafeMutableBufferPointer { resultBuffer in
                    guard let inputBase = inputBuffer.baseAddress, let gradientBase = gradientBuffer.baseAddress,
                          let resultBase = resultBuffer.baseAddress else { return }
                    switch path {
                    case .blas:
                        InputGradient.blas(
                            input: inputBase, gradient: gradientBase, geometry: geometry,
                            coefficients: coefficients, inputGradient: resultBase)
                    case .fused:
                        FusedPasses.inputGradient(
                            inputBase, gradientBase, resultBase, geometry: geometry, coefficients: coefficients)
                    }
                }
            }
        }
    }
}
