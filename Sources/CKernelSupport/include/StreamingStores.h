// Non-temporal ("streaming") stores for the fused kernels: a store that bypasses the caches and
// skips the read-for-ownership of the destination line, so writing an output larger than the
// last-level cache costs one pass over memory instead of two. Swift has no spelling for it; clang's
// `__builtin_nontemporal_store` needs no target flags (movntps is baseline x86-64 SSE2; other
// architectures get their own non-temporal store or a plain one). Internal to the Kernels target,
// not an API.
#ifndef STREAMING_STORES_H
#define STREAMING_STORES_H

typedef float streaming_float16 __attribute__((ext_vector_type(16)));
typedef double streaming_double16 __attribute__((ext_vector_type(16)));

/// Stores 16 floats at `destination`, which must be 64-byte aligned, bypassing the caches.
static inline __attribute__((always_inline)) void streaming_store_float16(float *destination, streaming_float16 value) {
    __builtin_nontemporal_store(value, (streaming_float16 *)destination);
}

/// Stores 16 doubles at `destination`, which must be 128-byte aligned, bypassing the caches.
static inline __attribute__((always_inline)) void streaming_store_double16(double *destination, streaming_double16 value) {
    __builtin_nontemporal_store(value, (streaming_double16 *)destination);
}

/// Orders this thread's streaming stores before its later stores (they are weakly ordered on x86);
/// called once at the end of a pass, before the thread reports completion.
static inline __attribute__((always_inline)) void streaming_store_fence(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_sfence();
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

#endif
