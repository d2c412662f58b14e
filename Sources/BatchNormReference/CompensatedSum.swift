/// A running sum kept in two `Double` words (`high + low`) with Knuth's branch-free TwoSum: each
/// addition's rounding error is carried exactly into `low`, so the sum of `n` terms is off by about
/// `n·u²·Σ|x|` instead of `n·u·Σ|x|` (u = 2⁻⁵³). The reference's statistics and gradient sums use it,
/// so that they are more accurate than the kernels they check (whose two-word mean is good to a few
/// ulps of a channel's spread even at mean 1e9).
///
/// The extra additions do not lengthen the dependency chain of the sum (one addition per term), so
/// the reference's loops run at about the speed of plain summation.
public struct CompensatedSum: Sendable {
    /// The leading word of the sum.
    public var high: Double { leading }
    /// The accumulated rounding errors of the additions into `high`.
    public var low: Double { errors }

    @usableFromInline var leading = 0.0
    @usableFromInline var errors = 0.0

    @inlinable
    public init() {}

    /// Adds `term`. Non-finite terms make the sum non-finite as plain summation would (the error
    /// word then holds NaN and is ignored by ``value``).
    @inlinable @inline(__always)
    public mutating func add(_ term: Double) {
        let sum = leading + term
        let termPart = sum - leading
        let error = (leading - (sum - termPart)) + (term - termPart)
        leading = sum
        errors += error
    }

    /// The sum rounded to one `Double`.
    @inlinable
    public var value: Double { high.isFinite ? high + low : high }

    /// The sum divided by `count`, in two words: `high` is the rounded quotient of the rounded sum and
    /// `low` the rest, so that `high + low = sum / count` to about `u²` relative. The remainder
    /// `h - q·count` of a rounded quotient is exact in `Double`, and one fused multiply-add gives it.
    /// A non-finite sum gives `(sum / count, 0)`.
    @inlinable
    public func dividedInTwoWords(by count: Double) -> (high: Double, low: Double) {
        guard high.isFinite, low.isFinite else { return (high / count, 0) }
        let leading = high + low
        let trailing = low - (leading - high)
        let quotient = leading / count
        let remainder = leading.addingProduct(-quotient, count) + trailing
        return (quotient, remainder / count)
    }
}
