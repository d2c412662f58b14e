/// Error-free transformations of a sum, and the rounding of a two-word value to `Scalar`: the
/// arithmetic behind every two-word mean (``ChannelCenter``, `ChannelMoments.meanLow`,
/// `MomentsAccumulator.meanLow`).
///
/// A two-word value is the unevaluated sum `high + low` with `|low| <= ulp(high) / 2`. By convention
/// the low word of a non-finite sum is 0 (its error term is NaN or infinite and means nothing), so a
/// low word never turns an infinite mean into NaN.
///
/// Generic over `BinaryFloatingPoint` and always inlined: each call specializes to the same few
/// instructions a hand-written `Float` or `Double` copy would be.
enum ErrorFreeSums {
    /// `(sum, error)` with `sum = fl(a + b)` and `sum + error == a + b` exactly, for any finite `a`
    /// and `b` (Knuth's TwoSum, six operations, no ordering of `a` and `b` needed); `error` is 0
    /// when `sum` is not finite.
    @inline(__always)
    static func twoSum<Value: BinaryFloatingPoint>(_ a: Value, _ b: Value) -> (sum: Value, error: Value) {
        let sum = a + b
        let aPart = sum - b
        let error = (a - aPart) + (b - (sum - aPart))
        return (sum, error.isFinite ? error : 0)
    }

    /// `(sum, error)` with `sum = fl(a + b)` and `sum + error == a + b` exactly, provided `|a| >= |b|`
    /// or `a == 0` (Dekker's Fast2Sum, three operations); `error` is 0 when it is not finite.
    @inline(__always)
    static func fastTwoSum<Value: BinaryFloatingPoint>(_ a: Value, _ b: Value) -> (sum: Value, error: Value) {
        let sum = a + b
        let error = b - (sum - a)
        return (sum, error.isFinite ? error : 0)
    }

    /// The two-word `Double` value `value + low` as a two-word `Scalar`: `high` is `value` rounded,
    /// `low` the `Scalar` rounding of what is left (0 where that is not finite).
    @inline(__always)
    static func rounded<Scalar: BatchNormScalar>(
        _ value: Double, low: Double = 0, as _: Scalar.Type
    ) -> (high: Scalar, low: Scalar) {
        let high = Scalar(value)
        return (high, Scalar(finiteOrZero((value - Double(high)) + low)))
    }

    /// `value` if it is finite, else +0, selected without a branch (so that loops over channels that
    /// round two-word means vectorize; the SIMD form is `ChannelLoops.finiteOrZero`).
    @inline(__always)
    static func finiteOrZero(_ value: Double) -> Double {
        let keep: UInt64 = value - value == 0 ? ~0 : 0
        return Double(bitPattern: value.bitPattern & keep)
    }
}
