// The data cache sizes the operating system reports, for the fused kernels' choice of loop order
// (Kernels/Fused/FusedSupport.swift). Internal to Kernels, not an API.
#ifndef CACHE_SIZES_H
#define CACHE_SIZES_H

#include <unistd.h>

/// The bytes of one core's level-2 cache as `sysconf` reports it (glibc reads them from `cpuid`), or 0
/// where the system does not say.
static inline long bn_level2_cache_bytes(void) {
#if defined(_SC_LEVEL2_CACHE_SIZE)
    long bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return bytes > 0 ? bytes : 0;
#else
    return 0;
#endif
}

#endif
