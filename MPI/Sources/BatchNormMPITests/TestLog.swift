/// This rank's tally: checks passed and failed, failure messages, and the largest error seen per
/// quantity (in unit roundoffs of the precision compared), for the closing report.
struct TestLog {
    let rank: Int
    private(set) var passed = 0
    private(set) var failed = 0
    /// Largest error per quantity, in unit roundoffs; the keys are ``quantities``.
    private(set) var worstErrors: [String: Double] = [:]

    /// The quantities compared, in report order, the same on every rank (the report gathers one
    /// value per quantity from each rank).
    static let quantities = ["Float", "Double"].flatMap { scalar in
        ["y", "dx", "mean", "variance", "invstd", "dgamma", "dbeta", "runningMean", "runningVariance", "inference y"]
            .map { scalar + " " + $0 }
    }

    init(rank: Int) {
        self.rank = rank
    }

    /// Counts one check; prints `message` when it failed.
    mutating func expect(_ condition: Bool, _ message: @autoclosure () -> String) {
        if condition {
            passed += 1
        } else {
            failed += 1
            print("rank \(rank) FAILED: \(message())")
        }
    }

    /// Checks `actual` against `expected` in the metric `|a - e| / (|e| + scale)` within `tolerance`
    /// unit roundoffs, and records the error under `quantity` (e.g. `"Float y"`).
    mutating func expectClose<Scalar: BinaryFloatingPoint>(
        _ actual: [Scalar], _ expected: [Scalar], scale: Double = 1, tolerance: Double = 64,
        quantity: String, _ context: @autoclosure () -> String
    ) {
        guard actual.count == expected.count else {
            expect(false, "\(context()) \(quantity): \(actual.count) values, expected \(expected.count)")
            return
        }
        let unitRoundoff = Double(Scalar.ulpOfOne) / 2
        var worst = 0.0, worstIndex = 0
        for index in actual.indices {
            let a = Double(actual[index]), e = Double(expected[index])
            let error = a == e ? 0 : (a.isFinite && e.isFinite ? abs(a - e) / (abs(e) + scale) : .infinity)
            if error > worst { (worst, worstIndex) = (error, index) }
        }
        let inUnits = worst / unitRoundoff
        assert(Self.quantities.contains(quantity), "unknown quantity \(quantity)")
        worstErrors[quantity] = max(worstErrors[quantity] ?? 0, inUnits)
        expect(inUnits <= tolerance, "\(context()) \(quantity): error \(inUnits) u at index \(worstIndex) "
               + "(got \(actual.isEmpty ? 0 : Double(actual[worstIndex])), expected "
               + "\(expected.isEmpty ? 0 : Double(expected[worstIndex]))), tolerance \(tolerance) u")
    }
}
