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

/// Central differences of `loss(x, gamma, beta)` with respect to every entry of each argument.
func numericGradients(
    input: [Double], gamma: [Double], beta: [Double], _ loss: ([Double], [Double], [Double]) throws -> Double
) rethrows -> (input: [Double], gamma: [Double], beta: [Double]) {
    (try input.indices.map { i in try centralDifference(input, at: i) { try loss($0, gamma, beta) } },
     try gamma.indices.map { i in try centralDifference(gamma, at: i) { try loss(input, $0, beta) } },
     try beta.indices.map { i in try centralDifference(beta, at: i) { try loss(input, gamma, $0) } })
}
