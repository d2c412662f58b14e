// Open MPI's C API for Swift. Not a stable API: only BatchNormMPI imports it (`internal import`).
//
// Open MPI spells its predefined handles as macros that cast the address of a global
// (`#define MPI_COMM_WORLD OMPI_PREDEFINED_GLOBAL(MPI_Comm, ompi_mpi_comm_world)`), which Swift cannot
// import; these accessors return them as values. The guard is not `MPI_H` or `OMPI_MPI_H`, which
// mpi.h itself may use.
#ifndef BATCHNORM_CMPI_SHIM_H
#define BATCHNORM_CMPI_SHIM_H

#include <mpi.h>

/// `MPI_COMM_WORLD`.
static inline MPI_Comm bn_mpi_comm_world(void) { return MPI_COMM_WORLD; }
/// `MPI_COMM_NULL`.
static inline MPI_Comm bn_mpi_comm_null(void) { return MPI_COMM_NULL; }
/// `MPI_DOUBLE`.
static inline MPI_Datatype bn_mpi_double(void) { return MPI_DOUBLE; }
/// `MPI_SUCCESS`, the return code of every MPI call that succeeded.
static inline int bn_mpi_success(void) { return MPI_SUCCESS; }
/// `MPI_MAX_ERROR_STRING`, the buffer size `MPI_Error_string` needs.
static inline int bn_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }

#endif
