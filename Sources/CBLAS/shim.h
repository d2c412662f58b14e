// Bridges OpenBLAS's CBLAS interface into Swift. Not a stable API: only `Kernels` imports it.
// The guard must differ from OpenBLAS's own `CBLAS_H`, or this header would import nothing.
#ifndef SWIFT_BATCHNORM_CBLAS_SHIM_H
#define SWIFT_BATCHNORM_CBLAS_SHIM_H
#include <cblas.h>
#endif
