#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation

/// The staged files this process has created and not yet renamed or removed, so that a SIGINT,
/// SIGTERM or SIGHUP can remove them before the process dies (`NumPyFile.removeStagedFilesOnTermination()`).
///
/// One lock orders creation, renaming and the signal's cleanup: a file is registered and created
/// under it, all renames of a write happen under it, and the cleanup takes it and never gives it
/// back. So a signal either finds the file registered (and removes it) or stops the process before
/// it is created, and a write's renames are never interrupted half-way by the cleanup.
enum StagedFileRegistry {
    struct State {
        var paths: Set<String> = []
        var terminating = false
        var signalSources: [any DispatchSourceSignal] = []
        var handlersInstalled = false
    }

    /// `NSLock` (a pthread mutex, which ThreadSanitizer follows; `Synchronization.Mutex` locks in the
    /// uninstrumented runtime and would make the sanitizer report locked accesses as races).
    private static let lock = NSLock()
    nonisolated(unsafe) private static var protectedState = State()

    /// Runs `body` on the state under the lock.
    private static func withState<Result>(_ body: (inout State) -> Result) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return body(&protectedState)
    }

    /// The signals whose default action ends the process and that a user or a supervisor sends to
    /// stop it.
    static let terminationSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    /// Runs `create` with `path` registered and returns its result; `nil` (nothing run) once a
    /// termination has begun.
    static func creating(_ path: String, _ create: () -> Int32) -> Int32? {
        withState { state in
            guard !state.terminating else { return nil }
            state.paths.insert(path)
            return create()
        }
    }

    static func forget(_ paths: some Sequence<String>) {
        withState { state in
            for path in paths { state.paths.remove(path) }
        }
    }

    /// Runs `body` (the renames of one write) without a termination cleanup in between.
    static func exclusively<Result>(_ body: (inout Set<String>) -> Result) -> Result {
        withState { state in body(&state.paths) }
    }

    /// Installs the handlers once: each signal is ignored at the process level and delivered to a
    /// dispatch source instead, whose handler removes every registered file and then ends the
    /// process with the same signal (default action restored), so the exit status is the
    /// conventional one (128 + signal number in a shell).
    static func installHandlers() {
        withState { state in
            guard !state.handlersInstalled else { return }
            state.handlersInstalled = true
            for signalNumber in terminationSignals {
                // A signal the process was started with ignored (`nohup`, `&` in a script) stays ignored.
                let previous = signal(signalNumber, SIG_IGN)
                if unsafeBitCast(previous, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) { continue }
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
                source.setEventHandler { terminate(with: signalNumber) }
                source.resume()
                state.signalSources.append(source)
            }
        }
    }

    /// Removes the staged files and re-raises `signalNumber` with its default action. Holds the lock
    /// until the process is gone, so no staged file is created or renamed after the cleanup.
    static func terminate(with signalNumber: Int32) -> Never {
        withState { state in
            state.terminating = true
            for path in state.paths { _ = unlink(path) }
            state.paths.removeAll()
            signal(signalNumber, SIG_DFL)
            // A process-directed signal: dispatch's worker threads block signals, the others do not.
            kill(getpid(), signalNumber)
            while true { pause() }
        }
    }
}
