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
#define CHANNEL_LOAD(T, pointer) ({ T channel_value_; __builtin_memcpy(&channel_value_, (pointer), sizeof channel_value_); channel_value_; })
#define CHANNEL_STORE(T, pointer, value) do { T channel_value_ = (value); __builtin_memcpy((pointer), &channel_value_, sizeof channel_value_); } while (0)

CHANNEL_AVX void bn_quotients_avx(const double *dividend, double divisor, double *quotient, ptrdiff_t count) {
    const channel_double4 divisor_vector = divisor;
    ptrdiff_t index = 0;
    for (; index + 4 <= count; index += 4) {
        CHANNEL_STORE(channel_double4, quotient + index, CHANNEL_LOAD(channel_double4, dividend + index) / divisor_vector);
    }
    for (; index < count; index++) quotient[index] = dividend[index] / divisor;
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
    CHANNEL_AVX void bn_training_channel_steps_avx_##SUFFIX(                                                 \
        const SCALAR *sum_gradient, const SCALAR *sum_product, const SCALAR *inverse_standard_deviation,     \
        const SCALAR *gamma, double count, SCALAR *grad_gamma, SCALAR *gradient_scale, SCALAR *centered_scale, \
        SCALAR *bias, ptrdiff_t channel_count) {                                                             \
        const channel_double4 count_vector = count;                                                          \
        ptrdiff_t c = 0;                                                                                     \
        for (; c + 4 <= channel_count; c += 4) {                                                             \
            channel_double4 invstd = __builtin_convertvector(CHANNEL_LOAD(VECTOR, inverse_standard_deviation + c), channel_double4); \
            channel_double4 d_gamma = invstd * __builtin_convertvector(CHANNEL_LOAD(VECTOR, sum_product + c), channel_double4); \
            channel_double4 k = __builtin_convertvector(CHANNEL_LOAD(VECTOR, gamma + c), channel_double4) * invstd; \
            channel_double4 d_beta = __builtin_convertvector(CHANNEL_LOAD(VECTOR, sum_gradient + c), channel_double4); \
            CHANNEL_STORE(VECTOR, grad_gamma + c, __builtin_convertvector(d_gamma, VECTOR));                 \
            CHANNEL_STORE(VECTOR, gradient_scale + c, __builtin_convertvector(k, VECTOR));                   \
            CHANNEL_STORE(VECTOR, centered_scale + c,                                                        \
                          __builtin_convertvector(-k * invstd * d_gamma / count_vector, VECTOR));            \
            CHANNEL_STORE(VECTOR, bias + c, __builtin_convertvector(-k * d_beta / count_vector, VECTOR));    \
        }                                                                                                    \
        for (; c < channel_count; c++) {                                                                     \
            double invstd = (double)inverse_standard_deviation[c], d_gamma = invstd * (double)sum_product[c]; \
            double k = (double)gamma[c] * invstd;                                                            \
            grad_gamma[c] = (SCALAR)d_gamma;                                                                 \
            gradient_scale[c] = (SCALAR)k;                                                                   \
            centered_scale[c] = (SCALAR)(-k * invstd * d_gamma / count);                                     \
            bias[c] = (SCALAR)(-k * (double)sum_gradient[c] / count);                                        \
        }                                                                                                    \
    }
CHANNEL_STEPS(float, channel_float4, float)
CHANNEL_STEPS(double, channel_double4, double)
#undef CHANNEL_STEPS
