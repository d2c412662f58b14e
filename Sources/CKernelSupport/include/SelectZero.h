// Lane-wise "zero where" for the fused ReLU epilogue and its backward mask, in C because Swift's
// generic SIMD comparisons and `replacing(with:where:)` do not lower to vector compares and blends
// (docs/BENCHMARK_NOTES.md, issue 10, has the measurement); clang's vector extensions do. A compare gives all-ones lanes where true, so `value & ~mask` zeroes exactly those
// lanes, and NaN compares false (a NaN stays, as in PyTorch's relu and threshold_backward).
// The functions work in place on 16 values (Swift imports no C function returning a vector); inlined,
// the copies vanish. Internal to the Kernels target, not an API.
#ifndef SELECT_ZERO_H
#define SELECT_ZERO_H

typedef float select_float16 __attribute__((ext_vector_type(16)));
typedef double select_double16 __attribute__((ext_vector_type(16)));
typedef int select_int16 __attribute__((ext_vector_type(16)));
typedef long long select_long16 __attribute__((ext_vector_type(16)));

/// `values[i] = values[i] < 0 ? 0 : values[i]` for 16 floats (ReLU; NaN and -0 stay).
static inline __attribute__((always_inline)) void zero_where_negative_float16(float *values) {
    select_float16 v;
    __builtin_memcpy(&v, values, sizeof v);
    v = (select_float16)((select_int16)v & ~(v < 0));
    __builtin_memcpy(values, &v, sizeof v);
}

static inline __attribute__((always_inline)) void zero_where_negative_double16(double *values) {
    select_double16 v;
    __builtin_memcpy(&v, values, sizeof v);
    v = (select_double16)((select_long16)v & ~(v < 0));
    __builtin_memcpy(values, &v, sizeof v);
}

/// `values[i] = conditions[i] <= bounds[i] ? 0 : values[i]` for 16 floats: PyTorch's
/// `threshold_backward` with zero bounds, and the ReLU backward's mask as a bound on the centered input.
static inline __attribute__((always_inline)) void zero_where_at_most_float16(
    float *values, const float *conditions, const float *bounds) {
    select_float16 v, c, b;
    __builtin_memcpy(&v, values, sizeof v);
    __builtin_memcpy(&c, conditions, sizeof c);
    __builtin_memcpy(&b, bounds, sizeof b);
    v = (select_float16)((select_int16)v & ~(c <= b));
    __builtin_memcpy(values, &v, sizeof v);
}

static inline __attribute__((always_inline)) void zero_where_at_most_double16(
    double *values, const double *conditions, const double *bounds) {
    select_double16 v, c, b;
    __builtin_memcpy(&v, values, sizeof v);
    __builtin_memcpy(&c, conditions, sizeof c);
    __builtin_memcpy(&b, bounds, sizeof b);
    v = (select_double16)((select_long16)v & ~(c <= b));
    __builtin_memcpy(values, &v, sizeof v);
}

#endif
