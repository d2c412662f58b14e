// The AVX2 builds of the channels-last loops (WideLoopsTemplate.h) and the channels-first run loops
// (RunLoopsTemplate.h), one per precision, and the run-time check that says whether this CPU may call
// them. Only these functions are compiled for AVX2 (`__attribute__((target))`), so the package needs no
// build flags and runs on any x86-64; on other architectures they are plain C that the Swift side never
// calls (bn_wide_loops_available() is 0).
#include "WideLoops.h"

#include <stdint.h>
#include <unistd.h>

#pragma STDC FP_CONTRACT OFF
// The template's helpers pass 16-lane vectors by value; they are always inlined into the AVX2
// functions, so the calling-convention difference clang warns about never exists.
#pragma clang diagnostic ignored "-Wpsabi"

#if defined(__x86_64__)
#define WIDE_TARGET __attribute__((target("avx2")))
#define WIDE_REGISTERS_TARGET __attribute__((target("avx512f")))
#else
#define WIDE_TARGET
#define WIDE_REGISTERS_TARGET
#endif

// Whether the row loops may keep a row's accumulators in AVX-512's 32 registers (WideLoopsTemplate.h's
// register rows); set by bn_wide_loops_available, which the Swift side calls before any loop. Atomic so
// that the loops' reads on worker threads are ordered with that write.
static int wide_register_rows;

int bn_wide_loops_available(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    __atomic_store_n(&wide_register_rows, __builtin_cpu_supports("avx512f") ? 1 : 0, __ATOMIC_RELAXED);
    return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
    return 0;
#endif
}

static inline int wide_register_rows_available(void) { return __atomic_load_n(&wide_register_rows, __ATOMIC_RELAXED); }

int bn_wide_avx512_available(void) { return wide_register_rows_available(); }

long bn_level2_cache_bytes(void) {
#if defined(_SC_LEVEL2_CACHE_SIZE)
    long bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return bytes > 0 ? bytes : 0;
#else
    return 0;
#endif
}

typedef float wide_float16 __attribute__((ext_vector_type(16)));
typedef int wide_int16 __attribute__((ext_vector_type(16)));
typedef double wide_double16 __attribute__((ext_vector_type(16)));
typedef long long wide_long16 __attribute__((ext_vector_type(16)));
typedef float wide_float8 __attribute__((ext_vector_type(8)));
typedef int wide_int8 __attribute__((ext_vector_type(8)));
typedef float wide_float4 __attribute__((ext_vector_type(4)));
typedef int wide_int4 __attribute__((ext_vector_type(4)));
typedef double wide_double8 __attribute__((ext_vector_type(8)));
typedef long long wide_long8 __attribute__((ext_vector_type(8)));
typedef double wide_double4 __attribute__((ext_vector_type(4)));
typedef long long wide_long4 __attribute__((ext_vector_type(4)));

#define SCALAR float
#define VECTOR wide_float16
#define MASK wide_int16
#define VECTOR8 wide_float8
#define MASK8 wide_int8
#define VECTOR4 wide_float4
#define MASK4 wide_int4
#define NAME(name) name##_float
#define WIDE_REGISTER_VECTORS 8
// The channel walk's loops as 512-bit instructions where the CPU has them (RunLoopsTemplate.h): faster in
// `float`, slower in `double` on the Intel host of 2026-12-04.
#define CHANNEL_WALK_AVX512 1
#include "WideLoopsTemplate.h"
#include "RunLoopsTemplate.h"
#undef WIDE_INLINE
#undef WIDE_LOAD
#undef WIDE_STORE
#undef WIDE_LANES
#undef WIDE_REGISTER_VECTORS
#undef CHANNEL_WALK_AVX512
#undef SCALAR
#undef VECTOR
#undef MASK
#undef VECTOR8
#undef MASK8
#undef VECTOR4
#undef MASK4
#undef NAME

#define SCALAR double
#define VECTOR wide_double16
#define MASK wide_long16
#define VECTOR8 wide_double8
#define MASK8 wide_long8
#define VECTOR4 wide_double4
#define MASK4 wide_long4
#define NAME(name) name##_double
#define WIDE_REGISTER_VECTORS 4
#define CHANNEL_WALK_AVX512 0
#include "WideLoopsTemplate.h"
#include "RunLoopsTemplate.h"
#undef WIDE_INLINE
#undef WIDE_LOAD
#undef WIDE_STORE
#undef WIDE_LANES
#undef WIDE_REGISTER_VECTORS
#undef CHANNEL_WALK_AVX512
#undef SCALAR
#undef VECTOR
#undef MASK
#undef VECTOR8
#undef MASK8
#undef VECTOR4
#undef MASK4
#undef NAME
