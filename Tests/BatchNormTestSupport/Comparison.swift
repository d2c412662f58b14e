import Testing

// Shared by the test targets (BatchNormKitTests, BatchNormPropertyTests): the error metric every parity
// test uses.

/// Largest error of `actual` against a float64 `expected`, measured as
/// `|actual - expected| / (|expected| + scale)`: relative for large values, absolute (in units of
/// `scale`) near zero. `scale` is the magnitude the quantity naturally has (1 for a normalized output,
/// `sqrt(M)·|dy|` for a gradient sum, ...).
public struct ErrorReport: CustomStringConvertible {
    /// The largest error.
    public var worst: Double = 0
    /// Where it is (-1 for empty arrays).
    public var worstIndex = -1
    /// The value there.
    public var actual = 0.0
    /// The reference value there.
    public var expected = 0.0

    /// A report with nothing measured yet.
    public init() {}

    init(worst: Double, worstIndex: Int, actual: Double, expected: Double) {
        (self.worst, self.worstIndex, self.actual, self.expected) = (worst, worstIndex, actual, expected)
    }

    public var description: String { "error \(worst) at index \(worstIndex): got \(actual), expected \(expected)" }
}

public func measureError<Scalar: BinaryFloatingPoint>(
    _ actual: [Scalar], _ expected: [Double], scale: Double = 1
) -> ErrorReport {
    precondition(actual.count == expected.count, "length \(actual.count) vs \(expected.count)")
    var report = ErrorReport()
    for index in actual.indices {
        let a = Double(actual[index]), e = expected[index]
        let error: Double
        if e.isNaN || a.isNaN {
            error = (e.isNaN && a.isNaN) ? 0 : .infinity
        } else if e.isInfinite || a.isInfinite {
            error = a == e ? 0 : .infinity
        } else {
            error = abs(a - e) / (abs(e) + scale)
        }
        if error > report.worst || report.worstIndex < 0 {
            report = ErrorReport(worst: error, worstIndex: index, actual: a, expected: e)
        }
    }
    return report
}

/// Expects `actual` within `tolerance` of `expected` in the metric of ``measureError(_:_:scale:)``,
/// naming the first worst index, the seed and the context on failure.
public func expectClose<Scalar: BinaryFloatingPoint>(
    _ actual: [Scalar], _ expected: [Double], tolerance: Double, scale: Double = 1,
    _ context: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation
) {
    let report = measureError(actual, expected, scale: scale)
    #expect(report.worst <= tolerance, "\(context()): \(report) (tolerance \(tolerance))",
            sourceLocation: sourceLocation)
}

/// Unit roundoff of a precision.
public func unitRoundoff<Scalar: BinaryFloatingPoint>(_: Scalar.Type) -> Double { Double(Scalar.ulpOfOne) / 2 }

/// The same value and sign at every index (zeros included), NaN where the other is NaN: what a kernel
/// that promises another's bits must give.
public func sameBits<Scalar: BinaryFloatingPoint>(_ actual: [Scalar], _ expected: [Scalar]) -> Bool {
    actual.count == expected.count && zip(actual, expected).allSatisfy { a, e in
        (a.isNaN && e.isNaN) || (a == e && a.sign == e.sign)
    }
}

/// The scale at which a training backward's `dx = γ·invstd/M·(M·dy - dβ - x̂·dγ)` is compared (with
/// `|dy| ≤ 1`): the size of the terms it cancels, `max over channels of |γ|·invstd·(1 + |mean|·invstd)`,
/// at least 1. The `x̂` of a channel whose values nearly agree (`M = 3` values within 0.05 of each
/// other: `invstd ≈ 30`) carries the mean's rounding `u·|mean|·invstd`, and the cancelling terms are
/// `invstd` in size, so a float64 reference and a kernel that both round differ by many `u` at scale 1
/// (a `Double` 1x17x3 case drew 141u). `gamma` nil: non-affine (γ = 1).
public func trainingInputGradientScale(
    gamma: [Double]?, mean: [Double], inverseStandardDeviation: [Double]
) -> Double {
    var scale = 1.0
    for channel in mean.indices {
        let invstd = inverseStandardDeviation[channel]
        let size = abs(gamma?[channel] ?? 1) * invstd * (1 + abs(mean[channel] * invstd))
        if size > scale { scale = size }
    }
    return scale
}
