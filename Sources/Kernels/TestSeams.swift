import Synchronization

/// The kernels' test seams (a forced work split, forced streaming stores, a lowered CBLAS count) are
/// task-locals that tests set around a call. A task-local read costs about 30 ns here, two of which per
/// pass would be a few percent of a small call (a 3,200-value layer of bn-train), so the kernels read a
/// seam only while some override scope is open anywhere in the process: otherwise one relaxed atomic
/// load. Tests open scopes through the seams' `with...` functions, never through the task-locals.
package enum TestSeams {
    /// Override scopes open in the process (any thread).
    private static let openScopes = Atomic<Int>(0)

    /// Whether any override scope is open; when not, every seam has its production value.
    @inline(__always)
    static var anyOpen: Bool { openScopes.load(ordering: .relaxed) != 0 }

    /// Runs `body` with the seams' task-locals readable. The task-local's own scoping keeps another
    /// thread's call from seeing this scope's values; the counter only says whether to look.
    static func scope<Result>(_ body: () throws -> Result) rethrows -> Result {
        openScopes.add(1, ordering: .relaxed)
        defer { openScopes.subtract(1, ordering: .relaxed) }
        return try body()
    }
}
