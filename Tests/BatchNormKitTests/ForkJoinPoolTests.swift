import Testing
import Glibc
import Synchronization
import Kernels

/// The fused kernels' fork-join pool: every part of every job runs exactly once, workers really take
/// parts (so ThreadSanitizer sees the pool's hand-offs, scripts/sanitizers.sh), and callers that find
/// the pool busy still get all their parts run.
@Suite("Fork-join pool")
struct ForkJoinPoolTests {
    /// Part 0 waits (up to 10 s) until another part has started on a thread other than the caller's,
    /// which only a worker can do; then every part must have run once.
    @Test("workers take parts")
    func workersTakeParts() {
        let parts = 3
        let runs = Mutex([Int](repeating: 0, count: parts))
        let startedElsewhere = Atomic<Bool>(false)
        let caller = pthread_self()
        ForkJoinPool.shared.run(parts: parts) { part in
            runs.withLock { $0[part] += 1 }
            if pthread_equal(pthread_self(), caller) == 0 { startedElsewhere.store(true, ordering: .releasing) }
            if part == 0 {
                let deadline = time(nil) + 10
                while !startedElsewhere.load(ordering: .acquiring), time(nil) < deadline { sched_yield() }
            }
        }
        let workerTookAPart = startedElsewhere.load(ordering: .acquiring)
        #expect(workerTookAPart, "no worker thread took a part")
        #expect(runs.withLock { $0 } == Array(repeating: 1, count: parts))
    }

    /// 20,000 back-to-back jobs of 1–5 parts: a worker that wakes late must not claim a part of a
    /// later job, and no part may be skipped or run twice.
    @Test("back-to-back jobs run each part once")
    func backToBackJobs() {
        let counts = Mutex([Int](repeating: 0, count: 5))
        var expected = [Int](repeating: 0, count: 5)
        for job in 0..<20_000 {
            let parts = job % 5 + 1
            ForkJoinPool.shared.run(parts: parts) { part in counts.withLock { $0[part] += 1 } }
            for part in 0..<parts { expected[part] += 1 }
        }
        #expect(counts.withLock { $0 } == expected)
    }

    /// Eight tasks submitting at once: all but one find the pool busy and fall back; every part of
    /// every job still runs exactly once.
    @Test("concurrent submitters")
    func concurrentSubmitters() async {
        let total = Counter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<500 {
                        ForkJoinPool.shared.run(parts: 3) { _ in total.value.add(1, ordering: .relaxed) }
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
