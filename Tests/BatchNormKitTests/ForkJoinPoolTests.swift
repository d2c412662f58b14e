import Testing
import Glibc
import Synchronization
import Kernels

/// The fused kernels' fork-join pool: every part of every job runs exactly once, workers really take
/// parts (so ThreadSanitizer sees the pool's hand-offs, scripts/sanitizers.sh), and callers that find
/// the pool busy still get all their parts run.
@Suite("Fork-join pool")
struct ForkJoinPoolTests {
    /// Every part waits (up to 60 s) until parts have started on two different threads, which means a
    /// worker took one. The pool is the test's own, so no other suite can hold it: it must run the job
    /// itself, not hand it to the `concurrentPerform` fallback. (On the shared pool, the suites running
    /// beside this one kept it busy for 1,000 attempts in a CI run.)
    @Test("workers take parts")
    func workersTakeParts() {
        let pool = ForkJoinPool()
        let parts = 3
        let runs = Locked([Int](repeating: 0, count: parts))
        let threads = Locked(Set<UInt>())
        let ranOnPool = pool.run(parts: parts) { part in
            runs.withLock { $0[part] += 1 }
            threads.withLock { _ = $0.insert(UInt(pthread_self())) }
            let deadline = time(nil) + 60
            while threads.withLock({ $0.count }) < 2, time(nil) < deadline { sched_yield() }
        }
        #expect(runs.withLock { $0 } == Array(repeating: 1, count: parts))
        #expect(ranOnPool, "a pool no one else uses was busy")
        let threadCount = threads.withLock { $0.count }
        #expect(threadCount >= 2, "no worker thread took a part")
    }

    /// Part 0 of every job runs on the calling thread (the slice the caller's previous pass touched
    /// stays in its core's cache), over many jobs of 2-4 parts on the test's own pool. The caller
    /// works 20 µs between jobs, as a kernel does between passes, so the workers are spinning when a
    /// job is published and would win part 0 of many of them if the caller had to race for it.
    @Test("the caller runs part 0")
    func callerRunsPartZero() {
        let pool = ForkJoinPool()
        let caller = UInt(pthread_self())
        let partZeroThreads = Locked(Set<UInt>())
        for job in 0..<2_000 {
            pool.run(parts: job % 3 + 2) { part in
                if part == 0 { partZeroThreads.withLock { _ = $0.insert(UInt(pthread_self())) } }
            }
            var start = timespec(), now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &start)
            repeat { clock_gettime(CLOCK_MONOTONIC, &now) }
            while (now.tv_sec - start.tv_sec) * 1_000_000_000 + (now.tv_nsec - start.tv_nsec) < 20_000
        }
        #expect(partZeroThreads.withLock { $0 } == [caller])
    }

    /// 20,000 back-to-back jobs of 1–5 parts on the test's own pool (so every job of two or more parts
    /// runs on it): a worker that wakes late must not claim a part of a later job, and no part may be
    /// skipped or run twice.
    @Test("back-to-back jobs run each part once")
    func backToBackJobs() {
        let pool = ForkJoinPool()
        var jobsOnPool = 0
        let counts = Locked([Int](repeating: 0, count: 5))
        var expected = [Int](repeating: 0, count: 5)
        for job in 0..<20_000 {
            let parts = job % 5 + 1
            if pool.run(parts: parts, { part in counts.withLock { $0[part] += 1 } }) { jobsOnPool += 1 }
            for part in 0..<parts { expected[part] += 1 }
        }
        #expect(counts.withLock { $0 } == expected)
        #expect(jobsOnPool == 16_000, "every job of two or more parts runs on the pool")
    }

    /// Eight tasks submitting at once to one pool: all but one find it busy and fall back; every part
    /// of every job still runs exactly once.
    @Test("concurrent submitters")
    func concurrentSubmitters() async {
        let pool = ForkJoinPool()
        let total = Counter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<500 {
                        pool.run(parts: 3) { _ in total.value.add(1, ordering: .relaxed) }
                    }
                }
            }
        }
        let partsRun = total.value.load(ordering: .relaxed)
        #expect(partsRun == 8 * 500 * 3)
    }
}

/// A shared counter for tasks (an `Atomic` cannot be captured by a `sending` closure directly).
private final class Counter: Sendable {
    let value = Atomic<Int>(0)
}

/// A value behind a pthread mutex. Not `Synchronization.Mutex`: its lock goes through the
/// uninstrumented Swift runtime, so ThreadSanitizer does not see it order the accesses and reports
/// the (correctly locked) accesses as races.
private final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init(_ value: Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&value)
    }
}
