/// `∂f/∂v[index]` by the central difference `(f(v + h·e) - f(v - h·e)) / 2h`, the gradient checks'
/// one formula (error O(h²) plus the rounding of `f` divided by `h`; `h = 1e-5` balances the two for
/// O(1) data in `Double`).
func centralDifference(
    _ vector: [Double], at index: Int, step h: Double = 1e-5, _ f: ([Double]) throws -> Double
) rethrows -> Double {
    var plus = vector, minus = vector
    plus[index] += h
    minus[index] -= h
    return (try f(plus) - f(minus)) / (2 * h)
}
