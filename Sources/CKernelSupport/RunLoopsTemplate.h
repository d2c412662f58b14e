// The channels-first loops of the fused kernels, compiled for AVX2: the counterparts of the Swift run
// loops in Kernels/Fused (named in each comment), over `run_count` consecutive runs of `run_length` values
// from run `first_run`, run `r` belonging to channel `r mod channel_count`. WideLoops.c includes this file
// once per precision after WideLoopsTemplate.h, whose helpers (loads, stores, selects, heads) it uses.
//
// Bits: the elementwise loops compute each value with the Swift loop's operations in its order, so the
// vector width and the head and tail split do not matter; they take 16 lanes, then 8 and 4, then scalars.
// The reductions keep the Swift loop's lanes exactly (16-lane accumulators per block of `Fused.blockLength`
// values, a long tail as one more overlapped vector, the pairwise lane sum, then a short tail's values one by
// one in `double`), so their sums are the same bits too. No FMA (the target enables "avx2" only and FP contraction is off).
// Not a module header (it is outside include/), so Swift never sees it.

/// `Fused.blockLength`: values summed in working-precision lanes before the sums move to `double`.
#ifndef RUN_BLOCK_LENGTH
#define RUN_BLOCK_LENGTH 1024
#endif

// MARK: - Forward

/// `NAME(epilogue_vector)` for any vector type `V` with lane mask `M`: add the residual at `index` (when
/// given), then zero the lanes `< 0` (when `relu`; NaN and -0 stay).
#define RUN_EPILOGUE(V, M, value, residual, index, relu)                                                       \
    ({                                                                                                         \
        V run_result_ = (value);                                                                               \
        if (residual) run_result_ += WIDE_LOAD(V, (residual) + (index));                                       \
        if (relu) run_result_ = (V)((M)run_result_ & ~(run_result_ < 0));                                      \
        run_result_;                                                                                           \
    })

/// One run of `Fused.normalizeRun`: `output = epilogue((input - center) · scale + shift)`. When
/// streaming, values one by one until the output is aligned for streaming stores, and the 8- and 4-lane
/// tail steps store plainly (they share a cache line with the scalars after them).
WIDE_INLINE void NAME(normalize_run)(
    const SCALAR *input, SCALAR *output, ptrdiff_t count, SCALAR center, SCALAR scale, SCALAR shift,
    const SCALAR *residual, int relu, int streaming) {
    ptrdiff_t index = 0;
    if (streaming) {
        for (ptrdiff_t head = NAME(streaming_head)(output, count); index < head; index++) {
            output[index] = NAME(epilogue)((input[index] - center) * scale + shift, residual, index, relu);
        }
    }
    VECTOR center_ = center, scale_ = scale, shift_ = shift;
    for (; index + WIDE_LANES <= count; index += WIDE_LANES) {
        VECTOR value = (NAME(load)(input + index) - center_) * scale_ + shift_;
        NAME(store)(output + index, NAME(epilogue_vector)(value, residual, index, relu), streaming);
    }
    if (index + 8 <= count) {
        VECTOR8 value = (WIDE_LOAD(VECTOR8, input + index) - center) * scale + shift;
        WIDE_STORE(VECTOR8, output + index, RUN_EPILOGUE(VECTOR8, MASK8, value, residual, index, relu));
        index += 8;
    }
    if (index + 4 <= count) {
        VECTOR4 value = (WIDE_LOAD(VECTOR4, input + index) - center) * scale + shift;
        WIDE_STORE(VECTOR4, output + index, RUN_EPILOGUE(VECTOR4, MASK4, value, residual, index, relu));
        index += 4;
    }
    for (; index < count; index++) {
        output[index] = NAME(epilogue)((input[index] - center) * scale + shift, residual, index, relu);
    }
}

WIDE_INLINE void NAME(normalize_runs_body)(
    const SCALAR *input, SCALAR *output, ptrdiff_t first_run, ptrdiff_t run_count, ptrdiff_t run_length,
    ptrdiff_t channel_count, const SCALAR *center, const SCALAR *scale, const SCALAR *shift, const SCALAR *residual,
    int relu, int streaming) {
    ptrdiff_t channel = first_run % channel_count;
    for (ptrdiff_t run = first_run; run < first_run + run_count; run++) {
        ptrdiff_t offset = run * run_length;
        NAME(normalize_run)(input + offset, output + offset, run_length, center[channel], scale[channel],
                            shift[channel], residual ? residual + offset : 0, relu, streaming);
        channel = NAME(following_channel)(channel, channel_count);
    }
}

/// `FusedPasses.normalize`'s channels-first runs: `Fused.normalizeRun` over each run with its channel's
/// coefficients. `input`, `output` and `residual` point at the tensor's first value.
WIDE_TARGET void NAME(bn_wide_normalize_runs)(
    const SCALAR *input, SCALAR *output, ptrdiff_t first_run, ptrdiff_t run_count, ptrdiff_t run_length,
    ptrdiff_t channel_count, const SCALAR *center, const SCALAR *scale, const SCALAR *shift, const SCALAR *residual,
    int relu, int streaming) {
    // One loop per combination of the loop-invariant flags (the Swift loops get the same by unswitching).
#define RUN_NORMALIZE(relu, streaming)                                                                         \
    NAME(normalize_runs_body)(input, output, first_run, run_count, run_length, channel_count, center, scale, shift, \
                              residual, relu, streaming)
    if (streaming) {
        if (relu) RUN_NORMALIZE(1, 1); else RUN_NORMALIZE(0, 1);
    } else {
        if (relu) RUN_NORMALIZE(1, 0); else RUN_NORMALIZE(0, 0);
    }
#undef RUN_NORMALIZE
}

// MARK: - Backward elementwise step

/// The `dx` of `Fused.gradientRun` for any vector type `V` with lane mask `M`: `k · dz + p · (x - center) + q`,
/// where `dz` is `dy` zeroed where `x - center <= bound` (when `bounded`: `Fused.BoundedMask`).
#define RUN_INPUT_GRADIENT(V, M, x, dy, center, k, p, q, bound, bounded)                                     \
    ({                                                                                                         \
        V run_centered_ = (x) - (center);                                                                      \
        V run_dz_ = (dy);                                                                                      \
        if (bounded) run_dz_ = (V)((M)run_dz_ & ~(run_centered_ <= (bound)));                                   \
        (k) * run_dz_ + (p) * run_centered_ + (q);                                                             \
    })

/// One value of `Fused.gradientRun` (`Fused.scaleRun` without `centered`).
WIDE_INLINE SCALAR NAME(run_input_gradient_value)(
    SCALAR x, SCALAR dy, SCALAR center, SCALAR k, const int centered, SCALAR p, SCALAR q, const int bounded,
    SCALAR bound) {
    if (!centered) return k * dy;
    SCALAR centered_ = x - center;
    SCALAR dz = bounded && centered_ <= bound ? 0 : dy;
    return k * dz + p * centered_ + q;
}

/// One run of `Fused.gradientRun` (`p` given) or `Fused.scaleRun` (`dx = k · dy`, no `p`). When streaming,
/// values one by one until `dx` is aligned for streaming stores; the 8- and 4-lane tail steps store
/// plainly.
WIDE_INLINE void NAME(input_gradient_run)(
    const SCALAR *input, const SCALAR *gradient, SCALAR *input_gradient, ptrdiff_t count, SCALAR center, SCALAR k,
    const int centered, SCALAR p, SCALAR q, const int bounded, SCALAR bound, int streaming) {
    ptrdiff_t index = 0;
#define RUN_STEP(V, M)                                                                                        \
    (centered ? RUN_INPUT_GRADIENT(V, M, WIDE_LOAD(V, input + index), WIDE_LOAD(V, gradient + index), center, k, p, \
                                   q, bound, bounded)                                                          \
              : k * WIDE_LOAD(V, gradient + index))
    if (streaming) {
        for (ptrdiff_t head = NAME(streaming_head)(input_gradient, count); index < head; index++) {
            input_gradient[index] = NAME(run_input_gradient_value)(input[index], gradient[index], center, k, centered, p,
                                                               q, bounded, bound);
        }
    }
    for (; index + WIDE_LANES <= count; index += WIDE_LANES) {
        NAME(store)(input_gradient + index, RUN_STEP(VECTOR, MASK), streaming);
    }
    if (index + 8 <= count) {
        WIDE_STORE(VECTOR8, input_gradient + index, RUN_STEP(VECTOR8, MASK8));
        index += 8;
    }
    if (index + 4 <= count) {
        WIDE_STORE(VECTOR4, input_gradient + index, RUN_STEP(VECTOR4, MASK4));
        index += 4;
    }
    for (; index < count; index++) {
        input_gradient[index] = NAME(run_input_gradient_value)(input[index], gradient[index], center, k, centered, p, q,
                                                           bounded, bound);
    }
#undef RUN_STEP
}

WIDE_INLINE void NAME(input_gradient_runs_body)(
    const SCALAR *input, const SCALAR *gradient, SCALAR *input_gradient, ptrdiff_t first_run, ptrdiff_t run_count,
    ptrdiff_t run_length, ptrdiff_t channel_count, const SCALAR *center, const SCALAR *k, const SCALAR *p,
    const SCALAR *q, const SCALAR *bound, const int centered, const int bounded, int streaming) {
    ptrdiff_t channel = first_run % channel_count;
    for (ptrdiff_t run = first_run; run < first_run + run_count; run++) {
        ptrdiff_t offset = run * run_length;
        NAME(input_gradient_run)(input + offset, gradient + offset, input_gradient + offset, run_length,
                                 centered ? center[channel] : 0, k[channel], centered, centered ? p[channel] : 0,
                                 centered ? q[channel] : 0, bounded, bounded ? bound[channel] : 0, streaming);
        channel = NAME(following_channel)(channel, channel_count);
    }
}

/// `FusedPasses.inputGradient`'s channels-first runs: `Fused.gradientRun` with `p` (and the bounded mask
/// `Fused.BoundedMask` when `bound` is given), `Fused.scaleRun` without. The tensors' pointers are at their
/// first value, the per-channel arrays at channel 0.
WIDE_TARGET void NAME(bn_wide_input_gradient_runs)(
    const SCALAR *input, const SCALAR *gradient, SCALAR *input_gradient, ptrdiff_t first_run, ptrdiff_t run_count,
    ptrdiff_t run_length, ptrdiff_t channel_count, const SCALAR *center, const SCALAR *k, const SCALAR *p,
    const SCALAR *q, const SCALAR *bound, int streaming) {
#define RUN_GRADIENT(centered, bounded, streaming)                                                             \
    NAME(input_gradient_runs_body)(input, gradient, input_gradient, first_run, run_count, run_length, channel_count, \
                                   center, k, p, q, bound, centered, bounded, streaming)
    if (!p) {
        if (streaming) RUN_GRADIENT(0, 0, 1); else RUN_GRADIENT(0, 0, 0);
    } else if (bound) {
        if (streaming) RUN_GRADIENT(1, 1, 1); else RUN_GRADIENT(1, 1, 0);
    } else {
        if (streaming) RUN_GRADIENT(1, 0, 1); else RUN_GRADIENT(1, 0, 0);
    }
#undef RUN_GRADIENT
}

// MARK: - Reductions

typedef SCALAR NAME(run_pair) __attribute__((ext_vector_type(2)));

/// `Fused.laneSum`: the 16 lanes added as a pairwise tree (halves until two lanes are left), in `double`.
WIDE_INLINE double NAME(lane_sum)(VECTOR vector) {
    VECTOR8 eight = vector.lo + vector.hi;
    VECTOR4 four = eight.lo + eight.hi;
    NAME(run_pair) two = four.lo + four.hi;
    return (double)(two[0] + two[1]);
}

/// `Fused.overlappedTailLength`: the fewest values after a block's vector steps that `NAME(shifted_sums_run)`
/// takes as one more vector. In a harness of runs of 17-36 values (AVX2, Zen 3) the vector was 12% slower
/// than the values one by one for 1 value, 3% faster for 2, 12-43% faster from 3 (docs/BENCHMARK_NOTES.md,
/// "The tails of short channels-first runs").
#ifndef RUN_OVERLAPPED_TAIL
#define RUN_OVERLAPPED_TAIL 3
#endif

/// `Fused.overlappedTail`: `vector`, the last 16 values of a block, with its first `16 - tail` lanes (the
/// values the block's vector steps already summed) set to +0, so that only the `tail` values after those
/// steps remain (`0 < tail < 16`).
WIDE_INLINE VECTOR NAME(overlapped_tail)(VECTOR vector, ptrdiff_t tail) {
    MASK lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    return (VECTOR)((MASK)vector & (lane >= (MASK)(WIDE_LANES - tail)));
}

WIDE_INLINE ptrdiff_t NAME(block_end)(ptrdiff_t start, ptrdiff_t count) {
    return count - start < RUN_BLOCK_LENGTH ? count : start + RUN_BLOCK_LENGTH;
}

/// `Fused.shiftedSums` over one run: `Σ(x - shift)` and `Σ(x - shift)²` in `double`, each block of
/// `Fused.blockLength` values in two pairs of 16-lane accumulators. The values after the block's vector
/// steps, when there are `RUN_OVERLAPPED_TAIL` or more of them in a block of 16 values or more, join `s1`
/// and `q1` as the vector of the block's last 16 values with the lanes already summed set to +0
/// (`Fused.overlappedTail`); otherwise they go one by one in `double` after the lane sums.
WIDE_INLINE void NAME(shifted_sums_run)(const SCALAR *values, ptrdiff_t count, SCALAR shift, double *sum_out,
                                        double *squares_out) {
    VECTOR shift_ = shift;
    double sum = 0, squares = 0;
    for (ptrdiff_t start = 0; start < count;) {
        ptrdiff_t end = NAME(block_end)(start, count), index = start;
        VECTOR s0 = 0, s1 = 0, q0 = 0, q1 = 0;
        for (; index + 2 * WIDE_LANES <= end; index += 2 * WIDE_LANES) {
            VECTOR d0 = NAME(load)(values + index) - shift_;
            VECTOR d1 = NAME(load)(values + index + WIDE_LANES) - shift_;
            s0 = s0 + d0;
            s1 = s1 + d1;
            q0 = q0 + d0 * d0;
            q1 = q1 + d1 * d1;
        }
        if (index + WIDE_LANES <= end) {
            VECTOR d0 = NAME(load)(values + index) - shift_;
            s0 = s0 + d0;
            q0 = q0 + d0 * d0;
            index += WIDE_LANES;
        }
        if (end - index >= RUN_OVERLAPPED_TAIL && end - start >= WIDE_LANES) {
            VECTOR d1 = NAME(overlapped_tail)(NAME(load)(values + end - WIDE_LANES) - shift_, end - index);
            s1 = s1 + d1;
            q1 = q1 + d1 * d1;
            index = end;
        }
        sum += NAME(lane_sum)(s0 + s1);
        squares += NAME(lane_sum)(q0 + q1);
        for (; index < end; index++) {
            double d = (double)(values[index] - shift);
            sum += d;
            squares += d * d;
        }
        start = end;
    }
    *sum_out = sum;
    *squares_out = squares;
}

WIDE_INLINE void NAME(shifted_sums_runs)(
    const SCALAR *input, ptrdiff_t first_run, ptrdiff_t run_count, ptrdiff_t run_length, ptrdiff_t channel_count,
    const SCALAR *shift, double *sums, double *squares) {
    ptrdiff_t channel = first_run % channel_count;
    for (ptrdiff_t run = first_run; run < first_run + run_count; run++) {
        double sum, sum_of_squares;
        NAME(shifted_sums_run)(input + run * run_length, run_length, shift[channel], &sum, &sum_of_squares);
        sums[channel] += sum;
        squares[channel] += sum_of_squares;
        channel = NAME(following_channel)(channel, channel_count);
    }
}

/// `NAME(shifted_sums_runs)` compiled for AVX-512 (see `NAME(bn_wide_shifted_sums_runs)`).
WIDE_REGISTERS_TARGET static void NAME(shifted_sums_runs_avx512)(
    const SCALAR *input, ptrdiff_t first_run, ptrdiff_t run_count, ptrdiff_t run_length, ptrdiff_t channel_count,
    const SCALAR *shift, double *sums, double *squares) {
    NAME(shifted_sums_runs)(input, first_run, run_count, run_length, channel_count, shift, sums, squares);
}

/// `FusedPasses.runOrderMoments`' loop over the runs of one part: each run's `Fused.shiftedSums` about its
/// channel's `shift`, added into that channel's `sums` and `squares` (`double`, per channel). On CPUs with
/// AVX-512 the same loop runs as 512-bit instructions (the same operations, so the same bits): in a harness
/// on Zen 5 it read runs of 49 to 3,136 values 9-27% faster (docs/BENCHMARK_NOTES.md, "AVX-512 moments").
WIDE_TARGET void NAME(bn_wide_shifted_sums_runs)(
    const SCALAR *input, ptrdiff_t first_run, ptrdiff_t run_count, ptrdiff_t run_length, ptrdiff_t channel_count,
    const SCALAR *shift, double *sums, double *squares) {
    if (wide_register_rows_available()) {
        NAME(shifted_sums_runs_avx512)(input, first_run, run_count, run_length, channel_count, shift, sums, squares);
    } else {
        NAME(shifted_sums_runs)(input, first_run, run_count, run_length, channel_count, shift, sums, squares);
    }
}

/// The vector of `NAME(gradient_sums_run)` at `index`: `*centered = x - center` and the filtered `dz` (stored to
/// `masked_gradient` for `forward_output_mask`).
WIDE_INLINE VECTOR NAME(run_gradient_vector)(
    const int kind, const SCALAR *input, const SCALAR *gradient, ptrdiff_t index, VECTOR center, VECTOR bound,
    const SCALAR *forward_output, SCALAR *masked_gradient, VECTOR *centered) {
    *centered = NAME(load)(input + index) - center;
    VECTOR dz = NAME(load)(gradient + index);
    if (NAME(reads_forward_output)(kind)) {
        dz = NAME(zero_where_at_most)(dz, NAME(load)(forward_output + index), (VECTOR)0);
        if (kind == NAME(forward_output_mask)) NAME(store)(masked_gradient + index, dz, 0);
    } else if (kind == NAME(bounded_mask)) {
        dz = NAME(zero_where_at_most)(dz, *centered, bound);
    }
    return dz;
}

/// `Fused.reduceRun` over one run: `Σ dz` and `Σ dz · (x - center)` in `double` (one pair of 16-lane
/// accumulators per block), where `dz` is `dy` (`unfiltered`), `dy` zeroed where `y <= 0` and stored to
/// `masked_gradient` (`forward_output_mask`: `Fused.GradientMask`; `forward_output` and `masked_gradient`
/// at the run's first value), or `dy` zeroed where `x - center <= *bound` (`bounded_mask`: `Fused.BoundedMask`;
/// `bound` at the run's channel). A block's last values join the lanes as in `NAME(shifted_sums_run)`
/// (`RUN_OVERLAPPED_TAIL`), or go one by one through `NAME(filter)`; its vector form loads 16 channels'
/// bounds, so the vectors test the run's one bound here.
WIDE_INLINE void NAME(gradient_sums_run)(
    const int kind, const SCALAR *input, const SCALAR *gradient, ptrdiff_t count, SCALAR center,
    const SCALAR *forward_output, SCALAR *masked_gradient, const SCALAR *bound, double *sum_gradient_out,
    double *sum_product_out) {
    VECTOR center_ = center, bound_ = kind == NAME(bounded_mask) ? *bound : 0;
    double sum_gradient = 0, sum_product = 0;
    for (ptrdiff_t start = 0; start < count;) {
        ptrdiff_t end = NAME(block_end)(start, count), index = start;
        VECTOR gradient0 = 0, product0 = 0;
        for (; index + WIDE_LANES <= end; index += WIDE_LANES) {
            VECTOR centered, dz = NAME(run_gradient_vector)(kind, input, gradient, index, center_, bound_,
                                                           forward_output, masked_gradient, &centered);
            gradient0 = gradient0 + dz;
            product0 = product0 + dz * centered;
        }
        if (end - index >= RUN_OVERLAPPED_TAIL && end - start >= WIDE_LANES) {
            // The block's last values as one more vector (as in `NAME(shifted_sums_run)`); its lanes
            // already summed are stored again with the same values and their terms set to +0.
            VECTOR centered, dz = NAME(run_gradient_vector)(kind, input, gradient, end - WIDE_LANES, center_, bound_,
                                                           forward_output, masked_gradient, &centered);
            gradient0 = gradient0 + NAME(overlapped_tail)(dz, end - index);
            product0 = product0 + NAME(overlapped_tail)(dz * centered, end - index);
            index = end;
        }
        sum_gradient += NAME(lane_sum)(gradient0);
        sum_product += NAME(lane_sum)(product0);
        for (; index < end; index++) {
            SCALAR centered = input[index] - center;
            SCALAR dz = NAME(filter)(kind, gradient[index], centered, index, 0, forward_output, masked_gradient, bound);
            sum_gradient += (double)dz;
            sum_product += (double)(dz * centered);
        }
        start = end;
    }
    *sum_gradient_out = sum_gradient;
    *sum_product_out = sum_product;
}

/// The filter the run sums' nullable arguments name: the mask from `y` (stored to `masked_gradient` or
/// not), the bounded mask, or `dy` itself.
WIDE_INLINE int NAME(filter_kind)(const SCALAR *forward_output, const SCALAR *masked_gradient, const SCALAR *bound) {
    return forward_output ? (masked_gradient ? NAME(forward_output_mask) : NAME(forward_output_mask_unstored))
           : bound ? NAME(bounded_mask) : NAME(unfiltered);
}

/// The run `offset` values into the tensors, of `channel`: its `NAME(gradient_sums_run)` added into the
/// channel's `sum_gradient` and `sum_product` (the tensors' and per-channel pointers at their first value).
WIDE_INLINE void NAME(add_run_gradient_sums)(
    const int kind, const SCALAR *input, const SCALAR *gradient, ptrdiff_t offset, ptrdiff_t run_length,
    ptrdiff_t channel, const SCALAR *center, const SCALAR *forward_output, SCALAR *masked_gradient,
    const SCALAR *bound, double *sum_gradient, double *sum_product) {
    int masked = NAME(reads_forward_output)(kind), stored = kind == NAME(forward_output_mask);
    double run_gradient, run_product;
    NAME(gradient_sums_run)(kind, input + offset, gradient + offset, run_length, center[channel],
                            masked ? forward_output + offset : 0, stored ? masked_gradient + offset : 0,
                            kind == NAME(bounded_mask) ? bound + channel : 0, &run_gradient, &run_product);
    sum_gradient[channel] += run_gradient;
    sum_product[channel] += run_product;
}

WIDE_INLINE void NAME(gradient_sums_runs_body)(
    const int kind, const SCALAR *input, const SCALAR *gradient, ptrdiff_t first_run, ptrdiff_t run_count,
    ptrdiff_t run_length, ptrdiff_t channel_count, const SCALAR *center, const SCALAR *forward_output,
    SCALAR *masked_gradient, const SCALAR *bound, double *sum_gradient, double *sum_product) {
    ptrdiff_t channel = first_run % channel_count;
    for (ptrdiff_t run = first_run; run < first_run + run_count; run++) {
        NAME(add_run_gradient_sums)(kind, input, gradient, run * run_length, run_length, channel, center,
                                    forward_output, masked_gradient, bound, sum_gradient, sum_product);
        channel = NAME(following_channel)(channel, channel_count);
    }
}

/// `FusedPasses.reductionsInDouble`' channels-first loop over the runs of one part (`Fused.reduceRuns`):
/// each run's sums added into its channel's `sum_gradient` and `sum_product` (`double`, per channel).
/// With `forward_output` (and `masked_gradient`, both at the tensor's first value; a null `masked_gradient`
/// leaves the store to the caller) the mask from `y`,
/// with `bound` (per channel) the bounded mask, else `dy` itself.
WIDE_TARGET void NAME(bn_wide_gradient_sums_runs)(
    const SCALAR *input, const SCALAR *gradient, ptrdiff_t first_run, ptrdiff_t run_count, ptrdiff_t run_length,
    ptrdiff_t channel_count, const SCALAR *center, const SCALAR *forward_output, SCALAR *masked_gradient,
    const SCALAR *bound, double *sum_gradient, double *sum_product) {
    int kind = NAME(filter_kind)(forward_output, masked_gradient, bound);
#define RUN_SUMS(kind)                                                                                         \
    NAME(gradient_sums_runs_body)(kind, input, gradient, first_run, run_count, run_length, channel_count, center,  \
                                  forward_output, masked_gradient, bound, sum_gradient, sum_product)
    if (kind == NAME(forward_output_mask)) {
        RUN_SUMS(NAME(forward_output_mask));
    } else if (kind == NAME(forward_output_mask_unstored)) {
        RUN_SUMS(NAME(forward_output_mask_unstored));
    } else if (kind == NAME(bounded_mask)) {
        RUN_SUMS(NAME(bounded_mask));
    } else {
        RUN_SUMS(NAME(unfiltered));
    }
#undef RUN_SUMS
}

// MARK: - One channel's runs (the channel walk)

/// How far ahead the channel walk's sums prefetch (the next sample's run), and how much of that run.
#define CHANNEL_PREFETCH_SAMPLES 1
#define CHANNEL_PREFETCH_BYTES 1024

/// How far ahead the forward walk's moments prefetch (the run two samples on, after the first two), and how
/// much of that run: they read one tensor, so they can ask for more of it ahead than the backward's sums,
/// which read two or three.
#define CHANNEL_MOMENTS_PREFETCH_SAMPLES 2
#define CHANNEL_MOMENTS_PREFETCH_BYTES 4096

/// Prefetches the cache lines of a run's first `limit` bytes (the hardware prefetchers follow a longer run
/// by themselves).
WIDE_INLINE void NAME(prefetch_lines)(const SCALAR *run, ptrdiff_t run_length, ptrdiff_t limit) {
    ptrdiff_t bytes = run_length * (ptrdiff_t)sizeof(SCALAR);
    if (bytes > limit) bytes = limit;
    uintptr_t end = (uintptr_t)run + (uintptr_t)bytes;
    for (uintptr_t line = (uintptr_t)run & ~(uintptr_t)63; line < end; line += 64) {
        __builtin_prefetch((const void *)line, 0, 3);
    }
}

/// Prefetches the cache lines of a run's first `CHANNEL_PREFETCH_BYTES`.
WIDE_INLINE void NAME(prefetch_run)(const SCALAR *run, ptrdiff_t run_length) {
    NAME(prefetch_lines)(run, run_length, CHANNEL_PREFETCH_BYTES);
}

WIDE_INLINE void NAME(gradient_sums_channel_body)(
    const SCALAR *input, const SCALAR *gradient, ptrdiff_t channel, ptrdiff_t samples, ptrdiff_t run_length,
    ptrdiff_t channel_count, const SCALAR *center, const SCALAR *forward_output, SCALAR *masked_gradient,
    const SCALAR *bound, double *sum_gradient, double *sum_product) {
    int kind = NAME(filter_kind)(forward_output, masked_gradient, bound);
    ptrdiff_t sample_stride = channel_count * run_length;
#define CHANNEL_SUMS(kind)                                                                                     \
    for (ptrdiff_t sample = 0; sample < samples; sample++) {                                                   \
        ptrdiff_t offset = sample * sample_stride + channel * run_length;                                      \
        if (sample + CHANNEL_PREFETCH_SAMPLES < samples) {                                                     \
            ptrdiff_t ahead = offset + CHANNEL_PREFETCH_SAMPLES * sample_stride;                               \
            NAME(prefetch_run)(input + ahead, run_length);                                                     \
            NAME(prefetch_run)(gradient + ahead, run_length);                                                  \
            if (NAME(reads_forward_output)(kind)) NAME(prefetch_run)(forward_output + ahead, run_length);      \
        }                                                                                                      \
        NAME(add_run_gradient_sums)(kind, input, gradient, offset, run_length, channel, center, forward_output, \
                                    masked_gradient, bound, sum_gradient, sum_product);                        \
    }
    if (kind == NAME(forward_output_mask)) {
        CHANNEL_SUMS(NAME(forward_output_mask))
    } else if (kind == NAME(forward_output_mask_unstored)) {
        CHANNEL_SUMS(NAME(forward_output_mask_unstored))
    } else if (kind == NAME(bounded_mask)) {
        CHANNEL_SUMS(NAME(bounded_mask))
    } else {
        CHANNEL_SUMS(NAME(unfiltered))
    }
#undef CHANNEL_SUMS
}

/// `NAME(gradient_sums_channel_body)` compiled for AVX-512 (see `NAME(bn_wide_gradient_sums_channel)`).
WIDE_REGISTERS_TARGET static void NAME(gradient_sums_channel_avx512)(
    const SCALAR *input, const SCALAR *gradient, ptrdiff_t channel, ptrdiff_t samples, ptrdiff_t run_length,
    ptrdiff_t channel_count, const SCALAR *center, const SCALAR *forward_output, SCALAR *masked_gradient,
    const SCALAR *bound, double *sum_gradient, double *sum_product) {
    NAME(gradient_sums_channel_body)(
        input, gradient, channel, samples, run_length, channel_count, center, forward_output, masked_gradient, bound,
        sum_gradient, sum_product);
}

/// `FusedPasses.channelWalkTrainingBackward`'s sums of one channel: `NAME(bn_wide_gradient_sums_runs)` over the
/// `samples` runs of `channel` (`channel_count` runs apart), in sample order, so the same sums. One call a
/// channel instead of one a run: a run of 196 values is read in about as many cycles as a call and the
/// run's channel (`first_run % channel_count`) take. Each run is a new stream for the hardware prefetchers,
/// so the loop prefetches the next sample's run (its first lines) while it sums this one: on the Intel
/// host of 2026-12-04, 32x256x14x14's backward walked read 1.25 ms in memory order, 1.04 walked without the
/// prefetch and 1.00 with it (docs/BENCHMARK_NOTES.md, "Short runs walked on an AVX-512 host"). In `float`
/// (`CHANNEL_WALK_AVX512`), where the CPU has AVX-512, it runs as 512-bit instructions with
/// `NAME(bn_wide_input_gradient_channel)` (the same operations, so the same bits): that backward 0.87 ms
/// against 1.00 in AVX2; the sums alone in AVX-512 were no faster, and `double` runs of 49 and 81 values
/// 10% slower.
WIDE_TARGET void NAME(bn_wide_gradient_sums_channel)(
    const SCALAR *input, const SCALAR *gradient, ptrdiff_t channel, ptrdiff_t samples, ptrdiff_t run_length,
    ptrdiff_t channel_count, const SCALAR *center, const SCALAR *forward_output, SCALAR *masked_gradient,
    const SCALAR *bound, double *sum_gradient, double *sum_product) {
    if (CHANNEL_WALK_AVX512 && wide_register_rows_available()) {
        NAME(gradient_sums_channel_avx512)(
            input, gradient, channel, samples, run_length, channel_count, center, forward_output, masked_gradient,
            bound, sum_gradient, sum_product);
    } else {
        NAME(gradient_sums_channel_body)(
            input, gradient, channel, samples, run_length, channel_count, center, forward_output, masked_gradient,
            bound, sum_gradient, sum_product);
    }
}

WIDE_INLINE void NAME(input_gradient_channel_body)(
    const SCALAR *input, const SCALAR *gradient, const SCALAR *forward_output, SCALAR *scratch,
    SCALAR *input_gradient, ptrdiff_t channel, ptrdiff_t samples, ptrdiff_t run_length, ptrdiff_t channel_count,
    const SCALAR *center, const SCALAR *k, const SCALAR *p, const SCALAR *q, const SCALAR *bound, int streaming) {
    ptrdiff_t sample_stride = channel_count * run_length;
#define CHANNEL_GRADIENT(bounded, streaming)                                                                   \
    for (ptrdiff_t sample = 0; sample < samples; sample++) {                                                   \
        ptrdiff_t offset = sample * sample_stride + channel * run_length;                                      \
        const SCALAR *run_gradient = gradient + offset;                                                        \
        if (forward_output) {                                                                                  \
            NAME(bn_wide_masked_gradient)(gradient + offset, forward_output + offset, scratch, run_length, 0); \
            run_gradient = scratch;                                                                            \
        }                                                                                                      \
        NAME(input_gradient_run)(input + offset, run_gradient, input_gradient + offset, run_length, center[channel], \
                                 k[channel], 1, p[channel], q[channel], bounded, (bounded) ? bound[channel] : 0, \
                                 streaming);                                                                   \
    }
    if (bound) {
        if (streaming) { CHANNEL_GRADIENT(1, 1) } else { CHANNEL_GRADIENT(1, 0) }
    } else {
        if (streaming) { CHANNEL_GRADIENT(0, 1) } else { CHANNEL_GRADIENT(0, 0) }
    }
#undef CHANNEL_GRADIENT
}

/// `NAME(input_gradient_channel_body)` compiled for AVX-512 (see `NAME(bn_wide_input_gradient_channel)`).
WIDE_REGISTERS_TARGET static void NAME(input_gradient_channel_avx512)(
    const SCALAR *input, const SCALAR *gradient, const SCALAR *forward_output, SCALAR *scratch,
    SCALAR *input_gradient, ptrdiff_t channel, ptrdiff_t samples, ptrdiff_t run_length, ptrdiff_t channel_count,
    const SCALAR *center, const SCALAR *k, const SCALAR *p, const SCALAR *q, const SCALAR *bound, int streaming) {
    NAME(input_gradient_channel_body)(
        input, gradient, forward_output, scratch, input_gradient, channel, samples, run_length, channel_count,
        center, k, p, q, bound, streaming);
}

/// `FusedPasses.channelWalkTrainingBackward`'s `dx` of one channel: `NAME(bn_wide_input_gradient_runs)` (with
/// `p`) over the `samples` runs of `channel`. With `forward_output`, each run's `dz` (`dy` zeroed where
/// `y <= 0`) goes first to `scratch` (one run long, kept in cache) and the run's `dx` reads it in place of
/// `dy`; `bound` is then null. As 512-bit instructions in `float` where the CPU has AVX-512 (the same bits).
WIDE_TARGET void NAME(bn_wide_input_gradient_channel)(
    const SCALAR *input, const SCALAR *gradient, const SCALAR *forward_output, SCALAR *scratch,
    SCALAR *input_gradient, ptrdiff_t channel, ptrdiff_t samples, ptrdiff_t run_length, ptrdiff_t channel_count,
    const SCALAR *center, const SCALAR *k, const SCALAR *p, const SCALAR *q, const SCALAR *bound, int streaming) {
    if (CHANNEL_WALK_AVX512 && wide_register_rows_available()) {
        NAME(input_gradient_channel_avx512)(
            input, gradient, forward_output, scratch, input_gradient, channel, samples, run_length, channel_count,
            center, k, p, q, bound, streaming);
    } else {
        NAME(input_gradient_channel_body)(
            input, gradient, forward_output, scratch, input_gradient, channel, samples, run_length, channel_count,
            center, k, p, q, bound, streaming);
    }
}

WIDE_INLINE void NAME(shifted_sums_channel_body)(
    const SCALAR *input, ptrdiff_t channel, ptrdiff_t samples, ptrdiff_t run_length, ptrdiff_t channel_count,
    const SCALAR *shift, double *sum, double *squares) {
    ptrdiff_t sample_stride = channel_count * run_length;
    if (samples > 1) {
        NAME(prefetch_lines)(input + sample_stride + channel * run_length, run_length, CHANNEL_MOMENTS_PREFETCH_BYTES);
    }
    for (ptrdiff_t sample = 0; sample < samples; sample++) {
        ptrdiff_t offset = sample * sample_stride + channel * run_length;
        if (sample + CHANNEL_MOMENTS_PREFETCH_SAMPLES < samples) {
            NAME(prefetch_lines)(input + offset + CHANNEL_MOMENTS_PREFETCH_SAMPLES * sample_stride, run_length,
                                 CHANNEL_MOMENTS_PREFETCH_BYTES);
        }
        double run_sum, run_squares;
        NAME(shifted_sums_run)(input + offset, run_length, *shift, &run_sum, &run_squares);
        *sum += run_sum;
        *squares += run_squares;
    }
}

/// `NAME(shifted_sums_channel_body)` compiled for AVX-512 (see `NAME(bn_wide_shifted_sums_channel)`).
WIDE_REGISTERS_TARGET static void NAME(shifted_sums_channel_avx512)(
    const SCALAR *input, ptrdiff_t channel, ptrdiff_t samples, ptrdiff_t run_length, ptrdiff_t channel_count,
    const SCALAR *shift, double *sum, double *squares) {
    NAME(shifted_sums_channel_body)(input, channel, samples, run_length, channel_count, shift, sum, squares);
}

/// `FusedPasses.channelWalkTrainingForward`'s moments of one channel: `NAME(bn_wide_shifted_sums_runs)` over
/// the `samples` runs of `channel` (`channel_count` runs apart) about `*shift`, added into `*sum` and `*squares`
/// in sample order (so the same sums), each run `CHANNEL_MOMENTS_PREFETCH_SAMPLES` ahead prefetched (with one
/// ahead, 128x128x14x14 and 256x64x28x28 walked on the Intel host read 2-16% slower than with two;
/// docs/BENCHMARK_NOTES.md, "The in-cache cells on the Intel host, and the walked forward's overhead"). As
/// 512-bit instructions in `float` where the CPU has AVX-512.
WIDE_TARGET void NAME(bn_wide_shifted_sums_channel)(
    const SCALAR *input, ptrdiff_t channel, ptrdiff_t samples, ptrdiff_t run_length, ptrdiff_t channel_count,
    const SCALAR *shift, double *sum, double *squares) {
    if (CHANNEL_WALK_AVX512 && wide_register_rows_available()) {
        NAME(shifted_sums_channel_avx512)(input, channel, samples, run_length, channel_count, shift, sum, squares);
    } else {
        NAME(shifted_sums_channel_body)(input, channel, samples, run_length, channel_count, shift, sum, squares);
    }
}

WIDE_INLINE void NAME(normalize_channel_body)(
    const SCALAR *input, SCALAR *output, ptrdiff_t channel, ptrdiff_t samples, ptrdiff_t run_length,
    ptrdiff_t channel_count, const SCALAR *center, const SCALAR *scale, const SCALAR *shift, const SCALAR *residual,
    int relu, int streaming) {
    ptrdiff_t sample_stride = channel_count * run_length;
    for (ptrdiff_t sample = 0; sample < samples; sample++) {
        ptrdiff_t offset = sample * sample_stride + channel * run_length;
        NAME(normalize_run)(input + offset, output + offset, run_length, center[channel], scale[channel],
                            shift[channel], residual ? residual + offset : 0, relu, streaming);
    }
}

WIDE_INLINE void NAME(normalize_channel_switch)(
    const SCALAR *input, SCALAR *output, ptrdiff_t channel, ptrdiff_t samples, ptrdiff_t run_length,
    ptrdiff_t channel_count, const SCALAR *center, const SCALAR *scale, const SCALAR *shift, const SCALAR *residual,
    int relu, int streaming) {
#define CHANNEL_NORMALIZE(relu, streaming)                                                                     \
    NAME(normalize_channel_body)(input, output, channel, samples, run_length, channel_count, center, scale, shift, \
                                 residual, relu, streaming)
    if (streaming) {
        if (relu) CHANNEL_NORMALIZE(1, 1); else CHANNEL_NORMALIZE(0, 1);
    } else {
        if (relu) CHANNEL_NORMALIZE(1, 0); else CHANNEL_NORMALIZE(0, 0);
    }
#undef CHANNEL_NORMALIZE
}

/// `NAME(normalize_channel_switch)` compiled for AVX-512 (see `NAME(bn_wide_normalize_channel)`).
WIDE_REGISTERS_TARGET static void NAME(normalize_channel_avx512)(
    const SCALAR *input, SCALAR *output, ptrdiff_t channel, ptrdiff_t samples, ptrdiff_t run_length,
    ptrdiff_t channel_count, const SCALAR *center, const SCALAR *scale, const SCALAR *shift, const SCALAR *residual,
    int relu, int streaming) {
    NAME(normalize_channel_switch)(input, output, channel, samples, run_length, channel_count, center, scale, shift,
                                   residual, relu, streaming);
}

/// `FusedPasses.channelWalkTrainingForward`'s `y` of one channel: `NAME(bn_wide_normalize_runs)` over the
/// `samples` runs of `channel` with its coefficients (`center`, `scale` and `shift` per channel). As 512-bit
/// instructions in `float` where the CPU has AVX-512 (the same operations, so the same bits).
WIDE_TARGET void NAME(bn_wide_normalize_channel)(
    const SCALAR *input, SCALAR *output, ptrdiff_t channel, ptrdiff_t samples, ptrdiff_t run_length,
    ptrdiff_t channel_count, const SCALAR *center, const SCALAR *scale, const SCALAR *shift, const SCALAR *residual,
    int relu, int streaming) {
    if (CHANNEL_WALK_AVX512 && wide_register_rows_available()) {
        NAME(normalize_channel_avx512)(input, output, channel, samples, run_length, channel_count, center, scale,
                                       shift, residual, relu, streaming);
    } else {
        NAME(normalize_channel_switch)(input, output, channel, samples, run_length, channel_count, center, scale,
                                       shift, residual, relu, streaming);
    }
}

#undef RUN_EPILOGUE
#undef RUN_INPUT_GRADIENT
