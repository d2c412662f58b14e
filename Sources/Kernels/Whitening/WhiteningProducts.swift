internal import CKernelSupport

/// The group-whitening kernels' tensor-sized products, compiled for AVX2 + FMA (`CKernelSupport`'s
/// WhiteningProducts.c) and chosen at run time; OpenBLAS's `gemm`/`syrk` stay the reference path and the
/// path on other CPUs.
///
/// What they save, on the shapes these kernels make (a `G × K` matrix by `K` rows of a few hundred
/// samples, docs/BENCHMARK_NOTES.md, issue 13): OpenBLAS packs both operands on every call, so the
/// output pass needed a centered copy of the input and a pass filling the output with the shift before
/// a `gemm` with beta = 1. On channel-major groups ``combine`` centers while it loads and writes each
/// output value once, and the second moments take one FMA per entry on and above the diagonal, where
/// `syrk` on these shapes ran slower than a full `gemm`. On sample-major (channels-last) groups
/// ``combineRows`` writes each output value once from the centered scratch rows; their second moments
/// stay on OpenBLAS. The backward's `dY Sᵀ`, a full product, stays on OpenBLAS's `gemm` in both layouts,
/// which these kernels did not beat.
///
/// Results differ from OpenBLAS's in rounding only (another summation order, FMA); the callers'
/// accuracy contract is the same, and the tests hold both paths to the float64 reference
/// (``WhiteningTuning/withBLASProducts(_:_:)``).
enum WhiteningProducts {
    /// Whether this CPU runs AVX2 and FMA (checked once).
    static let supported = bn_whitening_products_available() != 0

    /// The largest product depth (`G` terms, `2·G` for the backward's two terms) the combine takes.
    static let maximumDepth = Int(BN_WHITENING_MAXIMUM_DEPTH)

    /// Whether the AVX2 products serve a product of `depth` terms in `Scalar` (either layout: ``combine``
    /// for channel-major groups, ``combineRows`` for sample-major ones).
    @inline(__always)
    static func apply<Scalar>(to _: Scalar.Type, depth: Int) -> Bool {
        supported && WhiteningTuning.blasProductsOverride != true && depth <= maximumDepth
            && (Scalar.self == Float.self || Scalar.self == Double.self)
    }

    /// Columns of a sample-major ``pack(rows:_:sampleMajor:into:)`` matrix: `rows` padded to two 256-bit vectors.
    static func paddedRows<Scalar>(_ rows: Int, _: Scalar.Type) -> Int {
        bn_whitening_padded_rows(rows, MemoryLayout<Scalar>.stride)
    }

    /// Sample-major: `output_s[i] = shift[i] + Σ_k M[i][k] · v_k(s)` for `i < rows`, `s < count`, where
    /// `v_k(s)` is `first[s · firstStride + k]` for `k < rows`, then `second[s · secondStride + k - rows]`
    /// (sources already centered where they need it); `shift` has ``paddedRows(_:_:)`` values. Writes the
    /// output rows (`outputStride` apart) without reading them.
    @inline(__always)
    static func combineRows<Scalar>(
        rows: Int, depth: Int, count: Int, packed: UnsafePointer<Scalar>, shift: UnsafePointer<Scalar>,
        first: UnsafePointer<Scalar>, firstStride: Int, second: UnsafePointer<Scalar>, secondStride: Int,
        output: UnsafeMutablePointer<Scalar>, outputStride: Int
    ) {
        if Scalar.self == Float.self {
            bn_whitening_combine_rows_float(
                rows, depth, count, cast(packed), cast(shift), cast(first), firstStride, cast(second), secondStride,
                rows, cast(output), outputStride)
        } else {
            bn_whitening_combine_rows_double(
                rows, depth, count, cast(packed), cast(shift), cast(first), firstStride, cast(second), secondStride,
                rows, cast(output), outputStride)
        }
    }

    /// Elements of a packed `rows × depth` matrix.
    static func packedCount(rows: Int, depth: Int) -> Int { bn_whitening_packed_count(rows, depth) }

    /// Packs the row-major `rows × rows` matrices `matrices` side by side (`[m0 | m1]`, at most two) into
    /// `packed`: in 6-row panels for ``combine`` (``packedCount(rows:depth:)`` elements), or with
    /// `sampleMajor` transposed for ``combineRows`` (`packed[k · padded + i] = M[i][k]`, ``paddedRows(_:_:)``
    /// columns).
    static func pack<Scalar>(
        rows: Int, _ matrices: [[Scalar]], sampleMajor: Bool, into packed: UnsafeMutablePointer<Scalar>
    ) {
        precondition(matrices.count == 1 || matrices.count == 2)
        let second = matrices.count == 2 ? matrices[1] : []
        matrices[0].withUnsafeBufferPointer { first in
            second.withUnsafeBufferPointer { second in
                guard let firstBase = first.baseAddress else { return }
                let secondBase = second.baseAddress, secondDepth = second.isEmpty ? 0 : rows
                if Scalar.self == Float.self {
                    let pack = sampleMajor ? bn_whitening_pack_rows_float : bn_whitening_pack_float
                    pack(rows, rows, cast(firstBase), secondDepth, secondBase.map(cast), cast(packed))
                } else {
                    let pack = sampleMajor ? bn_whitening_pack_rows_double : bn_whitening_pack_double
                    pack(rows, rows, cast(firstBase), secondDepth, secondBase.map(cast), cast(packed))
                }
            }
        }
    }

    /// `output[i][s] = shift[i] + Σ_k packed[i][k] · (source_k[s] - centers[k])` for `i < rows`,
    /// `s < count`: `source_k` is `first + k·sourceStride` for `k < rows`, then `second + (k - rows)·sourceStride`.
    /// Writes the output rows (`outputStride` apart) without reading them; with `streaming`, mostly by
    /// streaming stores (fence with `Fused.streamingFence()` before another thread reads them).
    @inline(__always)
    static func combine<Scalar>(
        rows: Int, depth: Int, count: Int, packed: UnsafePointer<Scalar>, first: UnsafePointer<Scalar>,
        second: UnsafePointer<Scalar>, sourceStride: Int, centers: UnsafePointer<Scalar>,
        shift: UnsafePointer<Scalar>, output: UnsafeMutablePointer<Scalar>, outputStride: Int, streaming: Bool
    ) {
        if Scalar.self == Float.self {
            bn_whitening_combine_float(
                rows, depth, count, cast(packed), cast(first), cast(second), rows, sourceStride, cast(centers),
                cast(shift), cast(output), outputStride, streaming ? 1 : 0)
        } else {
            bn_whitening_combine_double(
                rows, depth, count, cast(packed), cast(first), cast(second), rows, sourceStride, cast(centers),
                cast(shift), cast(output), outputStride, streaming ? 1 : 0)
        }
    }

    /// `product[i][j] += Σ_s r_i[s] · r_j[s]` for `j >= i` and `product[i][rows] += Σ_s r_i[s]` for
    /// `i, j < rows`, `s < count`, over rows `r_i = rows + i·stride`; `product` is `rows × (rows + 1)`,
    /// row-major (the entries below the diagonal are not touched). The sums do not depend on the rows'
    /// addresses; rows on 32-byte boundaries load fastest.
    @inline(__always)
    static func addSecondMoments<Scalar>(
        rows: Int, _ values: UnsafePointer<Scalar>, stride: Int, count: Int, into product: UnsafeMutablePointer<Scalar>
    ) {
        let width = rows + 1
        if Scalar.self == Float.self {
            bn_whitening_row_products_float(rows, cast(values), stride, rows, cast(values), stride, count, 1, cast(product), width)
            bn_whitening_row_sums_float(rows, cast(values), stride, count, cast(product + rows), width)
        } else {
            bn_whitening_row_products_double(
                rows, cast(values), stride, rows, cast(values), stride, count, 1, cast(product), width)
            bn_whitening_row_sums_double(rows, cast(values), stride, count, cast(product + rows), width)
        }
    }

    /// `target = source - center` over `lines` lines of `length` values (lines `stride` and `targetStride`
    /// apart), as the Swift loop computes it (one subtraction, the same bits): channel-major lines are
    /// channels (`centers[line]`, the next lines prefetched), sample-major lines are samples
    /// (`centers[value]`). `false`, having done nothing, where the AVX2 products do not run.
    @inline(__always)
    static func centeredCopy<Scalar>(
        sampleMajor: Bool, lines: Int, length: Int, _ source: UnsafePointer<Scalar>, stride: Int,
        centers: [Scalar], into target: UnsafeMutablePointer<Scalar>, targetStride: Int
    ) -> Bool {
        guard supported, WhiteningTuning.blasProductsOverride != true else { return false }
        return centers.withUnsafeBufferPointer { centersBuffer in
            guard let centersBase = centersBuffer.baseAddress else { return false }
            if Scalar.self == Float.self {
                let copy = sampleMajor ? bn_whitening_centered_samples_float : bn_whitening_centered_copy_float
                copy(lines, cast(source), stride, length, cast(centersBase), cast(target), targetStride)
            } else if Scalar.self == Double.self {
                let copy = sampleMajor ? bn_whitening_centered_samples_double : bn_whitening_centered_copy_double
                copy(lines, cast(source), stride, length, cast(centersBase), cast(target), targetStride)
            } else {
                return false
            }
            return true
        }
    }

    @inline(__always)
    private static func cast<Scalar, Target>(_ pointer: UnsafePointer<Scalar>) -> UnsafePointer<Target> {
        UnsafeRawPointer(pointer).assumingMemoryBound(to: Target.self)
    }

    @inline(__always)
    private static func cast<Scalar, Target>(_ pointer: UnsafeMutablePointer<Scalar>) -> UnsafeMutablePointer<Target> {
        UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: Target.self)
    }
}

/// Test seam for the group-whitening products.
package enum WhiteningTuning {
    /// When `true`, the group-whitening kernels use OpenBLAS for every product.
    @TaskLocal static var forcedBLASProducts: Bool?

    /// Runs `body` with OpenBLAS forced for the group-whitening products (`true`) or the CPU's choice
    /// (`false`, `nil`), so tests hold both paths to the same references.
    package static func withBLASProducts<Result>(_ forced: Bool?, _ body: () throws -> Result) rethrows -> Result {
        try TestSeams.scope { try $forcedBLASProducts.withValue(forced, operation: body) }
    }

    /// The forced choice, if a test set one (one relaxed load otherwise).
    @inline(__always)
    static var blasProductsOverride: Bool? { TestSeams.anyOpen ? forcedBLASProducts : nil }

    /// Whether this CPU runs the AVX2 products.
    package static var productsSupported: Bool { WhiteningProducts.supported }
}
