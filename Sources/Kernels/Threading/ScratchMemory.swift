import Glibc

/// Memory a kernel call needs only while it runs, kept between calls: one buffer, handed to one call at
/// a time.
///
/// Why: a `[N, C]` tensor with few rows and many channels needs per-channel arrays about as large as the
/// tensor (the interleaved loops' periodic coefficients: three of `C + 16` values). Allocated per call,
/// arrays beyond glibc's mmap threshold (128 KiB at first; it moves with the process's history) are
/// mapped fresh and their pages faulted in and zeroed on every call: an inference forward of `[8, 65536]`
/// `Float` took 0.96 ms a call, 0.23 ms where the allocator kept its memory (docs/BENCHMARK_NOTES.md,
/// "Per-call scratch memory for few-row tensors"). The library does not set the process's allocator
/// policy; it keeps its own scratch instead, as oneDNN keeps a scratchpad.
///
/// Ownership: a call takes the kept buffer (or allocates one when none is kept, another call holds it, or
/// it is too small) and gives it back when its body returns. Of two buffers the larger is kept, up to
/// ``largestKeptBytes``; the other is freed then. So the process holds at most that many bytes between
/// calls, and concurrent callers never wait for each other (the lock is held only to swap the pointer).
/// The lock is a pthread mutex, which ThreadSanitizer intercepts: with `Synchronization.Mutex`, whose
/// lock it does not see, it reported the handed-over buffer as a race (scripts/sanitizers.sh).
package enum ScratchMemory {
    /// The largest buffer kept between calls (a `Float` tensor row of about 5.5 million channels in its
    /// three periodic arrays); larger ones are freed when their call ends.
    package static let largestKeptBytes = 64 << 20

    /// Calls `body` with uninitialized memory for `count` values of `Scalar` (64-byte aligned), valid
    /// until `body` returns. `body` must leave nothing that needs deinitializing (trivial types only).
    package static func withScratch<Scalar: BitwiseCopyable, Result>(
        _: Scalar.Type, count: Int, _ body: (UnsafeMutablePointer<Scalar>) -> Result
    ) -> Result {
        let bytes = max(count, 1) * MemoryLayout<Scalar>.stride
        var buffer = withKept { kept in
            let taken = kept
            kept = nil
            return taken
        }
        if let taken = buffer, taken.bytes < bytes {
            taken.base.deallocate()
            buffer = nil
        }
        let scratch = buffer ?? Buffer(base: .allocate(byteCount: bytes, alignment: 64), bytes: bytes)
        defer { giveBack(scratch) }
        return body(scratch.base.bindMemory(to: Scalar.self, capacity: max(count, 1)))
    }

    /// Keeps `buffer` for the next call, or frees it (too large, or smaller than one kept meanwhile).
    private static func giveBack(_ buffer: Buffer) {
        guard buffer.bytes <= largestKeptBytes else { return buffer.base.deallocate() }
        let freed = withKept { kept -> Buffer? in
            guard let other = kept else {
                kept = buffer
                return nil
            }
            if other.bytes >= buffer.bytes { return buffer }
            kept = buffer
            return other
        }
        freed?.base.deallocate()
    }

    /// The bytes kept between calls now (0 when none): for tests.
    package static var keptBytes: Int { withKept { $0?.bytes ?? 0 } }

    /// A raw allocation and its size; owned by whichever call or slot holds it.
    private struct Buffer: @unchecked Sendable {
        let base: UnsafeMutableRawPointer
        let bytes: Int
    }

    /// Runs `body` on the kept buffer (or `nil`) under the lock.
    private static func withKept<Result>(_ body: (inout Buffer?) -> Result) -> Result {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return body(&kept)
    }

    /// The buffer kept between calls; read and written only under `lock`.
    private nonisolated(unsafe) static var kept: Buffer?

    /// Guards `kept`; lives for the process.
    private nonisolated(unsafe) static let lock: UnsafeMutablePointer<pthread_mutex_t> = {
        let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
        return lock
    }()
}
