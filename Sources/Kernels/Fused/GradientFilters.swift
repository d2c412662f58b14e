/// What a backward loop uses in place of the output gradient `dy`: `dy` itself, or `dz = [y > 0] · dy`
/// for a fused ReLU (from the stored forward output, or recomputed from `x`).
///
/// A generic parameter rather than an optional, so every backward loop is compiled once per filter and
/// the plain backward carries no per-vector test of a mask it does not have.
protocol GradientFilter<Scalar> {
    associatedtype Scalar: BatchNormScalar

    /// The filtered gradient of the value at `index` of the loop's range, whose channel is `channel`
    /// and whose centered input is `centered` (`x - center`).
    func callAsFunction(_ dy: Scalar, centered: Scalar, index: Int, channel: Int) -> Scalar

    /// The vector form: `width` values from `index`, channels from `channel` on (periodic for
    /// interleaved rows).
    func callAsFunction(
        _ dy: Fused.Vector<Scalar>, centered: Fused.Vector<Scalar>, index: Int, channel: Int
    ) -> Fused.Vector<Scalar>

    /// The filter as the AVX2 channels-last loops take it, or `nil` where they have no counterpart
    /// (`Fused.WideLoops`; the Swift loops run instead).
    var wideFilter: Fused.WideFilter<Scalar>? { get }
}

extension GradientFilter {
    var wideFilter: Fused.WideFilter<Scalar>? { nil }
}

extension Fused {
    /// `dy` unchanged: the plain backward.
    struct UnfilteredGradient<Scalar: BatchNormScalar>: GradientFilter {
        @inline(__always)
        func callAsFunction(_ dy: Scalar, centered: Scalar, index: Int, channel: Int) -> Scalar { dy }

        @inline(__always)
        func callAsFunction(_ dy: Vector<Scalar>, centered: Vector<Scalar>, index: Int, channel: Int) -> Vector<Scalar> {
            dy
        }

        var wideFilter: WideFilter<Scalar>? { WideFilter() }
    }

    /// The ReLU mask of a backward pass: the forward's output `y` and where `dz = [y > 0] · dy` goes.
    /// PyTorch's `threshold_backward(dy, y, 0)`: `dz = y <= 0 ? 0 : dy`, so a NaN `y` passes `dy` and
    /// `y == 0` gives 0. Indexed like the loop's range (``advanced(by:)`` moves it with the range);
    /// each `dz` is also stored.
    struct GradientMask<Scalar: BatchNormScalar>: GradientFilter {
        let forwardOutput: UnsafePointer<Scalar>
        let maskedGradient: UnsafeMutablePointer<Scalar>
        /// Whether the AVX2 loops store `dz` with streaming stores after each chunk's sums
        /// (``WideFilter/streamsMaskedGradient``); the Swift loops store it in the loop either way.
        var streamsMaskedGradient = false

        @inline(__always)
        func advanced(by offset: Int) -> Self {
            Self(forwardOutput: forwardOutput + offset, maskedGradient: maskedGradient + offset,
                 streamsMaskedGradient: streamsMaskedGradient)
        }

        @inline(__always)
        func callAsFunction(_ dy: Scalar, centered: Scalar, index: Int, channel: Int) -> Scalar {
            let dz = forwardOutput[index] <= 0 ? 0 : dy
            maskedGradient[index] = dz
            return dz
        }

        @inline(__always)
        func callAsFunction(_ dy: Vector<Scalar>, centered: Vector<Scalar>, index: Int, channel: Int) -> Vector<Scalar> {
            let dz = zeroWhereNotPositive(dy, condition: load(forwardOutput + index))
            store(dz, maskedGradient + index)
            return dz
        }

        var wideFilter: WideFilter<Scalar>? {
            WideFilter(forwardOutput: forwardOutput, maskedGradient: maskedGradient,
                       streamsMaskedGradient: streamsMaskedGradient)
        }
    }

    /// The ReLU mask recomputed from `x` over one channel's run: the forward's pre-activation
    /// `v = (x - center)·scale + shift` with the very coefficients and operations the forward used, so
    /// `v <= 0` is `y <= 0` bit for bit, and `dz = v <= 0 ? 0 : dy`. Nothing is read or written beyond
    /// `x` and `dy`.
    struct RecomputedMask<Scalar: BatchNormScalar>: GradientFilter {
        let scale: Scalar
        let shift: Scalar

        @inline(__always)
        func callAsFunction(_ dy: Scalar, centered: Scalar, index: Int, channel: Int) -> Scalar {
            centered * scale + shift <= 0 ? 0 : dy
        }

        @inline(__always)
        func callAsFunction(_ dy: Vector<Scalar>, centered: Vector<Scalar>, index: Int, channel: Int) -> Vector<Scalar> {
            zeroWhereNotPositive(dy, condition: centered * Vector(repeating: scale) + Vector(repeating: shift))
        }
    }

    /// ``RecomputedMask`` for interleaved rows: per-channel `scale` and `shift` indexed by the loop's
    /// channel (periodic arrays where a vector may cross the end of a row).
    struct InterleavedRecomputedMask<Scalar: BatchNormScalar>: GradientFilter {
        let scale: UnsafePointer<Scalar>
        let shift: UnsafePointer<Scalar>

        @inline(__always)
        func callAsFunction(_ dy: Scalar, centered: Scalar, index: Int, channel: Int) -> Scalar {
            centered * scale[channel] + shift[channel] <= 0 ? 0 : dy
        }

        @inline(__always)
        func callAsFunction(_ dy: Vector<Scalar>, centered: Vector<Scalar>, index: Int, channel: Int) -> Vector<Scalar> {
            zeroWhereNotPositive(dy, condition: centered * load(scale + channel) + load(shift + channel))
        }
    }

    /// ``RecomputedMask`` as a bound on the centered input (``ReLUCoefficients/maskBound``):
    /// `dz = centered <= bound ? 0 : dy`, the same decision with one compare.
    struct BoundedMask<Scalar: BatchNormScalar>: GradientFilter {
        let bound: Scalar

        @inline(__always)
        func callAsFunction(_ dy: Scalar, centered: Scalar, index: Int, channel: Int) -> Scalar {
            centered <= bound ? 0 : dy
        }

        @inline(__always)
        func callAsFunction(_ dy: Vector<Scalar>, centered: Vector<Scalar>, index: Int, channel: Int) -> Vector<Scalar> {
            zeroWhereAtMost(dy, condition: centered, bound: Vector(repeating: bound))
        }
    }

    /// ``BoundedMask`` for interleaved rows: per-channel bounds indexed by the loop's channel (a
    /// periodic array where a vector may cross the end of a row).
    struct InterleavedBoundedMask<Scalar: BatchNormScalar>: GradientFilter {
        let bound: UnsafePointer<Scalar>

        @inline(__always)
        func callAsFunction(_ dy: Scalar, centered: Scalar, index: Int, channel: Int) -> Scalar {
            centered <= bound[channel] ? 0 : dy
        }

        @inline(__always)
        func callAsFunction(_ dy: Vector<Scalar>, centered: Vector<Scalar>, index: Int, channel: Int) -> Vector<Scalar> {
            zeroWhereAtMost(dy, condition: centered, bound: load(bound + channel))
        }

        var wideFilter: WideFilter<Scalar>? { WideFilter(bound: bound) }
    }
}
