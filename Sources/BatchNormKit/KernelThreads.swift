package import Kernels

/// The number of threads the batch-norm kernels use, process-wide.
///
/// One setting serves both paths: the fused kernels split a large tensor (2^16 values or more; fewer
/// parts for a tensor of few rows, such as `[4, 16384]`) into this many parts on their own worker
/// pool, and the BLAS path and group whitening run OpenBLAS with this many threads. It starts as
/// OpenBLAS's own setting: `OPENBLAS_NUM_THREADS` when the process starts, else OpenBLAS's default (the
/// cores it sees).
///
/// ```swift
/// KernelThreads.count = 1      // e.g. one layer per core, parallelized by the program itself
/// ```
///
/// Set it between kernel calls, not while another thread is inside one: OpenBLAS resizes its thread
/// pool when the count changes, which it does not synchronize with calls in flight. Results do not
/// depend on it beyond rounding (the per-thread partial sums are merged in a fixed order for a given
/// count; see <doc:Numerics>).
public enum KernelThreads {
    /// Threads per kernel call, at least 1. Assigning a value below 1 sets 1; values above the
    /// OpenBLAS build's limit are capped by OpenBLAS.
    public static var count: Int {
        get { BLASThreading.threadCount }
        set { BLASThreading.setThreadCount(newValue) }
    }
}
