// The AVX2 + FMA builds of the group-whitening products (WhiteningProductsTemplate.h), one per precision,
// and the run-time check that says whether this CPU may call them. Only these functions are compiled
// for AVX2 + FMA (`__attribute__((target))`), so the package needs no build flags and runs on any
// x86-64; elsewhere they are plain C that the Swift side never calls (bn_whitening_products_available()
// is 0) and OpenBLAS does the products.
#include "WhiteningProducts.h"

#include <stdint.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define WP_TARGET __attribute__((target("avx2,fma")))
#define WP_AVAILABLE 1
#else
#define WP_AVAILABLE 0
#endif

int bn_whitening_products_available(void) {
#if WP_AVAILABLE
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
#else
    return 0;
#endif
}

ptrdiff_t bn_whitening_padded_rows(ptrdiff_t rows, ptrdiff_t scalar_size) {
    ptrdiff_t step = 2 * 32 / scalar_size;
    return (rows + step - 1) / step * step;
}

ptrdiff_t bn_whitening_packed_count(ptrdiff_t rows, ptrdiff_t depth) {
    return (rows + BN_WHITENING_PANEL_ROWS - 1) / BN_WHITENING_PANEL_ROWS * BN_WHITENING_PANEL_ROWS * depth;
}

#if WP_AVAILABLE
#define WP_ROWS BN_WHITENING_PANEL_ROWS
// How far ahead of the tile the first row block's pass prefetches each source row.
#define WP_PREFETCH_BYTES 256
// Samples per tile of the sample-major combine.
#define WP_ROW_SAMPLES 6

#define SCALAR float
#define VECTOR __m256
#define LANES 8
#define MASK __m256i
#define SET1 _mm256_set1_ps
#define LOAD _mm256_loadu_ps
#define MASKLOAD _mm256_maskload_ps
#define STORE _mm256_storeu_ps
#define STREAM _mm256_stream_ps
#define MASKSTORE _mm256_maskstore_ps
#define FMA _mm256_fmadd_ps
#define SUB _mm256_sub_ps
#define ADD _mm256_add_ps
// Lanes `0 ..< n` set (n clamped to 0 ... 8).
#define MASKFOR(n) _mm256_cmpgt_epi32(                                                                      \
    _mm256_set1_epi32((int)((n) < 0 ? 0 : (n) > 8 ? 8 : (n))), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
// The lane sums of four vectors, stored to `totals[0 ..< 4]` (a pairwise tree, not lane order).
#define SUM4(s0, s1, s2, s3, totals) do {                                                                   \
    __m256 sum4_ = _mm256_hadd_ps(_mm256_hadd_ps((s0), (s1)), _mm256_hadd_ps((s2), (s3)));                  \
    _mm_storeu_ps((totals), _mm_add_ps(_mm256_castps256_ps128(sum4_), _mm256_extractf128_ps(sum4_, 1)));    \
} while (0)
#define NAME(name) name##_float
#include "WhiteningProductsTemplate.h"
#undef SCALAR
#undef VECTOR
#undef LANES
#undef MASK
#undef SET1
#undef LOAD
#undef MASKLOAD
#undef STORE
#undef STREAM
#undef MASKSTORE
#undef FMA
#undef SUB
#undef ADD
#undef MASKFOR
#undef SUM4
#undef NAME

#define SCALAR double
#define VECTOR __m256d
#define LANES 4
#define MASK __m256i
#define SET1 _mm256_set1_pd
#define LOAD _mm256_loadu_pd
#define MASKLOAD _mm256_maskload_pd
#define STORE _mm256_storeu_pd
#define STREAM _mm256_stream_pd
#define MASKSTORE _mm256_maskstore_pd
#define FMA _mm256_fmadd_pd
#define SUB _mm256_sub_pd
#define ADD _mm256_add_pd
#define MASKFOR(n) _mm256_cmpgt_epi64(                                                                      \
    _mm256_set1_epi64x((long long)((n) < 0 ? 0 : (n) > 4 ? 4 : (n))), _mm256_setr_epi64x(0, 1, 2, 3))
#define SUM4(s0, s1, s2, s3, totals) do {                                                                   \
    __m256d pairs01_ = _mm256_hadd_pd((s0), (s1)), pairs23_ = _mm256_hadd_pd((s2), (s3));                   \
    _mm256_storeu_pd((totals), _mm256_add_pd(_mm256_permute2f128_pd(pairs01_, pairs23_, 0x20),              \
        _mm256_permute2f128_pd(pairs01_, pairs23_, 0x31)));                                                  \
} while (0)
#define NAME(name) name##_double
#include "WhiteningProductsTemplate.h"
#undef SCALAR
#undef VECTOR
#undef LANES
#undef MASK
#undef SET1
#undef LOAD
#undef MASKLOAD
#undef STORE
#undef STREAM
#undef MASKSTORE
#undef FMA
#undef SUB
#undef ADD
#undef MASKFOR
#undef SUM4
#undef NAME

#else
// Other architectures: never called (bn_whitening_products_available() is 0).
#define WP_UNAVAILABLE(SCALAR, SUFFIX)                                                                       \
    void bn_whitening_pack_##SUFFIX(ptrdiff_t rows, ptrdiff_t first_depth, const SCALAR *first,             \
        ptrdiff_t second_depth, const SCALAR *second, SCALAR *packed) { __builtin_trap(); }                  \
    void bn_whitening_combine_##SUFFIX(ptrdiff_t rows, ptrdiff_t depth, ptrdiff_t count, const SCALAR *packed, \
        const SCALAR *first_source, const SCALAR *second_source, ptrdiff_t first_depth, ptrdiff_t source_stride, \
        const SCALAR *centers, const SCALAR *shift, SCALAR *output, ptrdiff_t output_stride, int streaming) { __builtin_trap(); } \
    void bn_whitening_row_products_##SUFFIX(ptrdiff_t a_rows, const SCALAR *a, ptrdiff_t a_stride,          \
        ptrdiff_t b_rows, const SCALAR *b, ptrdiff_t b_stride, ptrdiff_t count, int upper, SCALAR *product,  \
        ptrdiff_t product_stride) { __builtin_trap(); }                                                      \
    void bn_whitening_row_sums_##SUFFIX(ptrdiff_t rows, const SCALAR *values, ptrdiff_t stride,             \
        ptrdiff_t count, SCALAR *sums, ptrdiff_t sums_stride) { __builtin_trap(); }                          \
    void bn_whitening_centered_copy_##SUFFIX(ptrdiff_t rows, const SCALAR *source, ptrdiff_t source_stride,  \
        ptrdiff_t count, const SCALAR *centers, SCALAR *target, ptrdiff_t target_stride) { __builtin_trap(); } \
    void bn_whitening_centered_samples_##SUFFIX(ptrdiff_t count, const SCALAR *source, ptrdiff_t source_stride, \
        ptrdiff_t columns, const SCALAR *centers, SCALAR *target, ptrdiff_t target_stride) { __builtin_trap(); } \
    void bn_whitening_pack_rows_##SUFFIX(ptrdiff_t rows, ptrdiff_t first_depth, const SCALAR *first,        \
        ptrdiff_t second_depth, const SCALAR *second, SCALAR *packed) { __builtin_trap(); }                  \
    void bn_whitening_combine_rows_##SUFFIX(ptrdiff_t rows, ptrdiff_t depth, ptrdiff_t count,               \
        const SCALAR *packed, const SCALAR *padded_shift, const SCALAR *first_source, ptrdiff_t first_stride, \
        const SCALAR *second_source, ptrdiff_t second_stride, ptrdiff_t first_depth, SCALAR *output,         \
        ptrdiff_t output_stride) { __builtin_trap(); }
WP_UNAVAILABLE(float, float)
WP_UNAVAILABLE(double, double)
#endif
