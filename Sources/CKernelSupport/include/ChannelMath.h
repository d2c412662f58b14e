// Per-channel arithmetic the Swift side cannot vectorize (Kernels/Statistics/ChannelLoops.swift).
// Internal to the Kernels target, not an API.
#ifndef CHANNEL_MATH_H
#define CHANNEL_MATH_H

#include <stddef.h>

/// result[i] = 1 / sqrt(variance[i] + epsilon) for i < count, each operation correctly rounded (the
/// same bits as the scalar expression), two lanes at a time where the CPU has SSE2. Swift's
/// `Double.squareRoot()` compiles to `sqrtsd` beside a call to libm's `sqrt`, which no loop vectorizes.
void bn_inverse_square_roots(const double *variance, double epsilon, double *result, ptrdiff_t count);

#endif
