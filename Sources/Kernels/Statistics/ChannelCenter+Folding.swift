/// Moving a center (or a part of it) out of an elementwise step into its per-channel constant term:
/// ```
/// (x - high - low)·scale + shift = (x - high)·scale + (shift - low·scale)
/// ```
/// The one place this fold is written. The fused passes fold the low word into the shift (forward)
/// or the bias (backward `dx`), so that their elementwise loops subtract one word; the backward sums
/// fold it into `Σ dy·(x - high)`; channels whose `x - mean` could overflow fold the whole mean.
extension ChannelCenter {
    /// `shift - center·scale`, in `Double`.
    @inline(__always)
    package static func foldedShift(_ shift: Double, center: Double, scale: Double) -> Double {
        shift - center * scale
    }

    /// `shift - center·scale` for `Scalar` terms, computed in `Double` and rounded once.
    @inline(__always)
    package static func foldedShift(_ shift: Scalar, center: Double, scale: Scalar) -> Scalar {
        Scalar(foldedShift(Double(shift), center: center, scale: Double(scale)))
    }

    /// Per channel, `shift - low·scale`: the constant term of `(x - high)·scale + shift'` equal to
    /// `(x - center)·scale + shift` (`low` 0 where there is none, still multiplied, so a NaN or
    /// infinite scale propagates alike).
    package func foldingLowWord(into shift: [Scalar], scale: [Scalar]) -> [Scalar] {
        precondition(shift.count == channelCount && scale.count == channelCount)
        guard let low else { return ChannelLoops.map(shift, scale) { Self.foldedShift($0, center: 0, scale: $1) } }
        return ChannelLoops.map(shift, scale, low) { Self.foldedShift($0, center: Double($2), scale: $1) }
    }

    /// The center of `channel` as one `Double`, `high + low`.
    @inline(__always)
    package func value(_ channel: Int) -> Double {
        Double(high[channel]) + Double(low?[channel] ?? 0)
    }
}
