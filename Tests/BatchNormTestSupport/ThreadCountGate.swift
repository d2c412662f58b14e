import Synchronization

/// Keeps the tests that change OpenBLAS's process-wide thread count (which also sets the fused kernels'
/// and OpenBLAS's own work split) apart from the tests whose bit-for-bit comparisons across calls assume
/// it stays put.
///
/// All test targets run in one process, their tests in parallel. A test that sets the thread count
/// (`KernelThreads.count`, the training example's `setBLASThreadCount`) changes the last bits of
/// results computed while it runs: the fused kernels split tensors of 2^16 elements or more into that
/// many parts, and OpenBLAS picks other kernels for small Double products when it has more than one
/// thread (a Double ZCA whitening of 1,080 values differs by 4e-15 between 1 and 2 threads). A
/// comparison whose reference was computed before the change and whose subject after it fails although
/// nothing is wrong; this gate makes such a comparison wait for the change, and the change for it.
///
/// Changes are exclusive (one at a time, no comparison running); comparisons share the gate. A waiting
/// change holds back new comparisons, so it is not starved. State is counters, so a holder may leave
/// from another thread than the one it entered on (async test bodies).
public enum ThreadCountGate {
    private struct State {
        var comparisons = 0
        var changing = false
        var waitingChanges = 0
    }

    private static let state = Mutex(State())
    private static let pollInterval: UInt64 = 1_000_000  // nanoseconds

    /// Runs `body`, which changes the process-wide thread count (and puts it back), while no comparison runs.
    public static func changing<Result>(_ body: () async throws -> Result) async rethrows -> Result {
        state.withLock { $0.waitingChanges += 1 }
        while !state.withLock({ current -> Bool in
            guard !current.changing, current.comparisons == 0 else { return false }
            current.changing = true
            current.waitingChanges -= 1
            return true
        }) { await pause() }
        defer { state.withLock { $0.changing = false } }
        return try await body()
    }

    /// Runs `body`, whose comparisons assume the thread count does not change, while no change runs.
    public static func unchanged<Result>(_ body: () async throws -> Result) async rethrows -> Result {
        while !tryEnterComparison() { await pause() }
        defer { leaveComparison() }
        return try await body()
    }

    /// Waiting suspends the task rather than blocking its thread: the test runner's threads are as many
    /// as the cores (2 here), and a comparison may need them for its own child tasks.
    private static func pause() async {
        try? await Task.sleep(nanoseconds: pollInterval)
    }

    private static func tryEnterComparison() -> Bool {
        state.withLock { current in
            guard !current.changing, current.waitingChanges == 0 else { return false }
            current.comparisons += 1
            return true
        }
    }

    private static func leaveComparison() {
        state.withLock { $0.comparisons -= 1 }
    }
}
