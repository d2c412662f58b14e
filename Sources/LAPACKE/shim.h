// Bridges LAPACKE (Debian's liblapacke-dev) into Swift. Not a stable API: only `Kernels` imports it.
// The guard must differ from LAPACKE's own `_LAPACKE_H_`, or this header would import nothing.
#ifndef SWIFT_BATCHNORM_LAPACKE_SHIM_H
#define SWIFT_BATCHNORM_LAPACKE_SHIM_H
#include <lapacke.h>
#endif
