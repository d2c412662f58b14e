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
