// The channels-last loops of the fused kernels, compiled for AVX2 (WideLoops.c includes this file once
// per precision, with SCALAR, VECTOR, MASK and NAME defined). Each function is the exact counterpart of a
// Swift loop in Kernels/Fused (named in its comment): the same operations on the same 16-lane vectors in
// the same order, no FMA (the target enables "avx2" only and FP contraction is off), so the results are
// bit-identical to the Swift loops, which stay the reference and the code for every other CPU.
// Not a module header (it is outside include/), so Swift never sees it.

// WIDE_INLINE, WIDE_LOAD, WIDE_STORE and WIDE_LANES are shared with RunLoopsTemplate.h; WideLoops.c
// undefines them after both.
#define WIDE_INLINE static inline __attribute__((always_inline))
// Loads and stores of any vector type `V` (unaligned), for the rows' 8- and 4-lane head and tail steps.
#define WIDE_LOAD(V, pointer) ({ V wide_value_; __builtin_memcpy(&wide_value_, (pointer), sizeof wide_value_); wide_value_; })
#define WIDE_STORE(V, pointer, value) do { V wide_value_ = (value); __builtin_memcpy((pointer), &wide_value_, sizeof wide_value_); } while (0)
#define WIDE_LANES 16

WIDE_INLINE VECTOR NAME(load)(const SCALAR *pointer) {
    VECTOR value;
    __builtin_memcpy(&value, pointer, sizeof value);
    return value;
}

/// `value`, which the optimizer may not look through (a volatile copy; for loop-invariant values, outside
/// loops): keeps a select between `k · 0` and `k · dy` from being folded back into `k · select(0, dy)`.
WIDE_INLINE VECTOR NAME(opaque)(VECTOR value) {
    volatile VECTOR copy = value;
    return copy;
}

WIDE_INLINE void NAME(store)(SCALAR *pointer, VECTOR value, int streaming) {
    if (streaming) {
        __builtin_nontemporal_store(value, (VECTOR *)pointer);
    } else {
        __builtin_memcpy(pointer, &value, sizeof value);
    }
}

/// `value` with the lanes where `condition <= bound` zeroed (`Fused.zeroWhereAtMost`).
WIDE_INLINE VECTOR NAME(zero_where_at_most)(VECTOR value, VECTOR condition, VECTOR bound) {
    return (VECTOR)((MASK)value & ~(condition <= bound));
}

/// `value` with the lanes `< 0` zeroed (`Fused.zeroWhereNegative`: NaN and -0 stay).
WIDE_INLINE VECTOR NAME(zero_where_negative)(VECTOR value) {
    return (VECTOR)((MASK)value & ~(value < 0));
}

/// How many values to take one by one from `pointer` so that the rest starts on a multiple of `bytes` (a
/// power of two), at most `count`. Numerically free: every loop here computes each value (or each
/// channel's sum) the same way in a lane as in scalar code.
WIDE_INLINE ptrdiff_t NAME(head_to)(const SCALAR *pointer, ptrdiff_t count, uintptr_t bytes) {
    ptrdiff_t head = (ptrdiff_t)((-(uintptr_t)pointer) & (bytes - 1)) / (ptrdiff_t)sizeof(SCALAR);
    return head < count ? head : count;
}

/// The head to a 32-byte boundary: a 256-bit load that crosses a cache line costs two.
WIDE_INLINE ptrdiff_t NAME(alignment_head)(const SCALAR *pointer, ptrdiff_t count) {
    return NAME(head_to)(pointer, count, 32);
}

/// The head to a streaming store's alignment (16 values; `Fused.streamingHead`).
WIDE_INLINE ptrdiff_t NAME(streaming_head)(const SCALAR *pointer, ptrdiff_t count) {
    return NAME(head_to)(pointer, count, WIDE_LANES * sizeof(SCALAR));
}

/// The head to a 64-byte cache line: a 512-bit load that crosses one costs two.
WIDE_INLINE ptrdiff_t NAME(line_head)(const SCALAR *pointer, ptrdiff_t count) {
    return NAME(head_to)(pointer, count, 64);
}

/// The channel after `channel`, for the values taken one by one.
WIDE_INLINE ptrdiff_t NAME(following_channel)(ptrdiff_t channel, ptrdiff_t channel_count) {
    return channel + 1 == channel_count ? 0 : channel + 1;
}

/// `Fused.nextChannel`: the channel 16 values after `channel`.
WIDE_INLINE ptrdiff_t NAME(next_channel)(ptrdiff_t channel, ptrdiff_t channel_count) {
    ptrdiff_t next = channel + WIDE_LANES;
    return next < channel_count ? next : (channel_count >= WIDE_LANES ? next - channel_count : next % channel_count);
}

// MARK: - Gradient filters

/// The filters: `dy` itself; `dy` masked where `y <= 0` and stored to `masked_gradient`; the same mask
/// with the store left to `NAME(bn_wide_masked_gradient)` (`masked_gradient` null: the caller streams it
/// after the sums); `dy` masked where `x - center <= bound`.
enum {
    NAME(unfiltered) = 0, NAME(forward_output_mask) = 1, NAME(bounded_mask) = 2, NAME(forward_output_mask_unstored) = 3
};

/// Whether `kind` masks `dy` by the forward output (stored or not).
WIDE_INLINE int NAME(reads_forward_output)(int kind) {
    return kind == NAME(forward_output_mask) || kind == NAME(forward_output_mask_unstored);
}

WIDE_INLINE SCALAR NAME(filter)(
    int kind, SCALAR dy, SCALAR centered, ptrdiff_t index, ptrdiff_t channel, const SCALAR *forward_output,
    SCALAR *masked_gradient, const SCALAR *bound) {
    if (NAME(reads_forward_output)(kind)) {
        SCALAR dz = forward_output[index] <= 0 ? 0 : dy;
        if (kind == NAME(forward_output_mask)) masked_gradient[index] = dz;
        return dz;
    }
    if (kind == NAME(bounded_mask)) return centered <= bound[channel] ? 0 : dy;
    return dy;
}

WIDE_INLINE VECTOR NAME(filter_vector)(
    int kind, VECTOR dy, VECTOR centered, ptrdiff_t index, ptrdiff_t channel, const SCALAR *forward_output,
    SCALAR *masked_gradient, const SCALAR *bound) {
    if (NAME(reads_forward_output)(kind)) {
        VECTOR dz = NAME(zero_where_at_most)(dy, NAME(load)(forward_output + index), (VECTOR)0);
        if (kind == NAME(forward_output_mask)) NAME(store)(masked_gradient + index, dz, 0);
        return dz;
    }
    if (kind == NAME(bounded_mask)) return NAME(zero_where_at_most)(dy, centered, NAME(load)(bound + channel));
    return dy;
}

/// `Fused.accumulateRows`' flush: `first[c] += (double)first_accumulator[c]` and likewise `second`, for
/// `c < count`. The conversions are exact and each add rounds once, as in the Swift loop, so the sums are
/// the same bits; four channels per instruction where the Swift loop (baseline SSE2) converts two.
WIDE_TARGET void NAME(bn_wide_flush_accumulators)(
    const SCALAR *first_accumulator, const SCALAR *second_accumulator, double *first, double *second,
    ptrdiff_t count) {
    typedef SCALAR scalar4 __attribute__((ext_vector_type(4)));
    typedef double double4 __attribute__((ext_vector_type(4)));
    ptrdiff_t channel = 0;
    for (; channel + 4 <= count; channel += 4) {
        WIDE_STORE(double4, first + channel, WIDE_LOAD(double4, first + channel)
                   + __builtin_convertvector(WIDE_LOAD(scalar4, first_accumulator + channel), double4));
        WIDE_STORE(double4, second + channel, WIDE_LOAD(double4, second + channel)
                   + __builtin_convertvector(WIDE_LOAD(scalar4, second_accumulator + channel), double4));
    }
    for (; channel < count; channel++) {
        first[channel] += (double)first_accumulator[channel];
        second[channel] += (double)second_accumulator[channel];
    }
}

// The gradient sums' rows walked one by one read x and dy beside five per-channel loads and stores, and
// the hardware prefetch did not keep up when the tensors stream from memory: 4096x1024 read its 33.5 MB
// at 1.14-1.63 ms (Zen 5), channels-first runs of the same bytes 0.68-0.80. A prefetch of the data 8 KiB
// ahead brings it to 0.66-0.83 (512 channels: 1.57-1.95 → 0.73-0.75), but costs up to 27% in cache
// (256x1024), so the caller asks for it only for tensors beyond the cache; row blocks do not take it
// (slower with it). The register rows (below) take it too, for tensors beyond the L2 (the caller's
// `Fused.rowPrefetch`): without it, their masked sums (the ReLU backward's) read 64x56x56x128 at
// 8.1-12.2 ms against 5.5-7.6 unmasked; with it at 5.4-6.5.
// docs/BENCHMARK_NOTES.md, "Prefetch in the row sums" and "Prefetch in the register rows".
#define WIDE_PREFETCH_BYTES 8192

/// Prefetches, for reading, the cache lines of the vector WIDE_PREFETCH_BYTES past `pointer` (when
/// `prefetch`; prefetches do not fault, so places past an array's end are harmless).
WIDE_INLINE void NAME(prefetch_ahead)(const SCALAR *pointer, const int prefetch) {
    for (size_t byte = 0; prefetch && byte < sizeof(VECTOR); byte += 64) {
        __builtin_prefetch((const char *)pointer + WIDE_PREFETCH_BYTES + byte, 0, 3);
    }
}

// MARK: - Register rows

// Rows of `16 · COUNT` values (COUNT ≤ WIDE_REGISTER_VECTORS: 512 bytes) with every per-channel
// accumulator in a register for all the rows of a call, on CPUs with AVX-512's 32 vector registers; the
// AVX2 row loops load and store two accumulators beside every data vector. Each channel's sums take the
// same additions in the same row order as in the row loops, so the results are the same bits. The
// per-channel operands (shift, center, bound) are read from memory (L1) beside the data.

/// `NAME(bn_wide_shifted_sums_rows)` for rows of `16 · count` values, accumulators in registers; with
/// `prefetch`, each vector's data WIDE_PREFETCH_BYTES ahead is prefetched.
WIDE_INLINE void NAME(shifted_sums_registers)(
    const SCALAR *values, ptrdiff_t rows, const int count, const SCALAR *shift, SCALAR *sums, SCALAR *squares,
    const int prefetch) {
    VECTOR sum[WIDE_REGISTER_VECTORS], square[WIDE_REGISTER_VECTORS];
    for (int v = 0; v < count; v++) {
        sum[v] = NAME(load)(sums + WIDE_LANES * v);
        square[v] = NAME(load)(squares + WIDE_LANES * v);
    }
    for (ptrdiff_t row = 0; row < rows; row++) {
        const SCALAR *row_values = values + row * WIDE_LANES * count;
        for (int v = 0; v < count; v++) {
            NAME(prefetch_ahead)(row_values + WIDE_LANES * v, prefetch);
            VECTOR d = NAME(load)(row_values + WIDE_LANES * v) - NAME(load)(shift + WIDE_LANES * v);
            sum[v] = sum[v] + d;
            square[v] = square[v] + d * d;
        }
    }
    for (int v = 0; v < count; v++) {
        NAME(store)(sums + WIDE_LANES * v, sum[v], 0);
        NAME(store)(squares + WIDE_LANES * v, square[v], 0);
    }
}

/// `NAME(gradient_sums_body)` for `16 · count` channels of rows `stride` values apart (the whole row for
/// the register rows, one tile of a wider row for `NAME(gradient_sums_tiles)`), accumulators in registers;
/// with `prefetch`, each vector's data WIDE_PREFETCH_BYTES ahead is prefetched.
WIDE_INLINE void NAME(gradient_sums_registers)(
    const int kind, const SCALAR *input, const SCALAR *gradient, ptrdiff_t rows, ptrdiff_t stride, const int count,
    const SCALAR *center, const SCALAR *forward_output, SCALAR *masked_gradient, const SCALAR *bound,
    SCALAR *sum_gradient, SCALAR *sum_product, const int prefetch) {
    VECTOR gradient_sum[WIDE_REGISTER_VECTORS], product_sum[WIDE_REGISTER_VECTORS];
    for (int v = 0; v < count; v++) {
        gradient_sum[v] = NAME(load)(sum_gradient + WIDE_LANES * v);
        product_sum[v] = NAME(load)(sum_product + WIDE_LANES * v);
    }
    for (ptrdiff_t row = 0; row < rows; row++) {
        ptrdiff_t offset = row * stride;
        for (int v = 0; v < count; v++) {
            ptrdiff_t index = offset + WIDE_LANES * v;
            NAME(prefetch_ahead)(input + index, prefetch);
            NAME(prefetch_ahead)(gradient + index, prefetch);
            if (NAME(reads_forward_output)(kind)) NAME(prefetch_ahead)(forward_output + index, prefetch);
            VECTOR centered = NAME(load)(input + index) - NAME(load)(center + WIDE_LANES * v);
            VECTOR dz = NAME(filter_vector)(kind, NAME(load)(gradient + index), centered, index, WIDE_LANES * v,
                                            forward_output, masked_gradient, bound);
            gradient_sum[v] = gradient_sum[v] + dz;
            product_sum[v] = product_sum[v] + dz * centered;
        }
    }
    for (int v = 0; v < count; v++) {
        NAME(store)(sum_gradient + WIDE_LANES * v, gradient_sum[v], 0);
        NAME(store)(sum_product + WIDE_LANES * v, product_sum[v], 0);
    }
}

// One function per vector count and (for the backward) filter and prefetch choice, so that the
// accumulators are registers.
#define WIDE_GRADIENT_SUMS_REGISTERS(COUNT, KIND, PREFETCH)                                                     \
    NAME(gradient_sums_registers)(NAME(KIND), input, gradient, rows, stride, COUNT, center, forward_output,     \
                                  masked_gradient, bound, sum_gradient, sum_product, PREFETCH)
#define WIDE_REGISTER_FUNCTIONS(COUNT)                                                                          \
    WIDE_REGISTERS_TARGET static void NAME(shifted_sums_registers_##COUNT)(                                     \
        const SCALAR *values, ptrdiff_t rows, const SCALAR *shift, SCALAR *sums, SCALAR *squares,              \
        int prefetch) {                                                                                         \
        if (prefetch) NAME(shifted_sums_registers)(values, rows, COUNT, shift, sums, squares, 1);               \
        else NAME(shifted_sums_registers)(values, rows, COUNT, shift, sums, squares, 0);                        \
    }                                                                                                           \
    WIDE_REGISTERS_TARGET static void NAME(gradient_sums_registers_##COUNT)(                                    \
        const SCALAR *input, const SCALAR *gradient, ptrdiff_t rows, ptrdiff_t stride, const SCALAR *center,    \
        const SCALAR *forward_output, SCALAR *masked_gradient, const SCALAR *bound, SCALAR *sum_gradient,      \
        SCALAR *sum_product, int prefetch) {                                                                    \
        if (forward_output && masked_gradient) {                                                                \
            if (prefetch) WIDE_GRADIENT_SUMS_REGISTERS(COUNT, forward_output_mask, 1);                          \
            else WIDE_GRADIENT_SUMS_REGISTERS(COUNT, forward_output_mask, 0);                                   \
        } else if (forward_output) {                                                                            \
            if (prefetch) WIDE_GRADIENT_SUMS_REGISTERS(COUNT, forward_output_mask_unstored, 1);                 \
            else WIDE_GRADIENT_SUMS_REGISTERS(COUNT, forward_output_mask_unstored, 0);                          \
        } else if (bound) {                                                                                     \
            if (prefetch) WIDE_GRADIENT_SUMS_REGISTERS(COUNT, bounded_mask, 1);                                 \
            else WIDE_GRADIENT_SUMS_REGISTERS(COUNT, bounded_mask, 0);                                          \
        } else {                                                                                                \
            if (prefetch) WIDE_GRADIENT_SUMS_REGISTERS(COUNT, unfiltered, 1);                                   \
            else WIDE_GRADIENT_SUMS_REGISTERS(COUNT, unfiltered, 0);                                            \
        }                                                                                                       \
    }
// `EACH(count)` for every vector count the register rows take in this precision.
#if WIDE_REGISTER_VECTORS > 4
#define WIDE_REGISTER_COUNTS(EACH) EACH(1) EACH(2) EACH(3) EACH(4) EACH(5) EACH(6) EACH(7) EACH(8)
#else
#define WIDE_REGISTER_COUNTS(EACH) EACH(1) EACH(2) EACH(3) EACH(4)
#endif
WIDE_REGISTER_COUNTS(WIDE_REGISTER_FUNCTIONS)
#undef WIDE_REGISTER_FUNCTIONS
#undef WIDE_GRADIENT_SUMS_REGISTERS

/// How many 16-lane vectors a row of `channel_count` values is, when that is 1 to `most` and this CPU
/// keeps them in AVX-512 registers, else 0.
WIDE_INLINE int NAME(register_vectors)(ptrdiff_t channel_count, int most) {
    if (!wide_register_rows_available() || channel_count % WIDE_LANES != 0) return 0;
    ptrdiff_t vectors = channel_count / WIDE_LANES;
    return vectors >= 1 && vectors <= most ? (int)vectors : 0;
}

/// How many 16-lane vectors a row of `channel_count` values is when the register rows take it, else 0.
WIDE_INLINE int NAME(register_row_vectors)(ptrdiff_t channel_count) {
    return NAME(register_vectors)(channel_count, WIDE_REGISTER_VECTORS);
}

// `EACH(count)` for every vector count the elementwise register loops with four or five coefficient
// arrays take (half the register rows' counts).
#if WIDE_REGISTER_VECTORS > 4
#define WIDE_HALF_REGISTER_COUNTS(EACH) EACH(1) EACH(2) EACH(3) EACH(4)
#else
#define WIDE_HALF_REGISTER_COUNTS(EACH) EACH(1) EACH(2)
#endif

// MARK: - Row blocks

// The row loops read per-channel arrays (coefficients, accumulators) beside the rows they stream. While
// a row of each fits in the 32 KiB L1 together, the arrays stay there from one row to the next; beyond
// that every row evicts and reloads them, and the 2,048-channel loops ran at 0.6-0.7x the speed of the
// same loops at 512 channels on the same bytes (docs/BENCHMARK_NOTES.md, "Row blocks"). So those rows
// are walked WIDE_BLOCK_ROWS rows at a time: each per-channel vector is loaded (and an accumulator
// stored) once for the block's rows. Each value takes the same operations, and each channel's sums take
// their rows in the same order, so the results are the same bits as row by row. Rows below the limit
// stay row by row: there a block of four rows was up to 1.4x slower or no faster on Zen 4, except that
// the moments' shifted sums take blocks at every width since Zen 5 read them 1.3-2x faster so. The
// normalize loop walks most wide rows in channel tiles instead (below).
#define WIDE_BLOCK_ROWS 4

/// Whether every row of `channel_count` values starts at the same place in a cache line as the first
/// (rows of whole 64-byte lines).
WIDE_INLINE int NAME(whole_lines)(ptrdiff_t channel_count) {
    return (size_t)channel_count * sizeof(SCALAR) % 64 == 0;
}

/// Whether every row of `channel_count` values starts at the same place in a cache line as the first
/// (`NAME(whole_lines)`), or the CPU lacks AVX-512. A block aligns its vectors to its first row; with 64-byte vectors every vector of
/// a row that starts elsewhere in its line splits two lines (a load and a store of `y`). On the Intel host
/// the normalize of such rows ran 1.2-1.4x faster as one aligned stream than in blocks (2,050-4,099
/// channels); the backward's blocks, which store only `dx`, were no slower than a stream, and keep them
/// (docs/BENCHMARK_NOTES.md, "Wide rows that are not whole cache lines"). Not measured on AVX2-only CPUs
/// (32-byte vectors), which keep the blocks.
WIDE_INLINE int NAME(rows_keep_alignment)(ptrdiff_t channel_count) {
    return !wide_register_rows_available() || NAME(whole_lines)(channel_count);
}

/// Whether the loops walk rows of `channel_count` values in blocks of WIDE_BLOCK_ROWS: when a row of
/// each of the `touched` arrays a loop walks (per-channel arrays read or accumulated, data read or
/// written) no longer fits in a 32 KiB L1.
WIDE_INLINE int NAME(blocks_rows)(ptrdiff_t channel_count, int touched) {
    return (size_t)channel_count * sizeof(SCALAR) * (size_t)touched >= 32768;
}

/// Rows from the first that the row blocks take (a multiple of WIDE_BLOCK_ROWS, or 0 when `blocked` is 0).
WIDE_INLINE ptrdiff_t NAME(block_rows_count)(ptrdiff_t rows, int blocked) {
    return blocked ? rows - rows % WIDE_BLOCK_ROWS : 0;
}

/// Whether the elementwise loops (normalize, dx step) may walk wide rows in blocks with `streaming` stores.
/// Streamed blocks need rows of whole vectors, so that every row's vectors are aligned. And they store one
/// row's vector just before they load the same place of the next row; where rows are a multiple of 4 KiB
/// and the output shares its page offset with an input (as buffers from `malloc` do), that load waits on
/// the store it seems to alias. Zen 3 (AVX2 only) ran such streamed blocks of 2,048-channel rows at
/// 2.4-4x the time of the same rows one by one (the dx step 4.9-5.5 ms against 1.2-1.4; with the output
/// 2 KiB off, 1.1-1.7), and rows one by one were as fast as unaliased blocks; on Zen 5 (AVX-512) the
/// streamed dx step of 2,048 channels ran 1.3x slower row by row than in blocks. So streamed blocks only
/// where the CPU has AVX-512 (docs/BENCHMARK_NOTES.md, "Moments, the dx step and the normalize on an
/// AVX2-only host").
WIDE_INLINE int NAME(streams_blocks)(int streaming, ptrdiff_t channel_count) {
    return !streaming || (channel_count % WIDE_LANES == 0 && wide_register_rows_available());
}

/// Where the row blocks (or tiles) sit in a range of `count` interleaved values from channel
/// `first_channel`: after `*lead` values (to the end of a partial first row), `*rows` whole rows (for
/// blocks, a multiple of WIDE_BLOCK_ROWS, possibly 0; for tiles, all of them).
WIDE_INLINE void NAME(block_range)(
    ptrdiff_t count, ptrdiff_t channel_count, ptrdiff_t first_channel, int tiles, ptrdiff_t *lead, ptrdiff_t *rows) {
    *lead = first_channel == 0 ? 0 : channel_count - first_channel;
    if (*lead > count) *lead = count;
    ptrdiff_t whole = (count - *lead) / channel_count;
    *rows = tiles ? whole : NAME(block_rows_count)(whole, 1);
}

// MARK: - Channel tiles

// On Zen 5, a 2,048-channel row loop that reads three coefficient arrays beside its input and output
// (40 KB a row) ran at 0.5-0.6x the speed of the channels-first loop on the same bytes: the streams evict
// the coefficients from L1 every row. Blocks of rows (above) cut the coefficient loads, not the footprint. So
// the normalize loop walks such rows in tiles of at most WIDE_TILE_BYTES of each array (coefficients and
// rows of a tile then stay in L1), WIDE_TILE_ROWS rows at a time, and prefetches the next tile's input
// and output: without that, each tile's rows start cold, and tiles were slower than whole rows
// (docs/BENCHMARK_NOTES.md, "Channel tiles"). Each value takes the same operations, so the same bits.
#define WIDE_TILE_BYTES 4096
#define WIDE_TILE_ROWS 64

/// Whether the normalize loop walks its wide rows in tiles: when each row starts at the same place in a
/// cache line (whole lines of `channel_count` values; rows that start at different places ran tiles
/// 1.4-1.7x slower than the row blocks: 2,040, 2,056 and 3,000 channels), and either a residual is read
/// or the CPU has AVX-512. On the Zen 5 host (AVX-512, 48 KiB L1) the tiles made every normalize of
/// 2,048-channel rows faster. On the Zen 3 host (AVX2 only, 32 KiB L1) the row blocks were faster without
/// a residual (at 1 thread inference 4-27%, training forward 6-17%, on 2,048- and 4,096-channel `Float`
/// rows; `Double` rows of 1,024 and 1,032 channels 2-31%) and the tiles only with one (the six arrays of a
/// row: inference with add + ReLU up to 15% faster at 2 threads) (docs/BENCHMARK_NOTES.md, "Channel tiles
/// of the channels-last normalize only with a residual on AVX2-only hosts").
/// AVX-512 stands for the host class here, as in `NAME(streams_blocks)`.
WIDE_INLINE int NAME(tiles_rows)(ptrdiff_t channel_count, int residual) {
    return NAME(whole_lines)(channel_count) && (residual || wide_register_rows_available());
}

/// The channels of a tile: `channel_count` in equal tiles of at most WIDE_TILE_BYTES, rounded up to
/// whole vectors (the last tile takes the rest).
WIDE_INLINE ptrdiff_t NAME(tile_width)(ptrdiff_t channel_count) {
    const ptrdiff_t most = WIDE_TILE_BYTES / (ptrdiff_t)sizeof(SCALAR);
    ptrdiff_t tiles = (channel_count + most - 1) / most;
    ptrdiff_t width = (channel_count + tiles - 1) / tiles;
    return (width + WIDE_LANES - 1) / WIDE_LANES * WIDE_LANES;
}

/// The distance, in values, from tile `[tile, tile_end)` of `row` to the same place in the tile walked
/// next: the next row's, the first row's next tile, or (after a group's last tile) the next group's first.
WIDE_INLINE ptrdiff_t NAME(tile_ahead)(
    ptrdiff_t row, ptrdiff_t first_row, ptrdiff_t end_row, ptrdiff_t tile, ptrdiff_t tile_end, ptrdiff_t channel_count) {
    if (row + 1 < end_row) return channel_count;
    if (tile_end < channel_count) return (first_row - row) * channel_count + (tile_end - tile);
    return channel_count - tile;
}

/// Prefetches the cache lines of one vector at each place: the input and the residual (nullable), read,
/// and the output, written. Prefetches do not fault, so places past an array's end are harmless.
WIDE_INLINE void NAME(prefetch_tile)(const SCALAR *input, const SCALAR *residual, SCALAR *output) {
    for (size_t byte = 0; byte < sizeof(VECTOR); byte += 64) {
        __builtin_prefetch((const char *)input + byte, 0, 3);
        if (residual) __builtin_prefetch((const char *)residual + byte, 0, 3);
        __builtin_prefetch((char *)output + byte, 1, 3);
    }
}

// MARK: - Forward

/// `rows` rows (a multiple of `block`) of `NAME(bn_wide_shifted_sums_rows)`, `block` rows at a time; with
/// `prefetch`, each vector's data WIDE_PREFETCH_BYTES ahead is prefetched.
WIDE_INLINE void NAME(shifted_sums_blocks)(
    const SCALAR *values, ptrdiff_t rows, ptrdiff_t channel_count, const SCALAR *shift, SCALAR *sums, SCALAR *squares,
    const int block, const int prefetch) {
    for (ptrdiff_t row = 0; row < rows; row += block) {
        const SCALAR *row_values = values + row * channel_count;
        ptrdiff_t channel = 0, head = NAME(alignment_head)(row_values, channel_count);
#define WIDE_SUMS_STEP(V)                                                                                     \
        do {                                                                                                  \
            V shift_ = WIDE_LOAD(V, shift + channel);                                                         \
            V sum_ = WIDE_LOAD(V, sums + channel), square_ = WIDE_LOAD(V, squares + channel);                 \
            for (int r_ = 0; r_ < block; r_++) {                                                              \
                NAME(prefetch_ahead)(row_values + r_ * channel_count + channel, prefetch);                    \
                V d = WIDE_LOAD(V, row_values + r_ * channel_count + channel) - shift_;                       \
                sum_ = sum_ + d;                                                                              \
                square_ = square_ + d * d;                                                                    \
            }                                                                                                 \
            WIDE_STORE(V, sums + channel, sum_);                                                              \
            WIDE_STORE(V, squares + channel, square_);                                                        \
            channel += (ptrdiff_t)(sizeof(V) / sizeof(SCALAR));                                               \
        } while (0)
        if (head >= 4) WIDE_SUMS_STEP(VECTOR4);
        while (channel < head) WIDE_SUMS_STEP(SCALAR);
        while (channel + WIDE_LANES <= channel_count) WIDE_SUMS_STEP(VECTOR);
        if (channel + 8 <= channel_count) WIDE_SUMS_STEP(VECTOR8);
        if (channel + 4 <= channel_count) WIDE_SUMS_STEP(VECTOR4);
        while (channel < channel_count) WIDE_SUMS_STEP(SCALAR);
#undef WIDE_SUMS_STEP
    }
}

/// `rows` rows of `NAME(bn_wide_shifted_sums_rows)` in blocks of WIDE_BLOCK_ROWS, the last few one by one.
WIDE_INLINE void NAME(shifted_sums_row_blocks)(
    const SCALAR *values, ptrdiff_t rows, ptrdiff_t channel_count, const SCALAR *shift, SCALAR *sums, SCALAR *squares) {
    ptrdiff_t blocked = NAME(block_rows_count)(rows, 1);
    NAME(shifted_sums_blocks)(values, blocked, channel_count, shift, sums, squares, WIDE_BLOCK_ROWS, 0);
    NAME(shifted_sums_blocks)(values + blocked * channel_count, rows - blocked, channel_count, shift, sums, squares, 1,
                              0);
}

/// `rows` rows of `NAME(bn_wide_shifted_sums_rows)` one by one, each vector's data prefetched ahead.
WIDE_INLINE void NAME(shifted_sums_prefetched_rows)(
    const SCALAR *values, ptrdiff_t rows, ptrdiff_t channel_count, const SCALAR *shift, SCALAR *sums, SCALAR *squares) {
    NAME(shifted_sums_blocks)(values, rows, channel_count, shift, sums, squares, 1, 1);
}

/// One visit of `NAME(add_head_rows_body)`'s sums: `visit_rows` rows from `first`.
/// `FusedPasses.addHeadRows`: `sums[j] += (double)values[row · row_length + j]` for `j < count`, the rows
/// in order, and with `squares` (nullable) `squares[j] += value · value` in the
/// same order; with `centers` (nullable; only with `squares`) each value is first `(double)value -
/// centers[j]`. Each sum adds its rows in the Swift loop's order (the conversions are exact, each add or
/// subtraction rounds once; the squares of `float` values are exact in `double`, and FP_CONTRACT is off),
/// so the same bits; eight values per step where the Swift loop (baseline SSE2) converts two. `with_squares`
/// and `with_centers` are constants at each call, so each loop is compiled without the others' work.
WIDE_INLINE void NAME(add_head_rows_visit)(
    const SCALAR *first, ptrdiff_t row_length, int visit_rows, ptrdiff_t count, double *sums, double *squares,
    const double *centers, int with_squares, int with_centers) {
    typedef SCALAR scalar8 __attribute__((ext_vector_type(8)));
    typedef double double8 __attribute__((ext_vector_type(8)));
#define WIDE_HEAD_VALUES(row_values)                                                                          \
    (with_centers ? __builtin_convertvector(WIDE_LOAD(scalar8, (row_values) + position), double8) -            \
                        WIDE_LOAD(double8, centers + position)                                                 \
                  : __builtin_convertvector(WIDE_LOAD(scalar8, (row_values) + position), double8))
#define WIDE_HEAD_VALUE(row_values) \
    (with_centers ? (double)(row_values)[position] - centers[position] : (double)(row_values)[position])
    ptrdiff_t position = 0;
    for (; position + 8 <= count; position += 8) {
        double8 sum = WIDE_LOAD(double8, sums + position);
        double8 square = with_squares ? WIDE_LOAD(double8, squares + position) : (double8)0;
        for (int step = 0; step < visit_rows; step++) {
            double8 value = WIDE_HEAD_VALUES(first + step * row_length);
            sum += value;
            if (with_squares) square += value * value;
        }
        WIDE_STORE(double8, sums + position, sum);
        if (with_squares) WIDE_STORE(double8, squares + position, square);
    }
    for (; position < count; position++) {
        double sum = sums[position], square = with_squares ? squares[position] : 0;
        for (int step = 0; step < visit_rows; step++) {
            double value = WIDE_HEAD_VALUE(first + step * row_length);
            sum += value;
            if (with_squares) square += value * value;
        }
        sums[position] = sum;
        if (with_squares) squares[position] = square;
    }
#undef WIDE_HEAD_VALUES
#undef WIDE_HEAD_VALUE
}

/// `FusedPasses.addHeadRows`' rows: eight a visit of the sums, then four, then one (each visit reads and
/// writes the `double` sums, and with squares twice the arrays; eight a visit read 1-4% faster than four),
/// every position adding its rows in order, as the Swift loop does four a visit.
WIDE_INLINE void NAME(add_head_rows_body)(
    const SCALAR *values, ptrdiff_t rows, ptrdiff_t row_length, ptrdiff_t count, double *sums, double *squares,
    const double *centers, int with_squares, int with_centers) {
    ptrdiff_t row = 0;
    for (; row + 8 <= rows; row += 8) {
        NAME(add_head_rows_visit)(values + row * row_length, row_length, 8, count, sums, squares, centers,
                                  with_squares, with_centers);
    }
    for (; row + 4 <= rows; row += 4) {
        NAME(add_head_rows_visit)(values + row * row_length, row_length, 4, count, sums, squares, centers,
                                  with_squares, with_centers);
    }
    for (; row < rows; row++) {
        NAME(add_head_rows_visit)(values + row * row_length, row_length, 1, count, sums, squares, centers,
                                  with_squares, with_centers);
    }
}

WIDE_INLINE void NAME(add_head_rows)(
    const SCALAR *values, ptrdiff_t rows, ptrdiff_t row_length, ptrdiff_t count, double *sums, double *squares,
    const double *centers) {
    if (squares && centers) {
        NAME(add_head_rows_body)(values, rows, row_length, count, sums, squares, centers, 1, 1);
    } else if (squares) {
        NAME(add_head_rows_body)(values, rows, row_length, count, sums, squares, 0, 1, 0);
    } else {
        NAME(add_head_rows_body)(values, rows, row_length, count, sums, 0, 0, 0, 0);
    }
}

/// `NAME(add_head_rows)` compiled for AVX-512.
WIDE_REGISTERS_TARGET static void NAME(add_head_rows_avx512)(
    const SCALAR *values, ptrdiff_t rows, ptrdiff_t row_length, ptrdiff_t count, double *sums, double *squares,
    const double *centers) {
    NAME(add_head_rows)(values, rows, row_length, count, sums, squares, centers);
}

/// `FusedPasses.addHeadRows` (the first rows' sums that pick the moments' shift; for a tensor whose rows
/// are all in the head, their squares; and the `double` shifted sums of channels whose raw sums were not
/// accepted), as 512-bit instructions where the CPU has them.
WIDE_TARGET void NAME(bn_wide_add_head_rows)(
    const SCALAR *values, ptrdiff_t rows, ptrdiff_t row_length, ptrdiff_t count, double *sums, double *squares,
    const double *centers) {
    if (wide_register_rows_available()) {
        NAME(add_head_rows_avx512)(values, rows, row_length, count, sums, squares, centers);
    } else {
        NAME(add_head_rows)(values, rows, row_length, count, sums, squares, centers);
    }
}

/// `NAME(shifted_sums_row_blocks)` compiled for AVX-512.
WIDE_REGISTERS_TARGET static void NAME(shifted_sums_row_blocks_avx512)(
    const SCALAR *values, ptrdiff_t rows, ptrdiff_t channel_count, const SCALAR *shift, SCALAR *sums, SCALAR *squares) {
    NAME(shifted_sums_row_blocks)(values, rows, channel_count, shift, sums, squares);
}

/// `Fused.interleavedShiftedSums`' rows: `sums[c] += x - shift[c]`, `squares[c] += (x - shift[c])²`.
/// `choices` (`Fused.RowLoopChoices`): with BN_WIDE_PREFETCH_REGISTER_ROWS the register rows prefetch their
/// data WIDE_PREFETCH_BYTES ahead (the row blocks gained nothing from it).
WIDE_TARGET void NAME(bn_wide_shifted_sums_rows)(
    const SCALAR *values, ptrdiff_t rows, ptrdiff_t channel_count, const SCALAR *shift, SCALAR *sums, SCALAR *squares,
    int choices) {
    switch (NAME(register_row_vectors)(channel_count)) {
#define WIDE_REGISTER_CASE(COUNT) \
    case COUNT:                                                                                                  \
        NAME(shifted_sums_registers_##COUNT)(values, rows, shift, sums, squares,                                 \
                                             (choices & BN_WIDE_PREFETCH_REGISTER_ROWS) != 0);                   \
        return;
    WIDE_REGISTER_COUNTS(WIDE_REGISTER_CASE)
#undef WIDE_REGISTER_CASE
    default: break;
    }
    // Row blocks at any width (unlike the other loops): on Zen 5 they read 256- to 1,536-channel rows
    // 1.3-2x faster than row by row, in cache and beyond (docs/BENCHMARK_NOTES.md, "Row blocks for the
    // moments at every width"); as 512-bit instructions where the CPU has them, 8-25% faster again in a
    // harness (the same operations, so the same bits; "AVX-512 moments").
    // Without AVX-512 (Zen 3), rows under 4 KiB of a tensor beyond the cache (BN_WIDE_PREFETCH_ROWS) read
    // 1.4-1.9x faster one by one with the prefetch than in blocks: 64x56x56x128 7.5-8.4 ms against
    // 11.9-13.2, 32x56x56x64 1.1 against 1.55; 4 KiB rows (1,024 `Float` channels) read 5-10% slower so
    // and stay in blocks (docs/BENCHMARK_NOTES.md, "Moments, the dx step and the normalize on an AVX2-only
    // host").
    if (wide_register_rows_available()) {
        NAME(shifted_sums_row_blocks_avx512)(values, rows, channel_count, shift, sums, squares);
    } else if ((choices & BN_WIDE_PREFETCH_ROWS) && (size_t)channel_count * sizeof(SCALAR) < 4096) {
        NAME(shifted_sums_prefetched_rows)(values, rows, channel_count, shift, sums, squares);
    } else {
        NAME(shifted_sums_row_blocks)(values, rows, channel_count, shift, sums, squares);
    }
}

WIDE_INLINE SCALAR NAME(epilogue)(SCALAR value, const SCALAR *residual, ptrdiff_t index, int relu) {
    SCALAR result = value;
    if (residual) result += residual[index];
    if (relu && result < 0) result = 0;
    return result;
}

WIDE_INLINE VECTOR NAME(epilogue_vector)(VECTOR value, const SCALAR *residual, ptrdiff_t index, int relu) {
    VECTOR result = value;
    if (residual) result += NAME(load)(residual + index);
    if (relu) result = NAME(zero_where_negative)(result);
    return result;
}

/// One value of the normalize loop: `output[index]`, whose channel is `channel`.
WIDE_INLINE void NAME(normalize_value)(
    const SCALAR *input, SCALAR *output, ptrdiff_t index, ptrdiff_t channel, const SCALAR *center, const SCALAR *scale,
    const SCALAR *shift, const SCALAR *residual, int relu) {
    output[index] = NAME(epilogue)((input[index] - center[channel]) * scale[channel] + shift[channel], residual, index,
                                   relu);
}

WIDE_INLINE void NAME(normalize_body)(
    const SCALAR *input, SCALAR *output, ptrdiff_t count, ptrdiff_t head, ptrdiff_t channel_count, ptrdiff_t first_channel,
    const SCALAR *center, const SCALAR *scale, const SCALAR *shift, const SCALAR *residual, int relu, int streaming) {
    ptrdiff_t channel = first_channel, index = 0;
    if (!streaming) head = NAME(alignment_head)(input, count);
    for (; index < head; index++) {
        NAME(normalize_value)(input, output, index, channel, center, scale, shift, residual, relu);
        channel = NAME(following_channel)(channel, channel_count);
    }
    for (; index + WIDE_LANES <= count; index += WIDE_LANES) {
        VECTOR value = (NAME(load)(input + index) - NAME(load)(center + channel)) * NAME(load)(scale + channel)
            + NAME(load)(shift + channel);
        NAME(store)(output + index, NAME(epilogue_vector)(value, residual, index, relu), streaming);
        channel = NAME(next_channel)(channel, channel_count);
    }
    for (; index < count; index++) {
        NAME(normalize_value)(input, output, index, channel, center, scale, shift, residual, relu);
        channel = NAME(following_channel)(channel, channel_count);
    }
}

/// `rows` whole rows (a multiple of WIDE_BLOCK_ROWS) of the normalize loop, a block of rows at a time. The
/// vectors start where the block's first row is aligned (its output when streaming, which then needs
/// rows of whole vectors, so that every row's vectors are aligned).
WIDE_INLINE void NAME(normalize_blocks)(
    const SCALAR *input, SCALAR *output, ptrdiff_t rows, ptrdiff_t channel_count, const SCALAR *center,
    const SCALAR *scale, const SCALAR *shift, const SCALAR *residual, int relu, int streaming) {
    for (ptrdiff_t row = 0; row < rows; row += WIDE_BLOCK_ROWS) {
        ptrdiff_t base = row * channel_count, channel = 0;
        ptrdiff_t head = streaming ? NAME(streaming_head)(output + base, channel_count)
                                   : NAME(alignment_head)(input + base, channel_count);
        for (; channel < head; channel++) {
            for (int r = 0; r < WIDE_BLOCK_ROWS; r++) {
                NAME(normalize_value)(input, output, base + r * channel_count + channel, channel, center, scale, shift,
                                      residual, relu);
            }
        }
        for (; channel + WIDE_LANES <= channel_count; channel += WIDE_LANES) {
            VECTOR center_ = NAME(load)(center + channel), scale_ = NAME(load)(scale + channel);
            VECTOR shift_ = NAME(load)(shift + channel);
            for (int r = 0; r < WIDE_BLOCK_ROWS; r++) {
                ptrdiff_t index = base + r * channel_count + channel;
                VECTOR value = (NAME(load)(input + index) - center_) * scale_ + shift_;
                NAME(store)(output + index, NAME(epilogue_vector)(value, residual, index, relu), streaming);
            }
        }
        for (; channel < channel_count; channel++) {
            for (int r = 0; r < WIDE_BLOCK_ROWS; r++) {
                NAME(normalize_value)(input, output, base + r * channel_count + channel, channel, center, scale, shift,
                                      residual, relu);
            }
        }
    }
}

/// `rows` whole rows of the normalize loop in channel tiles (`NAME(tile_width)`), without streaming
/// stores: `WIDE_TILE_ROWS` rows' first tile, then their second, and so on, prefetching the next
/// tile's input and output (`NAME(prefetch_tile)`) while the current one runs. Every value takes the
/// same operations as in `NAME(normalize_body)`.
WIDE_INLINE void NAME(normalize_tiles)(
    const SCALAR *input, SCALAR *output, ptrdiff_t rows, ptrdiff_t channel_count, const SCALAR *center,
    const SCALAR *scale, const SCALAR *shift, const SCALAR *residual, int relu) {
    const ptrdiff_t width = NAME(tile_width)(channel_count);
    for (ptrdiff_t first_row = 0; first_row < rows; first_row += WIDE_TILE_ROWS) {
        ptrdiff_t end_row = first_row + WIDE_TILE_ROWS < rows ? first_row + WIDE_TILE_ROWS : rows;
        for (ptrdiff_t tile = 0; tile < channel_count; tile += width) {
            ptrdiff_t tile_end = tile + width < channel_count ? tile + width : channel_count;
            for (ptrdiff_t row = first_row; row < end_row; row++) {
                ptrdiff_t base = row * channel_count;
                ptrdiff_t ahead = NAME(tile_ahead)(row, first_row, end_row, tile, tile_end, channel_count);
                ptrdiff_t channel = tile;
                for (; channel + WIDE_LANES <= tile_end; channel += WIDE_LANES) {
                    ptrdiff_t index = base + channel;
                    NAME(prefetch_tile)(input + index + ahead, residual ? residual + index + ahead : 0,
                                        output + index + ahead);
                    VECTOR value = (NAME(load)(input + index) - NAME(load)(center + channel)) * NAME(load)(scale + channel)
                        + NAME(load)(shift + channel);
                    NAME(store)(output + index, NAME(epilogue_vector)(value, residual, index, relu), 0);
                }
                for (; channel < tile_end; channel++) {
                    NAME(normalize_value)(input, output, base + channel, channel, center, scale, shift, residual, relu);
                }
            }
        }
    }
}

/// Whether the normalize loop walks whole rows of `channel_count` values in row blocks (or tiles): a row
/// of its arrays (center, scale and shift; input, output and the residual) outgrows the L1, and the rows
/// keep their alignment (`NAME(rows_keep_alignment)`; else one aligned stream, whose coefficient loads
/// come from the L2).
WIDE_INLINE int NAME(normalize_blocks_rows)(ptrdiff_t channel_count, int residual) {
    return NAME(blocks_rows)(channel_count, residual ? 6 : 5) && NAME(rows_keep_alignment)(channel_count);
}

/// The range of `NAME(bn_wide_normalize_interleaved)`: its whole rows in row blocks where the rows are
/// wide (`NAME(blocks_rows)`), in channel tiles instead where they are also whole cache lines and the
/// output is not streamed (`NAME(tiles_rows)`), the rest (a partial first and last row, fewer rows than a block) as one
/// stream.
WIDE_INLINE void NAME(normalize_range)(
    const SCALAR *input, SCALAR *output, ptrdiff_t count, ptrdiff_t head, ptrdiff_t channel_count, ptrdiff_t first_channel,
    const SCALAR *center, const SCALAR *scale, const SCALAR *shift, const SCALAR *residual, int relu, int streaming) {
    if (NAME(normalize_blocks_rows)(channel_count, residual != 0) && NAME(streams_blocks)(streaming, channel_count)) {
        int tiles = !streaming && NAME(tiles_rows)(channel_count, residual != 0);
        ptrdiff_t lead, rows;
        NAME(block_range)(count, channel_count, first_channel, tiles, &lead, &rows);
        if (rows > 0) {
            NAME(normalize_body)(input, output, lead, head < lead ? head : lead, channel_count, first_channel, center,
                                 scale, shift, residual, relu, streaming);
            if (!tiles) {
                NAME(normalize_blocks)(input + lead, output + lead, rows, channel_count, center, scale, shift,
                                       residual ? residual + lead : 0, relu, streaming);
            } else {
                NAME(normalize_tiles)(input + lead, output + lead, rows, channel_count, center, scale, shift,
                                      residual ? residual + lead : 0, relu);
            }
            ptrdiff_t done = lead + rows * channel_count;
            NAME(normalize_body)(input + done, output + done, count - done,
                                 NAME(streaming_head)(output + done, count - done), channel_count, 0, center, scale,
                                 shift, residual ? residual + done : 0, relu, streaming);
            return;
        }
    }
    NAME(normalize_body)(input, output, count, head, channel_count, first_channel, center, scale, shift, residual, relu,
                         streaming);
}

/// Whether `NAME(bn_wide_normalize_interleaved)` walks whole rows of `channel_count` values in channel
/// tiles when it does not stream (`NAME(normalize_range)`); streaming would give the tiles up. Rows that
/// tile are whole lines, so they keep their alignment (`NAME(normalize_blocks_rows)`'s second test).
int NAME(bn_wide_normalize_tiles)(ptrdiff_t channel_count, int residual) {
    return NAME(blocks_rows)(channel_count, residual ? 6 : 5) && NAME(tiles_rows)(channel_count, residual);
}

// MARK: Register coefficients

// The elementwise loops load three to five coefficient vectors beside every data vector. On CPUs with
// AVX-512, when a row (or group row) is at most WIDE_REGISTER_VECTORS 16-lane vectors (half that for the
// dx step's four or five arrays), the coefficients of a whole row stay in registers for the call: a
// range cycles through the same `vectors` coefficient vectors from whatever channel its vector loop
// starts at (the periodic arrays give them from any channel). Each value takes the same operations, so
// the same bits.

/// The channel `v` vectors after `channel`, in a row of `channel_count` values (`v` vectors < a row).
WIDE_INLINE ptrdiff_t NAME(row_channel)(ptrdiff_t channel, int v, ptrdiff_t channel_count) {
    ptrdiff_t shifted = channel + WIDE_LANES * (ptrdiff_t)v;
    return shifted < channel_count ? shifted : shifted - channel_count;
}

/// `NAME(normalize_body)` for rows of `16 · vectors` values, the coefficients in registers; `head` as
/// there when streaming, else the input aligned to its cache line.
WIDE_INLINE void NAME(normalize_registers)(
    const SCALAR *input, SCALAR *output, ptrdiff_t count, ptrdiff_t head, const int vectors, ptrdiff_t first_channel,
    const SCALAR *center, const SCALAR *scale, const SCALAR *shift, const SCALAR *residual, int relu, int streaming) {
    const ptrdiff_t channel_count = WIDE_LANES * vectors;
    ptrdiff_t channel = first_channel, index = 0;
    if (!streaming) head = NAME(line_head)(input, count);
    for (; index < head; index++) {
        NAME(normalize_value)(input, output, index, channel, center, scale, shift, residual, relu);
        channel = NAME(following_channel)(channel, channel_count);
    }
    VECTOR center_[WIDE_REGISTER_VECTORS], scale_[WIDE_REGISTER_VECTORS], shift_[WIDE_REGISTER_VECTORS];
    for (int v = 0; v < vectors; v++) {
        ptrdiff_t from = NAME(row_channel)(channel, v, channel_count);
        center_[v] = NAME(load)(center + from);
        scale_[v] = NAME(load)(scale + from);
        shift_[v] = NAME(load)(shift + from);
    }
    for (; index + channel_count <= count; index += channel_count) {
        for (int v = 0; v < vectors; v++) {
            ptrdiff_t at = index + WIDE_LANES * v;
            VECTOR value = (NAME(load)(input + at) - center_[v]) * scale_[v] + shift_[v];
            NAME(store)(output + at, NAME(epilogue_vector)(value, residual, at, relu), streaming);
        }
    }
    for (; index < count; index++) {
        NAME(normalize_value)(input, output, index, channel, center, scale, shift, residual, relu);
        channel = NAME(following_channel)(channel, channel_count);
    }
}

// One function per vector count, so that the coefficient arrays are registers, and one loop per
// combination of the loop-invariant flags.
#define WIDE_NORMALIZE_REGISTERS_LOOP(COUNT, relu, streaming)                                                   \
    NAME(normalize_registers)(input, output, count, head, COUNT, first_channel, center, scale, shift, residual,  \
                              relu, streaming)
#define WIDE_NORMALIZE_REGISTERS(COUNT)                                                                         \
    WIDE_REGISTERS_TARGET static void NAME(normalize_registers_##COUNT)(                                        \
        const SCALAR *input, SCALAR *output, ptrdiff_t count, ptrdiff_t head, ptrdiff_t first_channel,          \
        const SCALAR *center, const SCALAR *scale, const SCALAR *shift, const SCALAR *residual, int relu,       \
        int streaming) {                                                                                        \
        if (streaming) {                                                                                        \
            if (relu) WIDE_NORMALIZE_REGISTERS_LOOP(COUNT, 1, 1); else WIDE_NORMALIZE_REGISTERS_LOOP(COUNT, 0, 1); \
        } else {                                                                                                \
            if (relu) WIDE_NORMALIZE_REGISTERS_LOOP(COUNT, 1, 0); else WIDE_NORMALIZE_REGISTERS_LOOP(COUNT, 0, 0); \
        }                                                                                                       \
    }
WIDE_REGISTER_COUNTS(WIDE_NORMALIZE_REGISTERS)
#undef WIDE_NORMALIZE_REGISTERS
#undef WIDE_NORMALIZE_REGISTERS_LOOP

/// `Fused.normalizeInterleaved`: `output = epilogue((input - center[c]) * scale[c] + shift[c])` over
/// `count` interleaved values from channel `first_channel`, periodic coefficients. When streaming, the
/// first `head` values are taken one by one (the output's streaming alignment); otherwise `head` is
/// ignored and as many are taken as align the input to 32 bytes.
WIDE_TARGET void NAME(bn_wide_normalize_interleaved)(
    const SCALAR *input, SCALAR *output, ptrdiff_t count, ptrdiff_t head, ptrdiff_t channel_count, ptrdiff_t first_channel,
    const SCALAR *center, const SCALAR *scale, const SCALAR *shift, const SCALAR *residual, int relu, int streaming) {
    switch (NAME(register_vectors)(channel_count, WIDE_REGISTER_VECTORS)) {
#define WIDE_REGISTER_CASE(COUNT)                                                                                \
    case COUNT:                                                                                                  \
        NAME(normalize_registers_##COUNT)(input, output, count, head, first_channel, center, scale, shift,       \
                                          residual, relu, streaming);                                            \
        return;
    WIDE_REGISTER_COUNTS(WIDE_REGISTER_CASE)
#undef WIDE_REGISTER_CASE
    default: break;
    }
    // One loop per combination of the loop-invariant flags (the Swift loops get the same by unswitching).
#define WIDE_NORMALIZE(relu, streaming)                                                                        \
    NAME(normalize_range)(input, output, count, head, channel_count, first_channel, center, scale, shift, residual, \
                          relu, streaming)
    if (streaming) {
        if (relu) WIDE_NORMALIZE(1, 1); else WIDE_NORMALIZE(0, 1);
    } else {
        if (relu) WIDE_NORMALIZE(1, 0); else WIDE_NORMALIZE(0, 0);
    }
#undef WIDE_NORMALIZE
}

// MARK: - Backward

/// One value of the backward sums: adds channel `channel`'s value of the row at `offset`.
WIDE_INLINE void NAME(gradient_sums_value)(
    int kind, const SCALAR *input, const SCALAR *gradient, ptrdiff_t offset, ptrdiff_t channel, const SCALAR *center,
    const SCALAR *forward_output, SCALAR *masked_gradient, const SCALAR *bound, SCALAR *sum_gradient,
    SCALAR *sum_product) {
    SCALAR centered = input[offset + channel] - center[channel];
    SCALAR dz = NAME(filter)(kind, gradient[offset + channel], centered, offset + channel, channel, forward_output,
                             masked_gradient, bound);
    sum_gradient[channel] += dz;
    sum_product[channel] += dz * centered;
}

WIDE_INLINE void NAME(gradient_sums_body)(
    int kind, const SCALAR *input, const SCALAR *gradient, ptrdiff_t rows, ptrdiff_t channel_count, const SCALAR *center,
    const SCALAR *forward_output, SCALAR *masked_gradient, const SCALAR *bound, SCALAR *sum_gradient,
    SCALAR *sum_product, const int block, const int prefetch) {
    // The data WIDE_PREFETCH_BYTES ahead is prefetched when asked; `NAME(gradient_sums_rows)` asks only
    // for rows walked one by one (`block` 1).
    const ptrdiff_t ahead = WIDE_PREFETCH_BYTES / (ptrdiff_t)sizeof(SCALAR);
    for (ptrdiff_t row = 0; row < rows; row += block) {
        ptrdiff_t offset = row * channel_count, channel = 0;
        ptrdiff_t head = NAME(alignment_head)(input + offset, channel_count);
        // The filter written out for any vector type `V` with lane mask `M` (filter_vector's lanes), for
        // the `block` rows from `offset`, each channel's rows in order.
#define WIDE_GRADIENT_SUMS_STEP(V, M)                                                                         \
        do {                                                                                                  \
            V center_ = WIDE_LOAD(V, center + channel);                                                       \
            V gradient_sum_ = WIDE_LOAD(V, sum_gradient + channel);                                           \
            V product_sum_ = WIDE_LOAD(V, sum_product + channel);                                             \
            for (int r_ = 0; r_ < block; r_++) {                                                              \
                ptrdiff_t index_ = offset + r_ * channel_count + channel;                                     \
                if (prefetch) {                                                                               \
                    __builtin_prefetch(input + index_ + ahead, 0, 3);                                         \
                    __builtin_prefetch(gradient + index_ + ahead, 0, 3);                                      \
                    if (NAME(reads_forward_output)(kind)) __builtin_prefetch(forward_output + index_ + ahead, 0, 3); \
                }                                                                                             \
                V centered = WIDE_LOAD(V, input + index_) - center_;                                          \
                V dz = WIDE_LOAD(V, gradient + index_);                                                       \
                if (NAME(reads_forward_output)(kind)) {                                                       \
                    dz = (V)((M)dz & ~(WIDE_LOAD(V, forward_output + index_) <= (V)0));                       \
                    if (kind == NAME(forward_output_mask)) WIDE_STORE(V, masked_gradient + index_, dz);       \
                } else if (kind == NAME(bounded_mask)) {                                                      \
                    dz = (V)((M)dz & ~(centered <= WIDE_LOAD(V, bound + channel)));                           \
                }                                                                                             \
                gradient_sum_ = gradient_sum_ + dz;                                                           \
                product_sum_ = product_sum_ + dz * centered;                                                  \
            }                                                                                                 \
            WIDE_STORE(V, sum_gradient + channel, gradient_sum_);                                             \
            WIDE_STORE(V, sum_product + channel, product_sum_);                                               \
            channel += (ptrdiff_t)(sizeof(V) / sizeof(SCALAR));                                               \
        } while (0)
        if (head >= 4) WIDE_GRADIENT_SUMS_STEP(VECTOR4, MASK4);
        for (; channel < head; channel++) {
            for (int r = 0; r < block; r++) {
                NAME(gradient_sums_value)(kind, input, gradient, offset + r * channel_count, channel, center,
                                          forward_output, masked_gradient, bound, sum_gradient, sum_product);
            }
        }
        while (channel + WIDE_LANES <= channel_count) WIDE_GRADIENT_SUMS_STEP(VECTOR, MASK);
        if (channel + 8 <= channel_count) WIDE_GRADIENT_SUMS_STEP(VECTOR8, MASK8);
        if (channel + 4 <= channel_count) WIDE_GRADIENT_SUMS_STEP(VECTOR4, MASK4);
#undef WIDE_GRADIENT_SUMS_STEP
        for (; channel < channel_count; channel++) {
            for (int r = 0; r < block; r++) {
                NAME(gradient_sums_value)(kind, input, gradient, offset + r * channel_count, channel, center,
                                          forward_output, masked_gradient, bound, sum_gradient, sum_product);
            }
        }
    }
}

/// The arrays the gradient sums' row loop touches per row with filter `kind`: the center (and the bound)
/// and two accumulators; input and gradient (and the forward output and the masked gradient).
WIDE_INLINE int NAME(gradient_sums_touched)(int kind) {
    return kind == NAME(forward_output_mask) ? 7
           : kind == NAME(forward_output_mask_unstored) || kind == NAME(bounded_mask) ? 6 : 5;
}

/// `NAME(gradient_sums_body)` over `rows` rows: wide rows' whole blocks first (`NAME(blocks_rows)`), then
/// the rest row by row.
WIDE_INLINE void NAME(gradient_sums_rows)(
    int kind, const SCALAR *input, const SCALAR *gradient, ptrdiff_t rows, ptrdiff_t channel_count, const SCALAR *center,
    const SCALAR *forward_output, SCALAR *masked_gradient, const SCALAR *bound, SCALAR *sum_gradient,
    SCALAR *sum_product, const int prefetch) {
    int blocks = NAME(blocks_rows)(channel_count, NAME(gradient_sums_touched)(kind));
    ptrdiff_t blocked = NAME(block_rows_count)(rows, blocks);
    NAME(gradient_sums_body)(kind, input, gradient, blocked, channel_count, center, forward_output, masked_gradient,
                             bound, sum_gradient, sum_product, WIDE_BLOCK_ROWS, 0);
    ptrdiff_t done = blocked * channel_count;
    NAME(gradient_sums_body)(kind, input + done, gradient + done, rows - blocked, channel_count, center,
                             forward_output ? forward_output + done : 0, masked_gradient ? masked_gradient + done : 0,
                             bound, sum_gradient, sum_product, 1, prefetch);
}

// MARK: - Register tiles

// Rows wider than the register rows, of whole vectors: the gradient sums can walk them one tile of
// WIDE_REGISTER_VECTORS vectors at a time (128 `Float` or 64 `Double` channels), every row of the call for
// each tile, with the tile's accumulators in registers (the register rows' loop, rows `channel_count`
// apart), where the row loops load and store two accumulators beside every data vector (or every four
// rows' vectors in blocks). Each channel's sums take the same rows in the same order, so the same bits. A
// tile reads a short piece of every row, which pays while the rows come from the L2 or an L3 they share
// with little else. In a harness on Zen 5 (docs/BENCHMARK_NOTES.md, "Register tiles for the gradient
// sums"), `Float`, against the row loops:
// - the plain sums: 3 and 6 MB tensors 6-32% faster at 256 to 4,096 channels; 12 MB ones 7-36% slower up
//   to 1,024 channels (row by row there) but up to 25% faster at 2,048 (row blocks there);
// - the ReLU mask from the bound: 27-40% faster at 6 MB, slower at 12.8 MB and 2,048 channels;
// - the masks from the forward output (read, and stored for the backward's second pass): 19-52% slower
//   at 6 MB, so those never take tiles.
// So tiles run where the caller asks (BN_WIDE_REGISTER_TILES: the smaller tensors), and the plain sums
// also where the row loop would walk row blocks, below the streaming size.

/// Whether `NAME(bn_wide_gradient_sums_rows)` walks rows of `channel_count` values (too wide for the
/// register rows) in register tiles, with filter `kind` and the caller's `choices` bits.
WIDE_INLINE int NAME(tiles_gradient_sums)(int kind, ptrdiff_t channel_count, int choices) {
    if (!wide_register_rows_available() || channel_count % WIDE_LANES != 0
        || channel_count <= WIDE_LANES * WIDE_REGISTER_VECTORS) return 0;
    int asked = (choices & BN_WIDE_REGISTER_TILES) != 0;
    if (kind == NAME(unfiltered)) {
        return asked || (!(choices & BN_WIDE_PREFETCH_ROWS)
                         && NAME(blocks_rows)(channel_count, NAME(gradient_sums_touched)(kind)));
    }
    return kind == NAME(bounded_mask) && asked;
}

/// `NAME(bn_wide_gradient_sums_rows)` in register tiles (`NAME(tiles_gradient_sums)`): the plain sums, or
/// masked by `bound` when given.
WIDE_INLINE void NAME(gradient_sums_tiles)(
    const SCALAR *input, const SCALAR *gradient, ptrdiff_t rows, ptrdiff_t channel_count, const SCALAR *center,
    const SCALAR *bound, SCALAR *sum_gradient, SCALAR *sum_product) {
    const ptrdiff_t tile = WIDE_LANES * WIDE_REGISTER_VECTORS;
    for (ptrdiff_t first = 0; first < channel_count; first += tile) {
        ptrdiff_t width = channel_count - first < tile ? channel_count - first : tile;
        const SCALAR *tile_bound = bound ? bound + first : 0;
        switch ((int)(width / WIDE_LANES)) {
#define WIDE_TILE_CASE(COUNT)                                                                                    \
        case COUNT:                                                                                              \
            NAME(gradient_sums_registers_##COUNT)(input + first, gradient + first, rows, channel_count,         \
                                                  center + first, 0, 0, tile_bound, sum_gradient + first,       \
                                                  sum_product + first, 0);                                       \
            break;
        WIDE_REGISTER_COUNTS(WIDE_TILE_CASE)
#undef WIDE_TILE_CASE
        default: break;
        }
    }
}

/// `Fused.reduceRows`' rows: `sum_gradient[c] += dz`, `sum_product[c] += dz · (x - center[c])`, where
/// `dz` is `dy` masked by `forward_output <= 0` (and stored to `masked_gradient`, unless that is null) when
/// `forward_output` is given, else masked by `x - center[c] <= bound[c]` when `bound` is given, else `dy`.
/// `choices` (`Fused.RowLoopChoices`): with BN_WIDE_PREFETCH_ROWS the row loop's rows walked one by one, with
/// BN_WIDE_PREFETCH_REGISTER_ROWS the register rows prefetch their data WIDE_PREFETCH_BYTES ahead; with
/// BN_WIDE_REGISTER_TILES wider rows take register tiles (`NAME(tiles_gradient_sums)`).
WIDE_TARGET void NAME(bn_wide_gradient_sums_rows)(
    const SCALAR *input, const SCALAR *gradient, ptrdiff_t rows, ptrdiff_t channel_count, const SCALAR *center,
    const SCALAR *forward_output, SCALAR *masked_gradient, const SCALAR *bound, SCALAR *sum_gradient,
    SCALAR *sum_product, int choices) {
    switch (NAME(register_row_vectors)(channel_count)) {
#define WIDE_REGISTER_CASE(COUNT)                                                                                \
    case COUNT:                                                                                                  \
        NAME(gradient_sums_registers_##COUNT)(input, gradient, rows, WIDE_LANES * COUNT, center, forward_output, \
                                              masked_gradient, bound, sum_gradient, sum_product,                 \
                                              (choices & BN_WIDE_PREFETCH_REGISTER_ROWS) != 0);                  \
        return;
    WIDE_REGISTER_COUNTS(WIDE_REGISTER_CASE)
#undef WIDE_REGISTER_CASE
    default: break;
    }
    int kind = forward_output && masked_gradient ? NAME(forward_output_mask)
               : forward_output ? NAME(forward_output_mask_unstored) : bound ? NAME(bounded_mask) : NAME(unfiltered);
    if (NAME(tiles_gradient_sums)(kind, channel_count, choices)) {
        NAME(gradient_sums_tiles)(input, gradient, rows, channel_count, center, bound, sum_gradient, sum_product);
        return;
    }
    // One loop per filter and prefetch choice. The prefetch only where the CPU has AVX-512: on Zen 3 (AVX2
    // only) the rows one by one read x and dy 10-25% faster without it (64x56x56x128 13.7-14.5 ms against
    // 15.2-16.0, 32x56x56x64 2.6-2.9 against 3.1-3.3; docs/BENCHMARK_NOTES.md, "Moments, the dx step and
    // the normalize on an AVX2-only host").
    int prefetch = (choices & BN_WIDE_PREFETCH_ROWS) != 0 && wide_register_rows_available();
#define WIDE_GRADIENT_SUMS_ROWS(KIND, PREFETCH)                                                               \
    NAME(gradient_sums_rows)(NAME(KIND), input, gradient, rows, channel_count, center, forward_output,       \
                             masked_gradient, bound, sum_gradient, sum_product, PREFETCH)
    if (forward_output && masked_gradient) {
        if (prefetch) WIDE_GRADIENT_SUMS_ROWS(forward_output_mask, 1); else WIDE_GRADIENT_SUMS_ROWS(forward_output_mask, 0);
    } else if (forward_output) {
        if (prefetch) WIDE_GRADIENT_SUMS_ROWS(forward_output_mask_unstored, 1);
        else WIDE_GRADIENT_SUMS_ROWS(forward_output_mask_unstored, 0);
    } else if (bound) {
        if (prefetch) WIDE_GRADIENT_SUMS_ROWS(bounded_mask, 1); else WIDE_GRADIENT_SUMS_ROWS(bounded_mask, 0);
    } else {
        if (prefetch) WIDE_GRADIENT_SUMS_ROWS(unfiltered, 1); else WIDE_GRADIENT_SUMS_ROWS(unfiltered, 0);
    }
#undef WIDE_GRADIENT_SUMS_ROWS
}

/// The deferred store of `NAME(forward_output_mask_unstored)` (`Fused.WideLoops.maskedGradient`):
/// `masked_gradient = forward_output <= 0 ? 0 : gradient` over `count` values. With `streaming`, streaming
/// stores, values one by one until `masked_gradient` is aligned for them and after the last whole vector
/// (the caller fences them before another thread reads them); without, plain stores that stay in cache (the
/// channel walk's scratch run). The same values as the filters' stores.
WIDE_TARGET void NAME(bn_wide_masked_gradient)(
    const SCALAR *gradient, const SCALAR *forward_output, SCALAR *masked_gradient, ptrdiff_t count, int streaming) {
    ptrdiff_t index = 0;
    for (ptrdiff_t head = streaming ? NAME(streaming_head)(masked_gradient, count) : 0; index < head; index++) {
        masked_gradient[index] = forward_output[index] <= 0 ? 0 : gradient[index];
    }
#define MASKED_GRADIENT_VECTORS(streaming)                                                                     \
    for (; index + WIDE_LANES <= count; index += WIDE_LANES) {                                                 \
        VECTOR dz = NAME(zero_where_at_most)(NAME(load)(gradient + index), NAME(load)(forward_output + index), (VECTOR)0); \
        NAME(store)(masked_gradient + index, dz, streaming);                                                   \
    }
    if (streaming) { MASKED_GRADIENT_VECTORS(1) } else { MASKED_GRADIENT_VECTORS(0) }
#undef MASKED_GRADIENT_VECTORS
    for (; index < count; index++) {
        masked_gradient[index] = forward_output[index] <= 0 ? 0 : gradient[index];
    }
}

/// One value of the dx step: `input_gradient[index]`, whose channel is `channel`.
WIDE_INLINE void NAME(input_gradient_value)(
    int kind, int scale_only, const SCALAR *input, const SCALAR *gradient, SCALAR *input_gradient, ptrdiff_t index,
    ptrdiff_t channel, const SCALAR *center, const SCALAR *k, const SCALAR *p, const SCALAR *q, const SCALAR *bound) {
    if (scale_only) {
        input_gradient[index] = k[channel] * gradient[index];
    } else {
        SCALAR centered = input[index] - center[channel];
        SCALAR dz = NAME(filter)(kind, gradient[index], centered, index, channel, 0, 0, bound);
        input_gradient[index] = k[channel] * dz + p[channel] * centered + q[channel];
    }
}

WIDE_INLINE void NAME(input_gradient_body)(
    int kind, int scale_only, int streaming, const SCALAR *input, const SCALAR *gradient, SCALAR *input_gradient,
    ptrdiff_t count, ptrdiff_t head, ptrdiff_t channel_count, ptrdiff_t first_channel, const SCALAR *center, const SCALAR *k,
    const SCALAR *p, const SCALAR *q, const SCALAR *bound) {
    ptrdiff_t channel = first_channel, index = 0;
    if (!streaming) head = NAME(alignment_head)(scale_only ? gradient : input, count);
    for (; index < head; index++) {
        NAME(input_gradient_value)(kind, scale_only, input, gradient, input_gradient, index, channel, center, k, p, q,
                                   bound);
        channel = NAME(following_channel)(channel, channel_count);
    }
    for (; index + WIDE_LANES <= count; index += WIDE_LANES) {
        VECTOR value;
        if (scale_only) {
            value = NAME(load)(k + channel) * NAME(load)(gradient + index);
        } else {
            VECTOR centered = NAME(load)(input + index) - NAME(load)(center + channel);
            VECTOR dz = NAME(filter_vector)(kind, NAME(load)(gradient + index), centered, index, channel, 0, 0, bound);
            value = NAME(load)(k + channel) * dz + NAME(load)(p + channel) * centered + NAME(load)(q + channel);
        }
        NAME(store)(input_gradient + index, value, streaming);
        channel = NAME(next_channel)(channel, channel_count);
    }
    for (; index < count; index++) {
        NAME(input_gradient_value)(kind, scale_only, input, gradient, input_gradient, index, channel, center, k, p, q,
                                   bound);
        channel = NAME(following_channel)(channel, channel_count);
    }
}

/// `rows` whole rows (a multiple of WIDE_BLOCK_ROWS) of the dx step, a block of rows at a time; vectors
/// aligned as in `NAME(normalize_blocks)` (the data aligned without streaming is `x`, or `dy` without `p`).
WIDE_INLINE void NAME(input_gradient_blocks)(
    int kind, int scale_only, int streaming, const SCALAR *input, const SCALAR *gradient, SCALAR *input_gradient,
    ptrdiff_t rows, ptrdiff_t channel_count, const SCALAR *center, const SCALAR *k, const SCALAR *p, const SCALAR *q,
    const SCALAR *bound) {
    for (ptrdiff_t row = 0; row < rows; row += WIDE_BLOCK_ROWS) {
        ptrdiff_t base = row * channel_count, channel = 0;
        ptrdiff_t head = streaming ? NAME(streaming_head)(input_gradient + base, channel_count)
                                   : NAME(alignment_head)((scale_only ? gradient : input) + base, channel_count);
        for (; channel < head; channel++) {
            for (int r = 0; r < WIDE_BLOCK_ROWS; r++) {
                NAME(input_gradient_value)(kind, scale_only, input, gradient, input_gradient,
                                           base + r * channel_count + channel, channel, center, k, p, q, bound);
            }
        }
        for (; channel + WIDE_LANES <= channel_count; channel += WIDE_LANES) {
            VECTOR k_ = NAME(load)(k + channel);
            if (scale_only) {
                for (int r = 0; r < WIDE_BLOCK_ROWS; r++) {
                    ptrdiff_t index = base + r * channel_count + channel;
                    NAME(store)(input_gradient + index, k_ * NAME(load)(gradient + index), streaming);
                }
            } else {
                VECTOR center_ = NAME(load)(center + channel), p_ = NAME(load)(p + channel);
                VECTOR q_ = NAME(load)(q + channel);
                for (int r = 0; r < WIDE_BLOCK_ROWS; r++) {
                    ptrdiff_t index = base + r * channel_count + channel;
                    VECTOR centered = NAME(load)(input + index) - center_;
                    VECTOR dz = NAME(filter_vector)(kind, NAME(load)(gradient + index), centered, index, channel, 0, 0,
                                                    bound);
                    NAME(store)(input_gradient + index, k_ * dz + p_ * centered + q_, streaming);
                }
            }
        }
        for (; channel < channel_count; channel++) {
            for (int r = 0; r < WIDE_BLOCK_ROWS; r++) {
                NAME(input_gradient_value)(kind, scale_only, input, gradient, input_gradient,
                                           base + r * channel_count + channel, channel, center, k, p, q, bound);
            }
        }
    }
}

/// The range of `NAME(bn_wide_input_gradient_interleaved)`, split as in `NAME(normalize_range)`.
WIDE_INLINE void NAME(input_gradient_range)(
    int kind, int scale_only, int streaming, const SCALAR *input, const SCALAR *gradient, SCALAR *input_gradient,
    ptrdiff_t count, ptrdiff_t head, ptrdiff_t channel_count, ptrdiff_t first_channel, const SCALAR *center, const SCALAR *k,
    const SCALAR *p, const SCALAR *q, const SCALAR *bound) {
    // k, gradient and output alone; or center, k, p, q (and the bound), input, gradient and output.
    int touched = scale_only ? 3 : kind == NAME(bounded_mask) ? 8 : 7;
    if (NAME(blocks_rows)(channel_count, touched) && NAME(streams_blocks)(streaming, channel_count)) {
        ptrdiff_t lead, rows;
        NAME(block_range)(count, channel_count, first_channel, 0, &lead, &rows);
        if (rows > 0) {
            NAME(input_gradient_body)(kind, scale_only, streaming, input, gradient, input_gradient, lead,
                                      head < lead ? head : lead, channel_count, first_channel, center, k, p, q, bound);
            NAME(input_gradient_blocks)(kind, scale_only, streaming, input + lead, gradient + lead,
                                        input_gradient + lead, rows, channel_count, center, k, p, q, bound);
            ptrdiff_t done = lead + rows * channel_count;
            NAME(input_gradient_body)(kind, scale_only, streaming, input + done, gradient + done, input_gradient + done,
                                      count - done, NAME(streaming_head)(input_gradient + done, count - done),
                                      channel_count, 0, center, k, p, q, bound);
            return;
        }
    }
    NAME(input_gradient_body)(kind, scale_only, streaming, input, gradient, input_gradient, count, head, channel_count,
                              first_channel, center, k, p, q, bound);
}

/// `NAME(input_gradient_body)` with the centered term (`p`) for rows of `16 · vectors` values, the
/// coefficients in registers (`NAME(normalize_registers)`).
WIDE_INLINE void NAME(input_gradient_registers)(
    int kind, int streaming, const SCALAR *input, const SCALAR *gradient, SCALAR *input_gradient, ptrdiff_t count,
    ptrdiff_t head, const int vectors, ptrdiff_t first_channel, const SCALAR *center, const SCALAR *k,
    const SCALAR *p, const SCALAR *q, const SCALAR *bound) {
    const ptrdiff_t channel_count = WIDE_LANES * vectors;
    ptrdiff_t channel = first_channel, index = 0;
    if (!streaming) head = NAME(line_head)(input, count);
    for (; index < head; index++) {
        NAME(input_gradient_value)(kind, 0, input, gradient, input_gradient, index, channel, center, k, p, q, bound);
        channel = NAME(following_channel)(channel, channel_count);
    }
    VECTOR center_[WIDE_REGISTER_VECTORS / 2], k_[WIDE_REGISTER_VECTORS / 2], p_[WIDE_REGISTER_VECTORS / 2];
    VECTOR q_[WIDE_REGISTER_VECTORS / 2], bound_[WIDE_REGISTER_VECTORS / 2], masked_[WIDE_REGISTER_VECTORS / 2];
    const int late_mask = kind == NAME(bounded_mask) && streaming;
    for (int v = 0; v < vectors; v++) {
        ptrdiff_t from = NAME(row_channel)(channel, v, channel_count);
        center_[v] = NAME(load)(center + from);
        k_[v] = NAME(load)(k + from);
        p_[v] = NAME(load)(p + from);
        q_[v] = NAME(load)(q + from);
        bound_[v] = kind == NAME(bounded_mask) ? NAME(load)(bound + from) : (VECTOR)0;
        masked_[v] = late_mask ? NAME(opaque)(k_[v] * (VECTOR)0) : (VECTOR)0;
    }
    // Streaming (a tensor beyond the cache), `k · dz` takes the mask after the product: `k · 0` where
    // `centered <= bound`, else `k · dy`, the same bits as `k · (masked dy)`. Masking `dy` first makes
    // every product wait for the mask (x's load, the subtraction, a compare into a mask register), and
    // such a loop, bound by memory, ran at 1.5-1.9x the unmasked one on Zen 5; in cache, where the loop
    // is bound by its arithmetic, the extra select cost 5-13% instead, so there `dy` is masked first
    // (docs/BENCHMARK_NOTES.md, "The masked dx step in AVX-512 registers"). With a bound the scale is
    // positive and so, in practice, is `k`, making `k · 0` +0; it stays a product so that the identity
    // with the Swift loop holds for any `k` (-0 for a negative one, NaN for an infinite one).
    for (; index + channel_count <= count; index += channel_count) {
        for (int v = 0; v < vectors; v++) {
            ptrdiff_t at = index + WIDE_LANES * v;
            VECTOR centered = NAME(load)(input + at) - center_[v], scaled;
            if (late_mask) {
                scaled = k_[v] * NAME(load)(gradient + at);
                scaled = centered <= bound_[v] ? masked_[v] : scaled;
            } else {
                VECTOR dz = NAME(load)(gradient + at);
                if (kind == NAME(bounded_mask)) dz = NAME(zero_where_at_most)(dz, centered, bound_[v]);
                scaled = k_[v] * dz;
            }
            NAME(store)(input_gradient + at, scaled + p_[v] * centered + q_[v], streaming);
        }
    }
    for (; index < count; index++) {
        NAME(input_gradient_value)(kind, 0, input, gradient, input_gradient, index, channel, center, k, p, q, bound);
        channel = NAME(following_channel)(channel, channel_count);
    }
}

// One function per vector count, so that the coefficient arrays are registers, and one loop per
// combination of the loop-invariant filter and streaming choice.
#define WIDE_INPUT_GRADIENT_REGISTERS_LOOP(COUNT, kind, streaming)                                              \
    NAME(input_gradient_registers)(kind, streaming, input, gradient, input_gradient, count, head, COUNT,        \
                                   first_channel, center, k, p, q, bound)
#define WIDE_INPUT_GRADIENT_REGISTERS(COUNT)                                                                    \
    WIDE_REGISTERS_TARGET static void NAME(input_gradient_registers_##COUNT)(                                   \
        const SCALAR *input, const SCALAR *gradient, SCALAR *input_gradient, ptrdiff_t count, ptrdiff_t head,   \
        ptrdiff_t first_channel, const SCALAR *center, const SCALAR *k, const SCALAR *p, const SCALAR *q,       \
        const SCALAR *bound, int streaming) {                                                                   \
        if (streaming) {                                                                                        \
            if (bound) WIDE_INPUT_GRADIENT_REGISTERS_LOOP(COUNT, NAME(bounded_mask), 1);                        \
            else WIDE_INPUT_GRADIENT_REGISTERS_LOOP(COUNT, NAME(unfiltered), 1);                                \
        } else {                                                                                                \
            if (bound) WIDE_INPUT_GRADIENT_REGISTERS_LOOP(COUNT, NAME(bounded_mask), 0);                        \
            else WIDE_INPUT_GRADIENT_REGISTERS_LOOP(COUNT, NAME(unfiltered), 0);                                \
        }                                                                                                       \
    }
WIDE_HALF_REGISTER_COUNTS(WIDE_INPUT_GRADIENT_REGISTERS)
#undef WIDE_INPUT_GRADIENT_REGISTERS
#undef WIDE_INPUT_GRADIENT_REGISTERS_LOOP

/// `Fused.gradientInterleaved`: `dx = k[c] · dz + p[c] · (x - center[c]) + q[c]` over `count` interleaved
/// values from channel `first_channel`, periodic coefficients, `dz` masked by `x - center[c] <= bound[c]`
/// when `bound` is given, else `dy`; without `p`, `dx = k[c] · dy`. `head` as for the normalize loop (the
/// data aligned without streaming is `x`, or `dy` without `p`).
WIDE_TARGET void NAME(bn_wide_input_gradient_interleaved)(
    const SCALAR *input, const SCALAR *gradient, SCALAR *input_gradient, ptrdiff_t count, ptrdiff_t head, ptrdiff_t channel_count,
    ptrdiff_t first_channel, const SCALAR *center, const SCALAR *k, const SCALAR *p, const SCALAR *q, const SCALAR *bound,
    int streaming) {
    if (p) {
        switch (NAME(register_vectors)(channel_count, WIDE_REGISTER_VECTORS / 2)) {
#define WIDE_REGISTER_CASE(COUNT)                                                                                \
        case COUNT:                                                                                              \
            NAME(input_gradient_registers_##COUNT)(input, gradient, input_gradient, count, head, first_channel, \
                                                   center, k, p, q, bound, streaming);                           \
            return;
        WIDE_HALF_REGISTER_COUNTS(WIDE_REGISTER_CASE)
#undef WIDE_REGISTER_CASE
        default: break;
        }
    }
#define WIDE_INPUT_GRADIENT(kind, scale_only, streaming) \
    NAME(input_gradient_range)(kind, scale_only, streaming, input, gradient, input_gradient, count, head, \
                              channel_count, first_channel, center, k, p, q, bound)
    if (!p) {
        if (streaming) WIDE_INPUT_GRADIENT(NAME(unfiltered), 1, 1); else WIDE_INPUT_GRADIENT(NAME(unfiltered), 1, 0);
    } else if (bound) {
        if (streaming) WIDE_INPUT_GRADIENT(NAME(bounded_mask), 0, 1); else WIDE_INPUT_GRADIENT(NAME(bounded_mask), 0, 0);
    } else {
        if (streaming) WIDE_INPUT_GRADIENT(NAME(unfiltered), 0, 1); else WIDE_INPUT_GRADIENT(NAME(unfiltered), 0, 0);
    }
#undef WIDE_INPUT_GRADIENT
}

#undef WIDE_REGISTER_COUNTS
#undef WIDE_HALF_REGISTER_COUNTS
#undef WIDE_BLOCK_ROWS
