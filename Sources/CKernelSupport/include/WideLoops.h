// AVX2 builds of the fused kernels' channels-last loops and channels-first run loops, chosen at run time
// (Kernels/Fused/WideLoops.swift, WideLoops+Runs.swift). Each is bit-identical to the Swift loop it
// replaces (see WideLoopsTemplate.h, RunLoopsTemplate.h); pointers may be null
// where the comment says so. Internal to the Kernels target, not an API.
#ifndef WIDE_LOOPS_H
#define WIDE_LOOPS_H

#include <stddef.h>

/// 1 when this CPU runs AVX2 (and the OS saves its registers), else 0; the functions below may be
/// called only then.
int bn_wide_loops_available(void);

/// 1 when this CPU also runs AVX-512 (the register rows' loops), else 0; valid after
/// `bn_wide_loops_available` has returned 1.
int bn_wide_avx512_available(void);

/// The bytes of one core's level-2 cache as `sysconf` reports it (glibc reads them from `cpuid`), or 0 where
/// the system does not say: the channels-first walk's limit on AVX-512 CPUs (Fused.walksChannels).
long bn_level2_cache_bytes(void);

/// The row sums' `choices` argument, bits (Fused.RowLoopChoices says when each pays): the tensor streams
/// from memory, so the gradient sums' rows walked one by one prefetch their data ahead where the CPU has
/// AVX-512, and elsewhere the moments walk rows under 4 KiB one by one with the prefetch instead of in
/// blocks; the AVX-512 register rows prefetch theirs; the gradient sums (plain, or masked by the bound)
/// walk rows too wide for the register rows in register tiles at every width (without it, only the plain
/// sums where the row loop would walk row blocks, and not with BN_WIDE_PREFETCH_ROWS).
#define BN_WIDE_PREFETCH_ROWS 1
#define BN_WIDE_PREFETCH_REGISTER_ROWS 2
#define BN_WIDE_REGISTER_TILES 4

#define WIDE_LOOPS_DECLARE(SCALAR, SUFFIX)                                                                   \
    void bn_wide_shifted_sums_rows_##SUFFIX(                                                                 \
        const SCALAR *values, ptrdiff_t rows, ptrdiff_t channel_count, const SCALAR *shift, SCALAR *sums, SCALAR *squares, \
        int choices);                                                                                       \
    void bn_wide_add_head_rows_##SUFFIX(                                                                     \
        const SCALAR *values, ptrdiff_t rows, ptrdiff_t row_length, ptrdiff_t count, double *sums,            \
        double *squares /* nullable */, const double *centers /* nullable; only with squares */);            \
    void bn_wide_flush_accumulators_##SUFFIX(                                                                \
        const SCALAR *first_accumulator, const SCALAR *second_accumulator, double *first, double *second,    \
        ptrdiff_t count);                                                                                    \
    void bn_wide_normalize_interleaved_##SUFFIX(                                                             \
        const SCALAR *input, SCALAR *output, ptrdiff_t count, ptrdiff_t head, ptrdiff_t channel_count, ptrdiff_t first_channel,  \
        const SCALAR *center, const SCALAR *scale, const SCALAR *shift, const SCALAR *residual /* nullable */, \
        int relu, int streaming);                                                                            \
    int bn_wide_normalize_tiles_##SUFFIX(ptrdiff_t channel_count, int residual);                             \
    void bn_wide_gradient_sums_rows_##SUFFIX(                                                                \
        const SCALAR *input, const SCALAR *gradient, ptrdiff_t rows, ptrdiff_t channel_count, const SCALAR *center,    \
        const SCALAR *forward_output /* nullable */, SCALAR *masked_gradient /* nullable */,                 \
        const SCALAR *bound /* nullable */, SCALAR *sum_gradient, SCALAR *sum_product, int choices);        \
    void bn_wide_masked_gradient_##SUFFIX(                                                                   \
        const SCALAR *gradient, const SCALAR *forward_output, SCALAR *masked_gradient, ptrdiff_t count,       \
        int streaming);                                                                                      \
    void bn_wide_input_gradient_interleaved_##SUFFIX(                                                        \
        const SCALAR *input, const SCALAR *gradient, SCALAR *input_gradient, ptrdiff_t count, ptrdiff_t head,          \
        ptrdiff_t channel_count, ptrdiff_t first_channel, const SCALAR *center, const SCALAR *k,                       \
        const SCALAR *p /* nullable */, const SCALAR *q, const SCALAR *bound /* nullable */, int streaming);    \
    void bn_wide_normalize_runs_##SUFFIX(                                                                    \
        const SCALAR *input, SCALAR *output, ptrdiff_t first_run, ptrdiff_t run_count, ptrdiff_t run_length,           \
        ptrdiff_t channel_count, const SCALAR *center, const SCALAR *scale, const SCALAR *shift,                       \
        const SCALAR *residual /* nullable */, int relu, int streaming);                                     \
    void bn_wide_input_gradient_runs_##SUFFIX(                                                               \
        const SCALAR *input, const SCALAR *gradient, SCALAR *input_gradient, ptrdiff_t first_run, ptrdiff_t run_count, \
        ptrdiff_t run_length, ptrdiff_t channel_count, const SCALAR *center, const SCALAR *k,                         \
        const SCALAR *p /* nullable */, const SCALAR *q, const SCALAR *bound /* nullable */, int streaming);    \
    void bn_wide_shifted_sums_runs_##SUFFIX(                                                                 \
        const SCALAR *input, ptrdiff_t first_run, ptrdiff_t run_count, ptrdiff_t run_length, ptrdiff_t channel_count,  \
        const SCALAR *shift, double *sums, double *squares);                                                  \
    void bn_wide_gradient_sums_runs_##SUFFIX(                                                                \
        const SCALAR *input, const SCALAR *gradient, ptrdiff_t first_run, ptrdiff_t run_count, ptrdiff_t run_length,   \
        ptrdiff_t channel_count, const SCALAR *center, const SCALAR *forward_output /* nullable */,            \
        SCALAR *masked_gradient /* nullable */, const SCALAR *bound /* nullable */, double *sum_gradient,     \
        double *sum_product);                                                                                \
    void bn_wide_gradient_sums_channel_##SUFFIX(                                                             \
        const SCALAR *input, const SCALAR *gradient, ptrdiff_t channel, ptrdiff_t samples, ptrdiff_t run_length,      \
        ptrdiff_t channel_count, const SCALAR *center, const SCALAR *forward_output /* nullable */,            \
        SCALAR *masked_gradient /* nullable */, const SCALAR *bound /* nullable */, double *sum_gradient,     \
        double *sum_product);                                                                                \
    void bn_wide_input_gradient_channel_##SUFFIX(                                                            \
        const SCALAR *input, const SCALAR *gradient, const SCALAR *forward_output /* nullable */,              \
        SCALAR *scratch /* nullable */, SCALAR *input_gradient, ptrdiff_t channel, ptrdiff_t samples,           \
        ptrdiff_t run_length, ptrdiff_t channel_count, const SCALAR *center, const SCALAR *k, const SCALAR *p, \
        const SCALAR *q, const SCALAR *bound /* nullable */, int streaming);                                \
    void bn_wide_shifted_sums_channel_##SUFFIX(                                                              \
        const SCALAR *input, ptrdiff_t channel, ptrdiff_t samples, ptrdiff_t run_length, ptrdiff_t channel_count,      \
        const SCALAR *shift, double *sum, double *squares);                                                  \
    void bn_wide_normalize_channel_##SUFFIX(                                                                 \
        const SCALAR *input, SCALAR *output, ptrdiff_t channel, ptrdiff_t samples, ptrdiff_t run_length,              \
        ptrdiff_t channel_count, const SCALAR *center, const SCALAR *scale, const SCALAR *shift,                       \
        const SCALAR *residual /* nullable */, int relu, int streaming);

WIDE_LOOPS_DECLARE(float, float)
WIDE_LOOPS_DECLARE(double, double)
#undef WIDE_LOOPS_DECLARE

#endif
