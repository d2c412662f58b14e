/// Sums along the rows or columns of row-major matrices with `gemv` against a ones vector,
/// split so that no CBLAS call receives a count above `BLASCount.maximumCount`.
enum BLASReductions {
    /// Rows per `gemv` call when reducing over rows; bounds the ones vector a call allocates.
    static let rowBlock = 1 << 16

    /// `sums[j] += Σ_i matrix[i * columns + j]` for a `rows x columns` row-major matrix.
    static func accumulateColumnSums<Scalar: BatchNormScalar>(
        _ matrix: UnsafePointer<Scalar>, rows: Int, columns: Int, into sums: UnsafeMutablePointer<Scalar>
    ) {
        guard rows > 0, columns > 0 else { return }
        let blas = Scalar.blasRoutines
        let limit = BLASCount.maximumCount
        if columns <= limit {
            let block = min(rows, limit, rowBlock)
            let ones = [Scalar](repeating: 1, count: block)
            ones.withUnsafeBufferPointer { onesBuffer in
                guard let onesBase = onesBuffer.baseAddress else { return }
                BLASCount.forEachChunk(of: rows, limit: block) { start, count in
                    blas.gemv(
                        true, BLASCount.checked(count), BLASCount.checked(columns), 1,
                        matrix + start * columns, BLASCount.checked(columns),
                        onesBase, 1, 1, sums)
                }
            }
        } else {
            // A row longer than one CBLAS count: add it piece by piece.
            for row in 0..<rows {
                BLASCount.forEachChunk(of: columns, limit: limit) { start, count in
                    blas.axpy(BLASCount.checked(count), 1, matrix + row * columns + start, 1, sums + start, 1)
                }
            }
        }
    }

    /// `sums[i] += Σ_j matrix[i * columns + j]` for a `rows x columns` row-major matrix.
    static func accumulateRowSums<Scalar: BatchNormScalar>(
        _ matrix: UnsafePointer<Scalar>, rows: Int, columns: Int, into sums: UnsafeMutablePointer<Scalar>
    ) {
        guard rows > 0, columns > 0 else { return }
        let blas = Scalar.blasRoutines
        let limit = BLASCount.maximumCount
        let ones = [Scalar](repeating: 1, count: min(columns, limit))
        ones.withUnsafeBufferPointer { onesBuffer in
            guard let onesBase = onesBuffer.baseAddress else { return }
            if columns <= limit {
                BLASCount.forEachChunk(of: rows, limit: limit) { start, count in
                    blas.gemv(
                        false, BLASCount.checked(count), BLASCount.checked(columns), 1,
                        matrix + start * columns, BLASCount.checked(columns),
                        onesBase, 1, 1, sums + start)
                }
            } else {
                for row in 0..<rows {
                    BLASCount.forEachChunk(of: columns, limit: limit) { start, count in
                        sums[row] += blas.dot(BLASCount.checked(count), matrix + row * columns + start, 1, onesBase, 1)
                    }
                }
            }
        }
    }

    /// Per-channel sums of a tensor laid out as `geometry` describes: a row-sum over the contiguous
    /// runs followed by a column-sum over `outerCount` (one `gemv` each), or a single column-sum when
    /// `innerCount == 1`.
    static func channelSums<Scalar: BatchNormScalar>(
        _ tensor: UnsafePointer<Scalar>, geometry: ChannelGeometry
    ) -> [Scalar] {
        var sums = [Scalar](repeating: 0, count: geometry.channelCount)
        sums.withUnsafeMutableBufferPointer { sumsBuffer in
            guard let sumsBase = sumsBuffer.baseAddress else { return }
            if geometry.innerCount == 1 {
                accumulateColumnSums(tensor, rows: geometry.outerCount, columns: geometry.channelCount, into: sumsBase)
            } else {
                let rowSums = [Scalar](unsafeUninitializedCapacity: geometry.rowCount) { buffer, initialized in
                    buffer.initialize(repeating: 0)
                    initialized = buffer.count
                    guard let base = buffer.baseAddress else { return }
                    accumulateRowSums(tensor, rows: geometry.rowCount, columns: geometry.innerCount, into: base)
                }
                rowSums.withUnsafeBufferPointer { rowSumsBuffer in
                    guard let rowSumsBase = rowSumsBuffer.baseAddress else { return }
                    accumulateColumnSums(
                        rowSumsBase, rows: geometry.outerCount, columns: geometry.channelCount, into: sumsBase)
                }
            }
        }
        return sums
    }
}
