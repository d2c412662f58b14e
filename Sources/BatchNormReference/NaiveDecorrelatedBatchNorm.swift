public import BatchNormKit

/// The naive decorrelated batch norm: plain loops in `Double`, no BLAS, no LAPACK, the papers'
/// formulas as written. Indexes the tensor from the layout (``NaiveBatchNorm``'s `Layout`), independently
/// of the kernels' geometry. The forward oracle of the tests (its backward is checked by finite
/// differences, not by this type).
///
/// - ZCA: the covariance's eigendecomposition by cyclic Jacobi rotations (to a relative off-diagonal
///   size of 1e-15), `Φ = U diag(λ^(-1/2)) Uᵀ`.
/// - IterNorm: the paper's single-matrix Newton–Schulz `P ← (3P - P³ Σ_N) / 2`, `Φ = P / sqrt(tr Σ)`
///   (equal in exact arithmetic to the kernels' coupled form; use few iterations with it, it is the
///   unstable form).
public enum NaiveDecorrelatedBatchNorm {
    /// Which whitening the reference runs.
    public enum Method: Sendable, Hashable {
        case zca
        case iterNorm(iterations: Int)
    }

    /// One training step's results in `Double`.
    public struct Result: Sendable {
        /// The output in the input's layout.
        public var output: [Double]
        /// Batch mean per channel.
        public var mean: [Double]
        /// Per group, the covariance `Σ` (with `eps·I`) and `Φ`, `G × G` row-major.
        public var covariance: [[Double]]
        public var whitening: [[Double]]
    }

    /// Training forward of `input` (any precision, read as `Double`).
    public static func forwardTraining<Scalar: BinaryFloatingPoint>(
        _ input: [Scalar], shape: TensorShape, groupSize: Int, method: Method, epsilon: Double,
        gamma: [Double]? = nil, beta: [Double]? = nil
    ) -> Result {
        let layout = NaiveBatchNorm.Layout(shape)
        let channelCount = shape.channelCount, samples = shape.valuesPerChannel
        var mean = [Double](repeating: 0, count: channelCount)
        for channel in 0..<channelCount {
            mean[channel] = NaiveBatchNorm.channelSum(layout, channel) { Double(input[$0]) }.value / Double(samples)
        }
        var output = [Double](repeating: 0, count: input.count)
        var covariances: [[Double]] = [], whitenings: [[Double]] = []
        for group in 0..<(channelCount / groupSize) {
            let first = group * groupSize
            var covariance = [Double](repeating: 0, count: groupSize * groupSize)
            for row in 0..<groupSize {
                for column in 0..<groupSize {
                    var sum = CompensatedSum()
                    for batch in 0..<layout.batchSize {
                        for spatial in 0..<layout.spatialCount {
                            sum.add((Double(input[layout.index(batch, first + row, spatial)]) - mean[first + row])
                                * (Double(input[layout.index(batch, first + column, spatial)]) - mean[first + column]))
                        }
                    }
                    covariance[row * groupSize + column] = sum.value / Double(samples) + (row == column ? epsilon : 0)
                }
            }
            let whitening = whiteningMatrix(covariance, size: groupSize, method: method)
            for batch in 0..<layout.batchSize {
                for spatial in 0..<layout.spatialCount {
                    for row in 0..<groupSize {
                        var value = 0.0
                        for column in 0..<groupSize {
                            value += whitening[row * groupSize + column]
                                * (Double(input[layout.index(batch, first + column, spatial)]) - mean[first + column])
                        }
                        let channel = first + row
                        output[layout.index(batch, channel, spatial)] = value * (gamma?[channel] ?? 1) + (beta?[channel] ?? 0)
                    }
                }
            }
            covariances.append(covariance)
            whitenings.append(whitening)
        }
        return Result(output: output, mean: mean, covariance: covariances, whitening: whitenings)
    }

    /// `Φ` for a symmetric positive definite `covariance` (`size × size`, row-major).
    public static func whiteningMatrix(_ covariance: [Double], size: Int, method: Method) -> [Double] {
        switch method {
        case .zca:
            let (eigenvalues, vectors) = jacobiEigen(covariance, size: size)
            var result = [Double](repeating: 0, count: size * size)
            for row in 0..<size {
                for column in 0..<size {
                    for k in 0..<size {
                        result[row * size + column] += vectors[row * size + k] * vectors[column * size + k]
                            / eigenvalues[k].squareRoot()
                    }
                }
            }
            return result
        case .iterNorm(let iterations):
            let trace = (0..<size).reduce(0.0) { $0 + covariance[$1 * size + $1] }
            let normalized = covariance.map { $0 / trace }
            var p = [Double](repeating: 0, count: size * size)
            for index in 0..<size { p[index * size + index] = 1 }
            for _ in 0..<iterations {
                let cube = product(product(product(p, p, size), p, size), normalized, size)
                p = zip(p, cube).map { 1.5 * $0 - 0.5 * $1 }
            }
            return p.map { $0 / trace.squareRoot() }
        }
    }

    /// `left · right` for `size × size` row-major matrices.
    public static func product(_ left: [Double], _ right: [Double], _ size: Int) -> [Double] {
        var result = [Double](repeating: 0, count: size * size)
        for row in 0..<size {
            for k in 0..<size {
                let factor = left[row * size + k]
                for column in 0..<size { result[row * size + column] += factor * right[k * size + column] }
            }
        }
        return result
    }

    /// Eigenvalues and eigenvectors (columns, row-major storage) of a symmetric matrix by cyclic Jacobi.
    public static func jacobiEigen(_ matrix: [Double], size: Int) -> (values: [Double], vectors: [Double]) {
        var a = matrix
        var v = [Double](repeating: 0, count: size * size)
        for index in 0..<size { v[index * size + index] = 1 }
        let scale = a.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for _ in 0..<100 {
            var off = 0.0
            for p in 0..<size { for q in (p + 1)..<max(p + 1, size) { off += a[p * size + q] * a[p * size + q] } }
            if off.squareRoot() <= 1e-15 * scale { break }
            for p in 0..<size {
                for q in (p + 1)..<max(p + 1, size) where a[p * size + q] != 0 {
                    let apq = a[p * size + q]
                    let theta = (a[q * size + q] - a[p * size + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1 : -1) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<size {
                        let akp = a[k * size + p], akq = a[k * size + q]
                        a[k * size + p] = c * akp - s * akq
                        a[k * size + q] = s * akp + c * akq
                    }
                    for k in 0..<size {
                        let apk = a[p * size + k], aqk = a[q * size + k]
                        a[p * size + k] = c * apk - s * aqk
                        a[q * size + k] = s * apk + c * aqk
                    }
                    for k in 0..<size {
                        let vkp = v[k * size + p], vkq = v[k * size + q]
                        v[k * size + p] = c * vkp - s * vkq
                        v[k * size + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return ((0..<size).map { a[$0 * size + $0] }, v)
    }
}
