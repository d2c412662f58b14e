// The group-whitening kernels' tensor-sized products for channels-first groups, compiled for AVX2 + FMA
// (WhiteningProducts.c includes this file once per precision, with SCALAR, VECTOR, LANES, MASK and the
// intrinsic macros defined). They replace OpenBLAS's `gemm`/`syrk` on the shapes these kernels make
// (a `G × K` matrix by `K` rows of a few hundred samples, `G`, `K` at most a few hundred), where
// OpenBLAS packs both operands on every call and the callers had to pre-fill and pre-center copies.
// Not a module header (it is outside include/), so Swift never sees it.

#define WP_INLINE static inline __attribute__((always_inline)) WP_TARGET

/// How many values to take before `pointer` reaches a multiple of `alignment` bytes (at most `count`).
WP_INLINE ptrdiff_t NAME(alignment_head)(const SCALAR *pointer, ptrdiff_t count, uintptr_t alignment) {
    ptrdiff_t head = (ptrdiff_t)((-(uintptr_t)pointer) & (alignment - 1)) / (ptrdiff_t)sizeof(SCALAR);
    return head < count ? head : count;
}

// MARK: - Combine

/// One output tile: rows `0 ..< min(row_count, WP_ROWS)` of `output`, samples `sample ..< sample + 2·LANES`
/// (the lanes of `mask0`/`mask1` only when `masked`): `shift[r] + Σ_k panel[k][r] · (sources[k][s] - centers[k])`,
/// summed in `k` order with one FMA per term. With `streaming`, whole rows of the tile that start on a
/// 32-byte boundary are written with streaming stores.
WP_INLINE void NAME(combine_tile)(
    ptrdiff_t depth, const SCALAR *panel, const SCALAR *const *sources, const SCALAR *centers, ptrdiff_t sample,
    const SCALAR *shift, ptrdiff_t row_count, SCALAR *output, ptrdiff_t output_stride,
    int masked, MASK mask0, MASK mask1, int prefetch, int streaming)
{
    VECTOR sums[WP_ROWS][2];
    for (int row = 0; row < WP_ROWS; row++) {
        sums[row][0] = SET1(row < row_count ? shift[row] : 0);
        sums[row][1] = sums[row][0];
    }
    for (ptrdiff_t k = 0; k < depth; k++) {
        const SCALAR *values = sources[k] + sample;
        if (prefetch) __builtin_prefetch((const char *)values + WP_PREFETCH_BYTES);
        VECTOR center = SET1(centers[k]);
        VECTOR first = SUB(masked ? MASKLOAD(values, mask0) : LOAD(values), center);
        VECTOR second = SUB(masked ? MASKLOAD(values + LANES, mask1) : LOAD(values + LANES), center);
        const SCALAR *coefficients = panel + k * WP_ROWS;
        for (int row = 0; row < WP_ROWS; row++) {
            VECTOR coefficient = SET1(coefficients[row]);
            sums[row][0] = FMA(coefficient, first, sums[row][0]);
            sums[row][1] = FMA(coefficient, second, sums[row][1]);
        }
    }
    for (int row = 0; row < WP_ROWS && row < row_count; row++) {
        SCALAR *target = output + row * output_stride + sample;
        if (masked) {
            MASKSTORE(target, mask0, sums[row][0]);
            MASKSTORE(target + LANES, mask1, sums[row][1]);
        } else if (streaming && ((uintptr_t)target & 31) == 0) {
            STREAM(target, sums[row][0]);
            STREAM(target + LANES, sums[row][1]);
        } else {
            STORE(target, sums[row][0]);
            STORE(target + LANES, sums[row][1]);
        }
    }
}

WP_TARGET void NAME(bn_whitening_pack)(
    ptrdiff_t rows, ptrdiff_t first_depth, const SCALAR *first, ptrdiff_t second_depth, const SCALAR *second,
    SCALAR *packed)
{
    ptrdiff_t depth = first_depth + second_depth;
    ptrdiff_t blocks = (rows + WP_ROWS - 1) / WP_ROWS;
    for (ptrdiff_t block = 0; block < blocks; block++) {
        for (ptrdiff_t k = 0; k < depth; k++) {
            for (ptrdiff_t offset = 0; offset < WP_ROWS; offset++) {
                ptrdiff_t row = block * WP_ROWS + offset;
                SCALAR value = 0;
                if (row < rows) {
                    value = k < first_depth ? first[row * first_depth + k] : second[row * second_depth + k - first_depth];
                }
                packed[(block * depth + k) * WP_ROWS + offset] = value;
            }
        }
    }
}

WP_TARGET void NAME(bn_whitening_combine)(
    ptrdiff_t rows, ptrdiff_t depth, ptrdiff_t count, const SCALAR *packed,
    const SCALAR *first_source, const SCALAR *second_source, ptrdiff_t first_depth, ptrdiff_t source_stride,
    const SCALAR *centers, const SCALAR *shift, SCALAR *output, ptrdiff_t output_stride, int streaming)
{
    const SCALAR *sources[BN_WHITENING_MAXIMUM_DEPTH];
    for (ptrdiff_t k = 0; k < depth; k++) {
        sources[k] = k < first_depth ? first_source + k * source_stride : second_source + (k - first_depth) * source_stride;
    }
    ptrdiff_t blocks = (rows + WP_ROWS - 1) / WP_ROWS;
    ptrdiff_t tile = 2 * LANES;
    // A masked tile first, so that every whole tile of the output (and of the sources where they share
    // its alignment) is one 64-byte cache line, not parts of two: on a Swift array (16 bytes past a
    // 32-byte boundary) the unaligned tiles took 20-30% longer (docs/BENCHMARK_NOTES.md).
    ptrdiff_t head = NAME(alignment_head)(output, count, 64);
    if (head > 0) {
        MASK mask0 = MASKFOR(head), mask1 = MASKFOR(head - LANES);
        for (ptrdiff_t block = 0; block < blocks; block++) {
            ptrdiff_t row = block * WP_ROWS;
            NAME(combine_tile)(
                depth, packed + block * WP_ROWS * depth, sources, centers, 0, shift + row, rows - row,
                output + row * output_stride, output_stride, 1, mask0, mask1, 0, 0);
        }
    }
    ptrdiff_t whole = head + (count - head) - (count - head) % tile;
    MASK none = MASKFOR(0);
    for (ptrdiff_t sample = head; sample < whole; sample += tile) {
        for (ptrdiff_t block = 0; block < blocks; block++) {
            ptrdiff_t row = block * WP_ROWS;
            // The first block's pass over the sources prefetches them for the next tiles.
            NAME(combine_tile)(
                depth, packed + block * WP_ROWS * depth, sources, centers, sample, shift + row, rows - row,
                output + row * output_stride, output_stride, 0, none, none, block == 0, streaming);
        }
    }
    if (whole < count) {
        ptrdiff_t rest = count - whole;
        MASK mask0 = MASKFOR(rest), mask1 = MASKFOR(rest - LANES);
        for (ptrdiff_t block = 0; block < blocks; block++) {
            ptrdiff_t row = block * WP_ROWS;
            NAME(combine_tile)(
                depth, packed + block * WP_ROWS * depth, sources, centers, whole, shift + row, rows - row,
                output + row * output_stride, output_stride, 1, mask0, mask1, 0, 0);
        }
    }
}

// MARK: - Row products

/// `product[i][j] += Σ_s a_i[s] · b_j[s]` for `i < a_rows` and `j` in `first_column ..< b_rows`
/// (`j >= i` only when `upper`), over `count` samples, `a` rows `a_stride` apart, `b` rows `b_stride` apart.
/// Tiles of 3 `a` rows by 4 `b` rows, one FMA per term into `LANES` partial sums (lane `l` takes the samples
/// `s ≡ l` modulo `LANES`), added across lanes at the end: the result does not depend on the addresses.
WP_INLINE SCALAR NAME(lane_sum)(VECTOR value) {
    SCALAR lanes[LANES];
    STORE(lanes, value);
    SCALAR total = 0;
    for (int lane = 0; lane < LANES; lane++) total += lanes[lane];
    return total;
}

/// One `LANES`-sample step of a products tile with `used` rows of `a` (a constant where it is inlined; only
/// the lanes of `mask` when `masked`, the others add 0).
WP_INLINE void NAME(products_step)(
    const SCALAR *const *a_rows, int used, const SCALAR *const *b_rows, ptrdiff_t sample, int masked, MASK mask,
    VECTOR sums[3][4])
{
    VECTOR a[3];
    for (int i = 0; i < used; i++) a[i] = masked ? MASKLOAD(a_rows[i] + sample, mask) : LOAD(a_rows[i] + sample);
    for (int j = 0; j < 4; j++) {
        VECTOR value = masked ? MASKLOAD(b_rows[j] + sample, mask) : LOAD(b_rows[j] + sample);
        for (int i = 0; i < used; i++) sums[i][j] = FMA(a[i], value, sums[i][j]);
    }
}

/// A tile of `used` (1 ... 3, a constant where it is inlined) rows of `a` by 4 rows of `b` (`b_count` of
/// them real; the others repeat the first and are not stored).
WP_INLINE void NAME(products_tile)(
    const SCALAR *a, ptrdiff_t a_stride, int used, const SCALAR *b, ptrdiff_t b_stride, ptrdiff_t b_count,
    ptrdiff_t count, SCALAR *product, ptrdiff_t product_stride, ptrdiff_t first_a_row, ptrdiff_t first_b_row, int upper)
{
    VECTOR sums[3][4];
    for (int i = 0; i < used; i++)
        for (int j = 0; j < 4; j++) sums[i][j] = SET1(0);
    const SCALAR *a_rows[3], *b_rows[4];
    for (int i = 0; i < used; i++) a_rows[i] = a + i * a_stride;
    for (int j = 0; j < 4; j++) b_rows[j] = b + (j < b_count ? j : 0) * b_stride;
    // Lanes by sample index from the first sample, so that the sums do not depend on the rows' addresses
    // (no alignment head; the callers align their scratch rows); a masked step for the tail.
    ptrdiff_t whole = count - count % LANES;
    for (ptrdiff_t sample = 0; sample < whole; sample += LANES) {
        NAME(products_step)(a_rows, used, b_rows, sample, 0, MASKFOR(0), sums);
    }
    if (whole < count) NAME(products_step)(a_rows, used, b_rows, whole, 1, MASKFOR(count - whole), sums);
    for (int i = 0; i < used; i++) {
        SCALAR totals[4];
        SUM4(sums[i][0], sums[i][1], sums[i][2], sums[i][3], totals);
        for (int j = 0; j < 4 && j < b_count; j++) {
            if (upper && first_b_row + j < first_a_row + i) continue;
            product[i * product_stride + j] += totals[j];
        }
    }
}

WP_TARGET void NAME(bn_whitening_row_products)(
    ptrdiff_t a_rows, const SCALAR *a, ptrdiff_t a_stride, ptrdiff_t b_rows, const SCALAR *b, ptrdiff_t b_stride,
    ptrdiff_t count, int upper, SCALAR *product, ptrdiff_t product_stride)
{
    for (ptrdiff_t i = 0; i < a_rows; i += 3) {
        // With `upper`, the tiles wholly below the diagonal are skipped.
        ptrdiff_t first_j = upper ? i - i % 4 : 0;
        ptrdiff_t left = a_rows - i;
        for (ptrdiff_t j = first_j; j < b_rows; j += 4) {
            const SCALAR *a_block = a + i * a_stride, *b_block = b + j * b_stride;
            SCALAR *target = product + i * product_stride + j;
            // The last block of one or two rows gets its own tile: no row computed for nothing.
            if (left >= 3) {
                NAME(products_tile)(a_block, a_stride, 3, b_block, b_stride, b_rows - j, count, target, product_stride, i, j, upper);
            } else if (left == 2) {
                NAME(products_tile)(a_block, a_stride, 2, b_block, b_stride, b_rows - j, count, target, product_stride, i, j, upper);
            } else {
                NAME(products_tile)(a_block, a_stride, 1, b_block, b_stride, b_rows - j, count, target, product_stride, i, j, upper);
            }
        }
    }
}

/// `sums[i] += Σ_s values_i[s]` for `rows` rows `stride` apart, in `LANES` partial sums.
WP_TARGET void NAME(bn_whitening_row_sums)(
    ptrdiff_t rows, const SCALAR *values, ptrdiff_t stride, ptrdiff_t count, SCALAR *sums, ptrdiff_t sums_stride)
{
    ptrdiff_t whole = count - count % LANES;
    for (ptrdiff_t row = 0; row < rows; row++) {
        const SCALAR *line = values + row * stride;
        VECTOR total = SET1(0);
        for (ptrdiff_t sample = 0; sample < whole; sample += LANES) total = ADD(total, LOAD(line + sample));
        if (whole < count) total = ADD(total, MASKLOAD(line + whole, MASKFOR(count - whole)));
        sums[row * sums_stride] += NAME(lane_sum)(total);
    }
}

// MARK: - Centered copy

/// `target_r[s] = source_r[s] - centers[r]` for `r < rows`, `s < count` (rows `source_stride` and
/// `target_stride` apart): the same rounding as the Swift loop, one subtraction per value. Row `r + 2`
/// is prefetched while row `r` is copied: a chunk's rows are short runs (a few KiB) in as many places,
/// and the hardware prefetcher only finds each one after several misses.
WP_TARGET void NAME(bn_whitening_centered_copy)(
    ptrdiff_t rows, const SCALAR *source, ptrdiff_t source_stride, ptrdiff_t count, const SCALAR *centers,
    SCALAR *target, ptrdiff_t target_stride)
{
    ptrdiff_t whole = count - count % LANES;
    for (ptrdiff_t row = 0; row < rows; row++) {
        const SCALAR *from = source + row * source_stride;
        const char *ahead = row + 2 < rows ? (const char *)(from + 2 * source_stride) : NULL;
        SCALAR *to = target + row * target_stride;
        VECTOR center = SET1(centers[row]);
        ptrdiff_t sample = 0;
        for (; sample < whole; sample += LANES) {
            if (ahead && sample % (64 / (ptrdiff_t)sizeof(SCALAR)) == 0) __builtin_prefetch(ahead + sample * sizeof(SCALAR));
            STORE(to + sample, SUB(LOAD(from + sample), center));
        }
        for (; sample < count; sample++) to[sample] = from[sample] - centers[row];
    }
}

/// `target_s[c] = source_s[c] - centers[c]` for `s < count`, `c < columns` (sample-major rows `source_stride`
/// and `target_stride` apart): the same subtraction as the Swift loop, `LANES` columns at a time.
WP_TARGET void NAME(bn_whitening_centered_samples)(
    ptrdiff_t count, const SCALAR *source, ptrdiff_t source_stride, ptrdiff_t columns, const SCALAR *centers,
    SCALAR *target, ptrdiff_t target_stride)
{
    ptrdiff_t whole = columns - columns % LANES;
    MASK tail = MASKFOR(columns - whole);
    for (ptrdiff_t sample = 0; sample < count; sample++) {
        const SCALAR *from = source + sample * source_stride;
        SCALAR *to = target + sample * target_stride;
        for (ptrdiff_t column = 0; column < whole; column += LANES) {
            STORE(to + column, SUB(LOAD(from + column), LOAD(centers + column)));
        }
        if (whole < columns) {
            MASKSTORE(to + whole, tail, SUB(MASKLOAD(from + whole, tail), MASKLOAD(centers + whole, tail)));
        }
    }
}

// MARK: - Combine, sample-major

/// `used` (1 or `WP_ROW_SAMPLES`, a constant where it is inlined) samples from `sample`, output channels
/// `first ..< first + 2·LANES` (`mask0`/`mask1` select the real ones): `shift[i] + Σ_k packed[k][i] · v_k(s)`,
/// with `v_k(s)` the `k`-th value of sample `s` (the first source's row for `k < first_depth`, then the
/// second's), summed in `k` order with one FMA per term.
WP_INLINE void NAME(combine_rows_tile)(
    int used, ptrdiff_t depth, ptrdiff_t first_depth, ptrdiff_t padded, const SCALAR *packed, ptrdiff_t first,
    const SCALAR *first_source, ptrdiff_t first_stride, const SCALAR *second_source, ptrdiff_t second_stride,
    ptrdiff_t sample, const SCALAR *shift, SCALAR *output, ptrdiff_t output_stride, MASK mask0, MASK mask1, int whole)
{
    VECTOR sums[WP_ROW_SAMPLES][2];
    VECTOR shift0 = LOAD(shift + first), shift1 = LOAD(shift + first + LANES);
    for (int row = 0; row < used; row++) {
        sums[row][0] = shift0;
        sums[row][1] = shift1;
    }
    const SCALAR *rows_first = first_source + sample * first_stride;
    for (ptrdiff_t k = 0; k < first_depth; k++) {
        VECTOR weight0 = LOAD(packed + k * padded + first), weight1 = LOAD(packed + k * padded + first + LANES);
        for (int row = 0; row < used; row++) {
            VECTOR value = SET1(rows_first[row * first_stride + k]);
            sums[row][0] = FMA(value, weight0, sums[row][0]);
            sums[row][1] = FMA(value, weight1, sums[row][1]);
        }
    }
    const SCALAR *rows_second = second_source + sample * second_stride;
    for (ptrdiff_t k = first_depth; k < depth; k++) {
        VECTOR weight0 = LOAD(packed + k * padded + first), weight1 = LOAD(packed + k * padded + first + LANES);
        for (int row = 0; row < used; row++) {
            VECTOR value = SET1(rows_second[row * second_stride + k - first_depth]);
            sums[row][0] = FMA(value, weight0, sums[row][0]);
            sums[row][1] = FMA(value, weight1, sums[row][1]);
        }
    }
    for (int row = 0; row < used; row++) {
        SCALAR *target = output + (sample + row) * output_stride + first;
        if (whole) {
            STORE(target, sums[row][0]);
            STORE(target + LANES, sums[row][1]);
        } else {
            MASKSTORE(target, mask0, sums[row][0]);
            MASKSTORE(target + LANES, mask1, sums[row][1]);
        }
    }
}

/// Packs `[first | second]` (`rows × first_depth`, `rows × second_depth`, row-major) transposed, rows padded
/// with zeros to a multiple of `2·LANES`: `packed[k · padded + i] = M[i][k]`.
WP_TARGET void NAME(bn_whitening_pack_rows)(
    ptrdiff_t rows, ptrdiff_t first_depth, const SCALAR *first, ptrdiff_t second_depth, const SCALAR *second,
    SCALAR *packed)
{
    ptrdiff_t padded = (rows + 2 * LANES - 1) / (2 * LANES) * (2 * LANES);
    for (ptrdiff_t k = 0; k < first_depth + second_depth; k++) {
        for (ptrdiff_t i = 0; i < padded; i++) {
            SCALAR value = 0;
            if (i < rows) value = k < first_depth ? first[i * first_depth + k] : second[i * second_depth + k - first_depth];
            packed[k * padded + i] = value;
        }
    }
}

WP_TARGET void NAME(bn_whitening_combine_rows)(
    ptrdiff_t rows, ptrdiff_t depth, ptrdiff_t count, const SCALAR *packed, const SCALAR *padded_shift,
    const SCALAR *first_source, ptrdiff_t first_stride, const SCALAR *second_source, ptrdiff_t second_stride,
    ptrdiff_t first_depth, SCALAR *output, ptrdiff_t output_stride)
{
    ptrdiff_t padded = (rows + 2 * LANES - 1) / (2 * LANES) * (2 * LANES);
    ptrdiff_t whole_samples = count - count % WP_ROW_SAMPLES;
    for (ptrdiff_t first = 0; first < rows; first += 2 * LANES) {
        int whole = first + 2 * LANES <= rows;
        MASK mask0 = MASKFOR(rows - first), mask1 = MASKFOR(rows - first - LANES);
        for (ptrdiff_t sample = 0; sample < whole_samples; sample += WP_ROW_SAMPLES) {
            NAME(combine_rows_tile)(WP_ROW_SAMPLES, depth, first_depth, padded, packed, first, first_source,
                first_stride, second_source, second_stride, sample, padded_shift, output, output_stride, mask0, mask1,
                whole);
        }
        for (ptrdiff_t sample = whole_samples; sample < count; sample++) {
            NAME(combine_rows_tile)(1, depth, first_depth, padded, packed, first, first_source, first_stride,
                second_source, second_stride, sample, padded_shift, output, output_stride, mask0, mask1, whole);
        }
    }
}
