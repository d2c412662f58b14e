// AVX2 + FMA products for the group-whitening kernels on channels-first groups, chosen at run time
// (Kernels/Whitening/WhiteningProducts.swift). Rows are `stride` elements apart; counts, strides and
// depths are element counts. Internal to the Kernels target, not an API.
#ifndef WHITENING_PRODUCTS_H
#define WHITENING_PRODUCTS_H

#include <stddef.h>

/// Output rows per panel of a packed matrix.
#define BN_WHITENING_PANEL_ROWS 6
/// The largest `depth` ``bn_whitening_combine_float`` takes (its row pointers live on the stack).
#define BN_WHITENING_MAXIMUM_DEPTH 256

/// 1 when this CPU runs AVX2 and FMA, else 0; the functions below may be called only then.
int bn_whitening_products_available(void);

/// Elements of a packed `rows × depth` matrix (rows padded to whole panels).
ptrdiff_t bn_whitening_packed_count(ptrdiff_t rows, ptrdiff_t depth);

/// Rows padded to two 256-bit vectors of a scalar of `scalar_size` bytes (the sample-major packing).
ptrdiff_t bn_whitening_padded_rows(ptrdiff_t rows, ptrdiff_t scalar_size);

#define WHITENING_PRODUCTS_DECLARE(SCALAR, SUFFIX)                                                           \
    /* Packs [first | second] (`rows × first_depth` and `rows × second_depth`, row-major, second nullable    \
       when second_depth is 0) into panels of BN_WHITENING_PANEL_ROWS rows for combine. */                  \
    void bn_whitening_pack_##SUFFIX(ptrdiff_t rows, ptrdiff_t first_depth, const SCALAR *first,             \
        ptrdiff_t second_depth, const SCALAR *second, SCALAR *packed);                                       \
    /* output[i][s] = shift[i] + Σ_k matrix[i][k] · (source_k[s] - centers[k]) for i < rows, s < count,      \
       where source_k is first_source + k·source_stride for k < first_depth, else second_source +            \
       (k - first_depth)·source_stride; depth <= BN_WHITENING_MAXIMUM_DEPTH; the output is written, not read; \
       with streaming, mostly by streaming stores (the caller fences). */                                    \
    void bn_whitening_combine_##SUFFIX(ptrdiff_t rows, ptrdiff_t depth, ptrdiff_t count, const SCALAR *packed, \
        const SCALAR *first_source, const SCALAR *second_source, ptrdiff_t first_depth, ptrdiff_t source_stride, \
        const SCALAR *centers, const SCALAR *shift, SCALAR *output, ptrdiff_t output_stride, int streaming); \
    /* product[i·product_stride + j] += Σ_s a_i[s] · b_j[s] for i < a_rows, j < b_rows (j >= i only when     \
       upper), s < count. */                                                                                 \
    void bn_whitening_row_products_##SUFFIX(ptrdiff_t a_rows, const SCALAR *a, ptrdiff_t a_stride,          \
        ptrdiff_t b_rows, const SCALAR *b, ptrdiff_t b_stride, ptrdiff_t count, int upper, SCALAR *product,  \
        ptrdiff_t product_stride);                                                                           \
    /* sums[i·sums_stride] += Σ_s values_i[s] for i < rows, s < count. */                                    \
    void bn_whitening_row_sums_##SUFFIX(ptrdiff_t rows, const SCALAR *values, ptrdiff_t stride,             \
        ptrdiff_t count, SCALAR *sums, ptrdiff_t sums_stride);                                               \
    /* target_r[s] = source_r[s] - centers[r] for r < rows, s < count (one rounding, as in Swift). */        \
    void bn_whitening_centered_copy_##SUFFIX(ptrdiff_t rows, const SCALAR *source, ptrdiff_t source_stride,  \
        ptrdiff_t count, const SCALAR *centers, SCALAR *target, ptrdiff_t target_stride);                    \
    /* target_s[c] = source_s[c] - centers[c] for s < count, c < columns (sample-major rows). */              \
    void bn_whitening_centered_samples_##SUFFIX(ptrdiff_t count, const SCALAR *source, ptrdiff_t source_stride, \
        ptrdiff_t columns, const SCALAR *centers, SCALAR *target, ptrdiff_t target_stride);                  \
    /* Packs [first | second] transposed for combine_rows: packed[k·padded + i] = M[i][k], padded =         \
       bn_whitening_padded_rows(rows, sizeof(SCALAR)) (zeros beyond rows). */                               \
    void bn_whitening_pack_rows_##SUFFIX(ptrdiff_t rows, ptrdiff_t first_depth, const SCALAR *first,        \
        ptrdiff_t second_depth, const SCALAR *second, SCALAR *packed);                                       \
    /* Sample-major: output_s[i] = padded_shift[i] + Σ_k M[i][k] · v_k(s) for i < rows, s < count, where     \
       v_k(s) = first_source[s·first_stride + k] for k < first_depth, else                                   \
       second_source[s·second_stride + k - first_depth]; padded_shift has the padded length. */              \
    void bn_whitening_combine_rows_##SUFFIX(ptrdiff_t rows, ptrdiff_t depth, ptrdiff_t count,               \
        const SCALAR *packed, const SCALAR *padded_shift, const SCALAR *first_source, ptrdiff_t first_stride, \
        const SCALAR *second_source, ptrdiff_t second_stride, ptrdiff_t first_depth, SCALAR *output,         \
        ptrdiff_t output_stride);

WHITENING_PRODUCTS_DECLARE(float, float)
WHITENING_PRODUCTS_DECLARE(double, double)
#undef WHITENING_PRODUCTS_DECLARE

#endif
