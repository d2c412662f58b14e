// A hint for busy-wait loops (the fused kernels' fork-join pool spins briefly before it parks a
// worker): x86's `pause` lets the other hyper-thread run and avoids the memory-order flush on loop
// exit; other architectures get their own yield hint or nothing. Internal to Kernels, not an API.
#ifndef SPIN_WAIT_H
#define SPIN_WAIT_H

static inline __attribute__((always_inline)) void spin_wait_hint(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
