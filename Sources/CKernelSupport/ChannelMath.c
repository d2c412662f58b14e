// The per-channel arithmetic of ChannelMath.h.
#include "ChannelMath.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#pragma STDC FP_CONTRACT OFF

void bn_inverse_square_roots(const double *variance, double epsilon, double *result, ptrdiff_t count) {
    ptrdiff_t index = 0;
#if defined(__SSE2__)
    const __m128d epsilon_vector = _mm_set1_pd(epsilon), one = _mm_set1_pd(1.0);
    for (; index + 2 <= count; index += 2) {
        const __m128d shifted = _mm_add_pd(_mm_loadu_pd(variance + index), epsilon_vector);
        _mm_storeu_pd(result + index, _mm_div_pd(one, _mm_sqrt_pd(shifted)));
    }
#endif
    for (; index < count; index++) result[index] = 1.0 / __builtin_sqrt(variance[index] + epsilon);
}

// MARK: - AVX builds (the divider's four lanes)
//
// On the x86-64 baseline (SSE2) a division or square root takes two lanes per instruction; the CPUs this
// library is tuned on divide four lanes per instruction in the same time with AVX (a micro-benchmark on
// Zen 4: 0.61 against 0.31 ns per double division, 1.14 against 0.57 per square root). Each function does
// the same correctly rounded operations per element as its scalar expression, so the results are the same
// bits. Called only when the CPU has AVX2 (Kernels' `Fused.WideLoops.enabled`).

#if defined(__x86_64__)
#define CHANNEL_AVX __attribute__((target("avx")))
#else
#define CHANNEL_AVX
#endif

typedef double channel_double4 __attribute__((ext_vector_type(4)));
typedef float channel_float4 __attribute__((ext_vector_type(4)));
typedef long long channel_long4 __attribute__((ext_vector_type(4)));
/// All ones in the lanes where `x` is finite (`x - x == 0`, as `ChannelLoops.isFinite`).
#define CHANNEL_FINITE(x) ((x) - (x) == (channel_double4)0)

/// `ErrorFreeSums.finiteOrZero` lane by lane: the lanes that are not finite zeroed by their bits.
CHANNEL_AVX static inline channel_double4 channel_finite_or_zero(channel_double4 x) {
    return (channel_double4)((channel_long4)x & CHANNEL_FINITE(x));
}

#define CHANNEL_LOAD(T, pointer) ({ T channel_value_; __builtin_memcpy(&channel_value_, (pointer), sizeof channel_value_); channel_value_; })
#define CHANNEL_STORE(T, pointer, value) do { T channel_value_ = (value); __builtin_memcpy((pointer), &channel_value_, sizeof channel_value_); } while (0)

// MARK: Divisions by a power of two
//
// `x / n` and `x · (1/n)` are the same correctly rounded value of the same real number when `n` is a power of
// two whose reciprocal is a normal double (`1/n` exact), for every `x`, infinities, zeros, NaN and subnormal
// results included. The per-channel steps divide by a channel's value count several times per channel, and
// the divider is their bottleneck (a `[N, C]` of few rows: docs/BENCHMARK_NOTES.md, "Per-channel steps of a
// wide [N, C]"), so a count that is a power of two (a batch of 8, 32 or 64 rows) multiplies instead: the
// same bits. Each loop is instantiated twice, `by_reciprocal` constant in each.

/// Whether `count` is a positive power of two with a normal reciprocal.
static inline int channel_exact_reciprocal(double count) {
    int exponent;
    return __builtin_frexp(count, &exponent) == 0.5 && exponent <= 1000 && exponent >= -1000;
}

#define CHANNEL_DIVIDE(x, by_reciprocal, divisor, reciprocal) ((by_reciprocal) ? (x) * (reciprocal) : (x) / (divisor))

CHANNEL_AVX __attribute__((always_inline)) static inline void channel_quotients(
    const double *dividend, double divisor, double *quotient, ptrdiff_t count, const int by_reciprocal) {
    const double reciprocal = 1 / divisor;
    const channel_double4 divisor_vector = divisor, reciprocal_vector = reciprocal;
    ptrdiff_t index = 0;
    for (; index + 4 <= count; index += 4) {
        CHANNEL_STORE(channel_double4, quotient + index,
                      CHANNEL_DIVIDE(CHANNEL_LOAD(channel_double4, dividend + index), by_reciprocal, divisor_vector,
                                     reciprocal_vector));
    }
    for (; index < count; index++) quotient[index] = CHANNEL_DIVIDE(dividend[index], by_reciprocal, divisor, reciprocal);
}

CHANNEL_AVX void bn_quotients_avx(const double *dividend, double divisor, double *quotient, ptrdiff_t count) {
    if (channel_exact_reciprocal(divisor)) {
        channel_quotients(dividend, divisor, quotient, count, 1);
    } else {
        channel_quotients(dividend, divisor, quotient, count, 0);
    }
}

CHANNEL_AVX void bn_inverse_square_roots_avx(const double *variance, double epsilon, double *result, ptrdiff_t count) {
    const channel_double4 epsilon_vector = epsilon;
    ptrdiff_t index = 0;
    for (; index + 4 <= count; index += 4) {
        channel_double4 shifted = CHANNEL_LOAD(channel_double4, variance + index) + epsilon_vector;
        CHANNEL_STORE(channel_double4, result + index, 1.0 / __builtin_elementwise_sqrt(shifted));
    }
    for (; index < count; index++) result[index] = 1.0 / __builtin_sqrt(variance[index] + epsilon);
}

// The training backward's per-channel step (Kernels' `BatchNormKernels.trainingChannelStep`), in `double`:
// dγ = invstd·S_xy, k = γ·invstd, centered scale = -k·invstd·dγ/M, bias = -k·S_y/M, each rounded once to
// the scalar type.
#define CHANNEL_STEPS(SCALAR, VECTOR, SUFFIX)                                                                  \
    CHANNEL_AVX __attribute__((always_inline)) static inline void training_channel_steps_##SUFFIX(           \
        const SCALAR *sum_gradient, const SCALAR *sum_product, const SCALAR *inverse_standard_deviation,     \
        const SCALAR *gamma, double count, SCALAR *grad_gamma, SCALAR *gradient_scale, SCALAR *centered_scale, \
        SCALAR *bias, ptrdiff_t channel_count, const int by_reciprocal) {                                    \
        const channel_double4 count_vector = count, reciprocal_vector = 1 / count;                           \
        const double reciprocal = 1 / count;                                                                 \
        ptrdiff_t c = 0;                                                                                     \
        for (; c + 4 <= channel_count; c += 4) {                                                             \
            channel_double4 invstd = __builtin_convertvector(CHANNEL_LOAD(VECTOR, inverse_standard_deviation + c), channel_double4); \
            channel_double4 d_gamma = invstd * __builtin_convertvector(CHANNEL_LOAD(VECTOR, sum_product + c), channel_double4); \
            channel_double4 k = __builtin_convertvector(CHANNEL_LOAD(VECTOR, gamma + c), channel_double4) * invstd; \
            channel_double4 d_beta = __builtin_convertvector(CHANNEL_LOAD(VECTOR, sum_gradient + c), channel_double4); \
            CHANNEL_STORE(VECTOR, grad_gamma + c, __builtin_convertvector(d_gamma, VECTOR));                 \
            CHANNEL_STORE(VECTOR, gradient_scale + c, __builtin_convertvector(k, VECTOR));                   \
            CHANNEL_STORE(VECTOR, centered_scale + c,                                                        \
                          __builtin_convertvector(                                                           \
                              CHANNEL_DIVIDE(-k * invstd * d_gamma, by_reciprocal, count_vector, reciprocal_vector), \
                              VECTOR));                                                                      \
            CHANNEL_STORE(VECTOR, bias + c, __builtin_convertvector(                                         \
                CHANNEL_DIVIDE(-k * d_beta, by_reciprocal, count_vector, reciprocal_vector), VECTOR));       \
        }                                                                                                    \
        for (; c < channel_count; c++) {                                                                     \
            double invstd = (double)inverse_standard_deviation[c], d_gamma = invstd * (double)sum_product[c]; \
            double k = (double)gamma[c] * invstd;                                                            \
            grad_gamma[c] = (SCALAR)d_gamma;                                                                 \
            gradient_scale[c] = (SCALAR)k;                                                                   \
            centered_scale[c] = (SCALAR)CHANNEL_DIVIDE(-k * invstd * d_gamma, by_reciprocal, count, reciprocal); \
            bias[c] = (SCALAR)CHANNEL_DIVIDE(-k * (double)sum_gradient[c], by_reciprocal, count, reciprocal); \
        }                                                                                                    \
    }                                                                                                        \
    CHANNEL_AVX void bn_training_channel_steps_avx_##SUFFIX(                                                 \
        const SCALAR *sum_gradient, const SCALAR *sum_product, const SCALAR *inverse_standard_deviation,     \
        const SCALAR *gamma, double count, SCALAR *grad_gamma, SCALAR *gradient_scale, SCALAR *centered_scale, \
        SCALAR *bias, ptrdiff_t channel_count) {                                                             \
        if (channel_exact_reciprocal(count)) {                                                               \
            training_channel_steps_##SUFFIX(sum_gradient, sum_product, inverse_standard_deviation, gamma, count, \
                                            grad_gamma, gradient_scale, centered_scale, bias, channel_count, 1); \
        } else {                                                                                             \
            training_channel_steps_##SUFFIX(sum_gradient, sum_product, inverse_standard_deviation, gamma, count, \
                                            grad_gamma, gradient_scale, centered_scale, bias, channel_count, 0); \
        }                                                                                                    \
    }
CHANNEL_STEPS(float, channel_float4, float)
CHANNEL_STEPS(double, channel_double4, double)
#undef CHANNEL_STEPS

// MARK: Coefficients of the elementwise step
//
// `scale = γ·invstd` (`foldedScale`; `invstd` where `gamma` is NULL) and `folded_shift = β - low·scale`
// (`ChannelCenter.foldingLowWord`; β 0 where `beta` is NULL, `low` 0 where `low` is NULL), in double, each
// rounded once to the scalar type: the same bits as Kernels' passes, without their intermediate arrays (and
// the zeros an absent β took).
#define CHANNEL_COEFFICIENTS(SCALAR, VECTOR, SUFFIX)                                                          \
    /* Four channels from `c`, given their `invstd` words. */                                                \
    CHANNEL_AVX __attribute__((always_inline)) static inline void coefficients_step_##SUFFIX(                \
        VECTOR inverse_standard_deviation, ptrdiff_t c, const SCALAR *low, const SCALAR *gamma,             \
        const SCALAR *beta, SCALAR *scale, SCALAR *folded_shift) {                                           \
        const channel_double4 zero = 0;                                                                      \
        VECTOR scale_word = inverse_standard_deviation;                                                      \
        if (gamma) {                                                                                         \
            scale_word = __builtin_convertvector(                                                            \
                __builtin_convertvector(CHANNEL_LOAD(VECTOR, gamma + c), channel_double4)                    \
                    * __builtin_convertvector(scale_word, channel_double4), VECTOR);                         \
        }                                                                                                    \
        const channel_double4 shift_ = beta                                                                  \
            ? __builtin_convertvector(CHANNEL_LOAD(VECTOR, beta + c), channel_double4) : zero;               \
        const channel_double4 low_ = low                                                                     \
            ? __builtin_convertvector(CHANNEL_LOAD(VECTOR, low + c), channel_double4) : zero;                \
        CHANNEL_STORE(VECTOR, scale + c, scale_word);                                                        \
        CHANNEL_STORE(VECTOR, folded_shift + c, __builtin_convertvector(                                     \
            shift_ - low_ * __builtin_convertvector(scale_word, channel_double4), VECTOR));                  \
    }                                                                                                        \
    /* Channel `c` alone. */                                                                                 \
    static inline void coefficients_one_##SUFFIX(                                                            \
        SCALAR inverse_standard_deviation, ptrdiff_t c, const SCALAR *low, const SCALAR *gamma,             \
        const SCALAR *beta, SCALAR *scale, SCALAR *folded_shift) {                                           \
        SCALAR scale_word = inverse_standard_deviation;                                                      \
        if (gamma) scale_word = (SCALAR)((double)gamma[c] * (double)scale_word);                             \
        scale[c] = scale_word;                                                                               \
        folded_shift[c] = (SCALAR)((beta ? (double)beta[c] : 0.0) - (low ? (double)low[c] : 0.0) * (double)scale_word); \
    }                                                                                                        \
    /* The inference forward's (Kernels' `ChannelLoops.inferenceCoefficients`): `invstd = 1 / sqrt(variance + */ \
    /* epsilon)` rounded once (`BatchNormKernels.inverseStandardDeviation(variance:epsilon:)`), no low word. */ \
    CHANNEL_AVX void bn_inference_coefficients_avx_##SUFFIX(                                                 \
        const SCALAR *variance, const SCALAR *gamma, const SCALAR *beta, double epsilon, SCALAR *scale,      \
        SCALAR *folded_shift, ptrdiff_t channel_count) {                                                     \
        const channel_double4 epsilon_vector = epsilon;                                                      \
        ptrdiff_t c = 0;                                                                                     \
        for (; c + 4 <= channel_count; c += 4) {                                                             \
            const channel_double4 shifted =                                                                  \
                __builtin_convertvector(CHANNEL_LOAD(VECTOR, variance + c), channel_double4) + epsilon_vector; \
            coefficients_step_##SUFFIX(__builtin_convertvector(1.0 / __builtin_elementwise_sqrt(shifted), VECTOR), \
                                       c, 0, gamma, beta, scale, folded_shift);                              \
        }                                                                                                    \
        for (; c < channel_count; c++) {                                                                     \
            coefficients_one_##SUFFIX((SCALAR)(1.0 / __builtin_sqrt((double)variance[c] + epsilon)), c, 0, gamma, \
                                      beta, scale, folded_shift);                                            \
        }                                                                                                    \
    }                                                                                                        \
    /* The training forward's (Kernels' `FusedPasses.trainingCoefficients`), from its `invstd` words. */      \
    CHANNEL_AVX void bn_training_coefficients_avx_##SUFFIX(                                                  \
        const SCALAR *inverse_standard_deviation, const SCALAR *low, const SCALAR *gamma, const SCALAR *beta, \
        SCALAR *scale, SCALAR *folded_shift, ptrdiff_t channel_count) {                                      \
        ptrdiff_t c = 0;                                                                                     \
        for (; c + 4 <= channel_count; c += 4) {                                                             \
            coefficients_step_##SUFFIX(CHANNEL_LOAD(VECTOR, inverse_standard_deviation + c), c, low, gamma, beta, \
                                       scale, folded_shift);                                                 \
        }                                                                                                    \
        for (; c < channel_count; c++) {                                                                     \
            coefficients_one_##SUFFIX(inverse_standard_deviation[c], c, low, gamma, beta, scale, folded_shift); \
        }                                                                                                    \
    }
CHANNEL_COEFFICIENTS(float, channel_float4, float)
CHANNEL_COEFFICIENTS(double, channel_double4, double)
#undef CHANNEL_COEFFICIENTS

// The running statistics' update in one loop (BatchNormKit's `BatchNorm.updateRunningStatistics`, its two
// loops and `ChannelMoments.unbiasedVariance`'s quotients): per channel the same operations in the same
// order, `M2 / divisor` in the scalar type, the blend in double rounded once, so the same bits.
#define CHANNEL_RUNNING(SCALAR, VECTOR, SUFFIX)                                                               \
    CHANNEL_AVX void bn_update_running_statistics_avx_##SUFFIX(                                              \
        SCALAR *running_mean, SCALAR *running_variance, const SCALAR *mean,                                  \
        const SCALAR *sum_of_squared_deviations, SCALAR divisor, double factor, ptrdiff_t channel_count) {   \
        const double keep = 1 - factor;                                                                      \
        const channel_double4 keep_vector = keep, factor_vector = factor;                                    \
        const VECTOR divisor_vector = divisor;                                                               \
        ptrdiff_t c = 0;                                                                                     \
        for (; c + 4 <= channel_count; c += 4) {                                                             \
            const channel_double4 old_mean = __builtin_convertvector(CHANNEL_LOAD(VECTOR, running_mean + c), channel_double4); \
            const channel_double4 batch_mean = __builtin_convertvector(CHANNEL_LOAD(VECTOR, mean + c), channel_double4); \
            CHANNEL_STORE(VECTOR, running_mean + c,                                                          \
                          __builtin_convertvector(keep_vector * old_mean + factor_vector * batch_mean, VECTOR)); \
            const VECTOR unbiased = CHANNEL_LOAD(VECTOR, sum_of_squared_deviations + c) / divisor_vector;    \
            const channel_double4 old_variance =                                                             \
                __builtin_convertvector(CHANNEL_LOAD(VECTOR, running_variance + c), channel_double4);        \
            CHANNEL_STORE(VECTOR, running_variance + c, __builtin_convertvector(                             \
                keep_vector * old_variance + factor_vector * __builtin_convertvector(unbiased, channel_double4), VECTOR)); \
        }                                                                                                    \
        for (; c < channel_count; c++) {                                                                     \
            running_mean[c] = (SCALAR)(keep * (double)running_mean[c] + factor * (double)mean[c]);           \
            const SCALAR unbiased = sum_of_squared_deviations[c] / divisor;                                  \
            running_variance[c] = (SCALAR)(keep * (double)running_variance[c] + factor * (double)unbiased);  \
        }                                                                                                    \
    }
CHANNEL_RUNNING(float, channel_float4, float)
CHANNEL_RUNNING(double, channel_double4, double)
#undef CHANNEL_RUNNING

// The vector loop of the one-loop training statistics (Kernels' `ChannelLoops.finishChannels`) for
// `channel_count` channels, a multiple of 4: per channel `M2 = S2 - S1²/n` and the one-pass check, the
// two-word mean `shift + S1/n` by TwoSum (its error 0 where not finite), the mean, its low word and
// `max(M2, 0)` rounded to the scalar type, and `invstd = 1 / sqrt(max(M2, 0)/n + epsilon)` rounded to it
// (`ChannelLoops.inverseSquareRoots`' operations, in the same loop: no `Double` row of variances between
// two passes). The operations and their order are the Swift loops', so the same bits. Returns 1 when some
// channel is not ordinary (a non-finite M2, S2 or mean, S2 beyond `maximum_amplification`·M2, or an M2
// beyond the scalar type's range).
#define CHANNEL_FINISH(SCALAR, VECTOR, SUFFIX)                                                                \
    CHANNEL_AVX __attribute__((always_inline)) static inline int finish_channels_##SUFFIX(                   \
        const SCALAR *shift, const double *sums, const double *squares, double count,                        \
        double maximum_amplification, double epsilon, SCALAR *mean_out, SCALAR *mean_low_out, SCALAR *m2_out, \
        SCALAR *inverse_standard_deviation_out, ptrdiff_t channel_count, const int by_reciprocal) {          \
        const channel_double4 n = count, amplification = maximum_amplification, zero = 0;                    \
        const channel_double4 epsilon_vector = epsilon, reciprocal = 1 / count;                              \
        channel_long4 rejected = 0;                                                                          \
        for (ptrdiff_t c = 0; c + 4 <= channel_count; c += 4) {                                              \
            channel_double4 sum = CHANNEL_LOAD(channel_double4, sums + c);                                   \
            channel_double4 squares_ = CHANNEL_LOAD(channel_double4, squares + c);                           \
            channel_double4 m2 = squares_ - CHANNEL_DIVIDE(sum * sum, by_reciprocal, n, reciprocal);         \
            rejected |= ~(CHANNEL_FINITE(m2) & CHANNEL_FINITE(squares_));                                    \
            rejected |= (squares_ > amplification * m2) & (squares_ > zero);                                 \
            channel_double4 shift_ = __builtin_convertvector(CHANNEL_LOAD(VECTOR, shift + c), channel_double4); \
            channel_double4 quotient = CHANNEL_DIVIDE(sum, by_reciprocal, n, reciprocal);                    \
            channel_double4 mean = shift_ + quotient;                                                        \
            channel_double4 a_part = mean - quotient;                                                        \
            channel_double4 low = channel_finite_or_zero((shift_ - a_part) + (quotient - (mean - a_part)));  \
            rejected |= ~CHANNEL_FINITE(mean);                                                               \
            channel_double4 non_negative = (channel_double4)((channel_long4)m2 & ~(m2 < zero));              \
            const channel_double4 variance = CHANNEL_DIVIDE(non_negative, by_reciprocal, n, reciprocal);     \
            const channel_double4 inverse = 1.0 / __builtin_elementwise_sqrt(variance + epsilon_vector);     \
            CHANNEL_STORE(VECTOR, inverse_standard_deviation_out + c, __builtin_convertvector(inverse, VECTOR)); \
            VECTOR mean_word = __builtin_convertvector(mean, VECTOR);                                        \
            CHANNEL_STORE(VECTOR, mean_out + c, mean_word);                                                  \
            channel_double4 rest = channel_finite_or_zero(                                                   \
                (mean - __builtin_convertvector(mean_word, channel_double4)) + low);                         \
            CHANNEL_STORE(VECTOR, mean_low_out + c, __builtin_convertvector(rest, VECTOR));                  \
            VECTOR m2_word = __builtin_convertvector(non_negative, VECTOR);                                  \
            CHANNEL_STORE(VECTOR, m2_out + c, m2_word);                                                      \
            rejected |= ~CHANNEL_FINITE(__builtin_convertvector(m2_word, channel_double4));                  \
        }                                                                                                    \
        return (rejected[0] | rejected[1] | rejected[2] | rejected[3]) != 0;                                 \
    }                                                                                                        \
    CHANNEL_AVX int bn_finish_channels_avx_##SUFFIX(                                                         \
        const SCALAR *shift, const double *sums, const double *squares, double count,                        \
        double maximum_amplification, double epsilon, SCALAR *mean_out, SCALAR *mean_low_out, SCALAR *m2_out, \
        SCALAR *inverse_standard_deviation_out, ptrdiff_t channel_count) {                                   \
        if (channel_exact_reciprocal(count)) {                                                               \
            return finish_channels_##SUFFIX(shift, sums, squares, count, maximum_amplification, epsilon,     \
                                            mean_out, mean_low_out, m2_out, inverse_standard_deviation_out,  \
                                            channel_count, 1);                                               \
        }                                                                                                    \
        return finish_channels_##SUFFIX(shift, sums, squares, count, maximum_amplification, epsilon, mean_out, \
                                        mean_low_out, m2_out, inverse_standard_deviation_out, channel_count, 0); \
    }
CHANNEL_FINISH(float, channel_float4, float)
CHANNEL_FINISH(double, channel_double4, double)
#undef CHANNEL_FINISH

// `Fused.shiftedSums(fromCenteredSums:squares:centers:shift:count:)`'s derivation for `float` shifts, four
// channels a step: per channel `M2 = Σd² - Σd·Σd·(1/M)`, `S1 = Σd - M·(K - c)`, `S2 = M2 + S1·S1·(1/M)`,
// accepted where `Σd² < inf`, `M·Σd² <= limit·M2` and `S2 <= largest` (NaN fails each), the operations and
// their order of the Swift lanes (FP_CONTRACT off), so the same bits. An accepted channel's sums are
// replaced; a rejected one's are left, its index written to `rejected` (room for `count` indices). Returns
// the number rejected.
CHANNEL_AVX ptrdiff_t bn_centered_sums_derive_avx_float(
    double *sums, double *squares, const double *centers, const float *shift, double count, double reciprocal,
    double limit, double largest, ptrdiff_t first, ptrdiff_t channel_count, ptrdiff_t *rejected) {
    const channel_double4 count_vector = count, reciprocal_vector = reciprocal, limit_vector = limit;
    const channel_double4 largest_vector = largest, infinity = __builtin_inf();
    ptrdiff_t rejected_count = 0, channel = first;
    const ptrdiff_t end = first + channel_count;
    for (; channel + 4 <= end; channel += 4) {
        const channel_double4 sum = CHANNEL_LOAD(channel_double4, sums + channel);
        const channel_double4 sum_of_squares = CHANNEL_LOAD(channel_double4, squares + channel);
        const channel_double4 center = centers ? CHANNEL_LOAD(channel_double4, centers + channel) : (channel_double4)0;
        const channel_double4 channel_shift = __builtin_convertvector(CHANNEL_LOAD(channel_float4, shift + channel), channel_double4);
        const channel_double4 m2 = sum_of_squares - sum * sum * reciprocal_vector;
        const channel_double4 shifted_sum = sum - count_vector * (channel_shift - center);
        const channel_double4 shifted_squares = m2 + shifted_sum * shifted_sum * reciprocal_vector;
        const channel_long4 accepted = (channel_long4)((sum_of_squares < infinity) & (count_vector * sum_of_squares <= limit_vector * m2)
            & (shifted_squares <= largest_vector));
        // Bitwise selects: the derived words where accepted, the given ones elsewhere.
        CHANNEL_STORE(channel_double4, sums + channel,
                      (channel_double4)(((channel_long4)shifted_sum & accepted) | ((channel_long4)sum & ~accepted)));
        CHANNEL_STORE(channel_double4, squares + channel,
                      (channel_double4)(((channel_long4)shifted_squares & accepted)
                                        | ((channel_long4)sum_of_squares & ~accepted)));
        if (!(accepted[0] & accepted[1] & accepted[2] & accepted[3])) {
            for (int lane = 0; lane < 4; lane++) {
                if (!accepted[lane]) rejected[rejected_count++] = channel + lane;
            }
        }
    }
    for (; channel < end; channel++) {
        const double sum = sums[channel], sum_of_squares = squares[channel];
        const double m2 = sum_of_squares - sum * sum * reciprocal;
        const double shifted_sum = sum - count * ((double)shift[channel] - (centers ? centers[channel] : 0.0));
        const double shifted_squares = m2 + shifted_sum * shifted_sum * reciprocal;
        if (sum_of_squares < __builtin_inf() && count * sum_of_squares <= limit * m2 && shifted_squares <= largest) {
            sums[channel] = shifted_sum;
            squares[channel] = shifted_squares;
        } else {
            rejected[rejected_count++] = channel;
        }
    }
    return rejected_count;
}
