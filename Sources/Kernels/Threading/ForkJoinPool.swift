internal import CKernelSupport
import Dispatch
import Glibc
import Synchronization

/// The fused kernels' fork-join: `run(parts:_:)` calls `body(0..<parts)` on the calling thread and on
/// persistent worker threads, and returns when every part is done.
///
/// Why not `DispatchQueue.concurrentPerform`: its workers park between calls, and waking one costs
/// a sizeable part of a mid-size pass (docs/BENCHMARK_NOTES.md, "A fork-join pool with spinning
/// workers"). The pool's workers spin for ``spinMicroseconds`` after their last part (with the
/// CPU's spin-wait hint) before they park on a condition variable, like OpenMP's default wait policy,
/// so the back-to-back passes of one batch-norm call, and back-to-back calls, find them awake.
///
/// The caller always runs part 0 itself; the other parts are claimed by whichever thread is free. So
/// with two threads the passes of one batch-norm call find their slice of the tensor in the cache of
/// the core that touched it last (the moments' rows and the elementwise step's rows are the same
/// slices): with parts claimed freely, two-thread calls on tensors of 0.25-1.2 MB took up to 1.5x as
/// long (docs/BENCHMARK_NOTES.md, "Part 0 on the calling thread").
///
/// One job at a time: a call that finds the pool busy (another thread's kernel is running) falls
/// back to `concurrentPerform`, so concurrent callers never wait on each other. Parts are claimed
/// with one compare-and-swap on a word holding the job's generation, part count and next part, so a
/// worker that wakes late cannot claim a part of a later job. Workers are created on first use and
/// live for the process; they hold no memory between jobs.
package final class ForkJoinPool: @unchecked Sendable {
    package static let shared = ForkJoinPool()

    /// How long an idle worker spins before it parks.
    static let spinMicroseconds = 200.0

    /// `generation << 32 | parts << 16 | nextPart`.
    private let job = Atomic<UInt64>(0)
    /// Parts of the current job not finished yet.
    private let unfinishedParts = Atomic<Int>(0)
    /// Whether a job is being submitted or run.
    private let busy = Atomic<Bool>(false)
    /// Workers parked on `wakeUp` (or about to be).
    private let parkedWorkers = Atomic<Int>(0)
    /// The current job's body; written only by the submitter while no part of another job can run.
    private nonisolated(unsafe) var body: ((Int) -> Void)?
    /// Workers started so far; touched only by the submitter, which holds `busy`.
    private nonisolated(unsafe) var startedWorkers = 0
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wakeUp: UnsafeMutablePointer<pthread_cond_t>

    /// A pool of its own, with no workers until its first job. The kernels use ``shared``; tests make
    /// their own so that no other code can hold the pool while they check what it does.
    package init() {
        mutex = .allocate(capacity: 1)
        wakeUp = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wakeUp, nil)
    }

    /// Runs `body(part)` for every `part` in `0..<parts` (at most 65,535), on up to `parts` threads.
    /// - Returns: whether the pool ran the job (`false`: one part, or the pool was busy and
    ///   `concurrentPerform` ran it).
    @discardableResult
    package func run(parts: Int, _ body: (Int) -> Void) -> Bool {
        precondition(parts >= 1 && parts < 1 << 16, "internal error: \(parts) parts")
        guard parts > 1 else {
            body(0)
            return false
        }
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            withoutActuallyEscaping(body) { escapable in
                let shared = UncheckedSendableBox(escapable)
                DispatchQueue.concurrentPerform(iterations: parts) { shared.value($0) }
            }
            return false
        }
        defer { busy.store(false, ordering: .releasing) }
        startWorkers(upTo: parts - 1)
        withoutActuallyEscaping(body) { escapable in
            self.body = escapable
            unfinishedParts.store(parts, ordering: .relaxed)
            let generation = (job.load(ordering: .relaxed) >> 32 &+ 1) & 0xFFFF_FFFF
            // Published with part 0 already taken: the caller runs it below.
            job.store(generation << 32 | UInt64(parts) << 16 | 1, ordering: .sequentiallyConsistent)
            if parkedWorkers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(wakeUp)
                pthread_mutex_unlock(mutex)
            }
            escapable(0)
            unfinishedParts.subtract(1, ordering: .releasing)
            runParts(of: UInt32(truncatingIfNeeded: generation))
            // Spin for the parts still running on workers; yield the core after a while in case a
            // worker was descheduled (an oversubscribed machine).
            var spins = 0
            while unfinishedParts.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins < 1 << 14 { spin_wait_hint() } else { sched_yield() }
            }
            self.body = nil
        }
        return true
    }

    /// Claims and runs parts of job `generation` until none is left.
    private func runParts(of generation: UInt32) {
        var state = job.load(ordering: .acquiring)
        while UInt32(truncatingIfNeeded: state >> 32) == generation, state & 0xFFFF < (state >> 16) & 0xFFFF {
            let (exchanged, original) = job.compareExchange(
                expected: state, desired: state + 1, ordering: .acquiringAndReleasing)
            if exchanged {
                body?(Int(state & 0xFFFF))
                unfinishedParts.subtract(1, ordering: .releasing)
                state = job.load(ordering: .acquiring)
            } else {
                state = original
            }
        }
    }

    /// Starts workers until there are `count` (called with `busy` held, before the job is published).
    ///
    /// A new worker is told the generation current now, not the one it would read when it first
    /// runs: a thread that starts after the submitter has published the job it was created for would
    /// otherwise take that job for an old one and sit it out.
    private func startWorkers(upTo count: Int) {
        let currentGeneration = UInt32(truncatingIfNeeded: job.load(ordering: .relaxed) >> 32)
        while startedWorkers < count {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(WorkerStart(pool: self, lastGeneration: currentGeneration))
                .toOpaque()
            let created = pthread_create(&thread, nil, { context in
                let start = Unmanaged<WorkerStart>.fromOpaque(context!).takeRetainedValue()
                start.pool.workerLoop(after: start.lastGeneration)
            }, context)
            guard created == 0 else {
                Unmanaged<WorkerStart>.fromOpaque(context).release()
                return  // fewer workers: the submitter and the others claim their parts
            }
            pthread_detach(thread)
            startedWorkers += 1
        }
    }

    /// What a new worker thread starts from: its pool and the last generation it must not run.
    private final class WorkerStart {
        let pool: ForkJoinPool
        let lastGeneration: UInt32
        init(pool: ForkJoinPool, lastGeneration: UInt32) {
            self.pool = pool
            self.lastGeneration = lastGeneration
        }
    }

    private func workerLoop(after startGeneration: UInt32) -> Never {
        var lastGeneration = startGeneration
        while true {
            let generation = waitForJob(after: lastGeneration)
            runParts(of: generation)
            lastGeneration = generation
        }
    }

    /// Spins, then parks, until a job newer than `lastGeneration` is published; returns its generation.
    private func waitForJob(after lastGeneration: UInt32) -> UInt32 {
        let deadline = monotonicMicroseconds() + Self.spinMicroseconds
        var spins = 0
        while true {
            let generation = UInt32(truncatingIfNeeded: job.load(ordering: .acquiring) >> 32)
            if generation != lastGeneration { return generation }
            spin_wait_hint()
            spins += 1
            if spins & 255 == 0, monotonicMicroseconds() > deadline { break }
        }
        pthread_mutex_lock(mutex)
        parkedWorkers.add(1, ordering: .sequentiallyConsistent)
        var generation = UInt32(truncatingIfNeeded: job.load(ordering: .sequentiallyConsistent) >> 32)
        while generation == lastGeneration {
            pthread_cond_wait(wakeUp, mutex)
            generation = UInt32(truncatingIfNeeded: job.load(ordering: .sequentiallyConsistent) >> 32)
        }
        parkedWorkers.subtract(1, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(mutex)
        return generation
    }

    private func monotonicMicroseconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) * 1e6 + Double(time.tv_nsec) / 1e3
    }
}
