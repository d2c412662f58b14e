// Per-channel arithmetic the Swift side cannot vectorize (Kernels/Statistics/ChannelLoops.swift).
// Internal to the Kernels target, not an API.
#ifndef CHANNEL_MATH_H
#define CHANNEL_MATH_H

#include <stddef.h>

/// result[i] = 1 / sqrt(variance[i] + epsilon) for i < count, each operation correctly rounded (the
/// same bits as the scalar expression), two lanes at a time where the CPU has SSE2. Swift's
/// `Double.squareRoot()` compiles to `sqrtsd` beside a call to libm's `sqrt`, which no loop vectorizes.
void bn_inverse_square_roots(const double *variance, double epsilon, double *result, ptrdiff_t count);

/// The AVX builds (four lanes per division and square root); call only when the CPU has AVX2. Each
/// gives the bits of its scalar expression.
/// quotient[i] = dividend[i] / divisor (quotient may be dividend).
void bn_quotients_avx(const double *dividend, double divisor, double *quotient, ptrdiff_t count);
/// `Fused.shiftedSums(fromCenteredSums:squares:centers:shift:count:)` over `channel_count` channels from
/// `first` (`centers` nullable: +0); the rejected channels' indices to `rejected`, their number returned.
ptrdiff_t bn_centered_sums_derive_avx_float(
    double *sums, double *squares, const double *centers /* nullable */, const float *shift, double count,
    double reciprocal, double limit, double largest, ptrdiff_t first, ptrdiff_t channel_count, ptrdiff_t *rejected);
/// result[i] = 1 / sqrt(variance[i] + epsilon) (result may be variance).
void bn_inverse_square_roots_avx(const double *variance, double epsilon, double *result, ptrdiff_t count);
/// The training backward's per-channel step (Kernels' `BatchNormKernels.trainingChannelStep`) for
/// `channel_count` channels: dγ = invstd·S_xy, k = γ·invstd, -k·invstd·dγ/M and -k·S_y/M, computed in
/// double and rounded once each.
void bn_training_channel_steps_avx_float(
    const float *sum_gradient, const float *sum_product, const float *inverse_standard_deviation, const float *gamma,
    double count, float *grad_gamma, float *gradient_scale, float *centered_scale, float *bias, ptrdiff_t channel_count);
void bn_training_channel_steps_avx_double(
    const double *sum_gradient, const double *sum_product, const double *inverse_standard_deviation,
    const double *gamma, double count, double *grad_gamma, double *gradient_scale, double *centered_scale,
    double *bias, ptrdiff_t channel_count);
/// The inference forward's coefficients (Kernels' `ChannelLoops.inferenceCoefficients`) of `channel_count`
/// channels: `invstd = 1 / sqrt(variance + epsilon)`, `scale = γ·invstd` (`invstd` where `gamma` is NULL) and
/// `folded_shift = β - 0·scale` (β 0 where `beta` is NULL), each computed in double and rounded once.
void bn_inference_coefficients_avx_float(
    const float *variance, const float *gamma, const float *beta, double epsilon, float *scale, float *folded_shift,
    ptrdiff_t channel_count);
void bn_inference_coefficients_avx_double(
    const double *variance, const double *gamma, const double *beta, double epsilon, double *scale,
    double *folded_shift, ptrdiff_t channel_count);
/// The training forward's coefficients (Kernels' `FusedPasses.trainingCoefficients`) of `channel_count`
/// channels: `scale = γ·invstd` (`invstd` where `gamma` is NULL) and `folded_shift = β - low·scale` (β 0 where
/// `beta` is NULL, `low` 0 where `low` is NULL), each computed in double and rounded once.
void bn_training_coefficients_avx_float(
    const float *inverse_standard_deviation, const float *low, const float *gamma, const float *beta, float *scale,
    float *folded_shift, ptrdiff_t channel_count);
void bn_training_coefficients_avx_double(
    const double *inverse_standard_deviation, const double *low, const double *gamma, const double *beta,
    double *scale, double *folded_shift, ptrdiff_t channel_count);
/// The running statistics' update (BatchNormKit's `BatchNorm.updateRunningStatistics`) of `channel_count`
/// channels: `running_mean = (1 - f)·running_mean + f·mean` and `running_variance = (1 - f)·running_variance
/// + f·(M2 / divisor)`, in double and rounded once, the unbiased variance `M2 / divisor` in the scalar type.
void bn_update_running_statistics_avx_float(
    float *running_mean, float *running_variance, const float *mean, const float *sum_of_squared_deviations,
    float divisor, double factor, ptrdiff_t channel_count);
void bn_update_running_statistics_avx_double(
    double *running_mean, double *running_variance, const double *mean, const double *sum_of_squared_deviations,
    double divisor, double factor, ptrdiff_t channel_count);
/// The one-loop training statistics' vector loop (Kernels' `ChannelLoops.finishChannels`) for
/// `channel_count` channels, a multiple of 4: the mean's two words and max(M2, 0) rounded to the scalar
/// type, and `1 / sqrt(max(M2, 0)/n + epsilon)` rounded to it; returns 1 when some channel is not ordinary.
int bn_finish_channels_avx_float(
    const float *shift, const double *sums, const double *squares, double count, double maximum_amplification,
    double epsilon, float *mean, float *mean_low, float *sum_of_squared_deviations, float *inverse_standard_deviation,
    ptrdiff_t channel_count);
int bn_finish_channels_avx_double(
    const double *shift, const double *sums, const double *squares, double count, double maximum_amplification,
    double epsilon, double *mean, double *mean_low, double *sum_of_squared_deviations,
    double *inverse_standard_deviation, ptrdiff_t channel_count);

#endif
