#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A write of several `.npy` files that happens all or nothing.
///
/// ``NumPyFile/stage(_:)`` writes every array to a staged file beside its destination and flushes
/// it; ``commit()`` then renames them all into place. Until the first rename no destination has
/// changed: a failed or abandoned write (``discard()``, or releasing the value) removes the staged
/// files. With ``NumPyFile/removeStagedFilesOnTermination()`` a SIGINT, SIGTERM or SIGHUP removes
/// them too; the leftovers of a process killed outright are removed by a later staging in the same
/// directory.
///
/// What remains possible: a `rename` failing after others succeeded (an I/O error, or a directory
/// changed underneath). Renames within one file system need no space, so a full disk cannot cause
/// it. The error (`.partiallyWritten`) then names the destinations already replaced.
public final class NumPyStagedWrite {
    /// `(destination, staged path)` in the order given, not yet renamed.
    private var staged: [(destination: NumPyDestination, stagedPath: String)]

    init(staged: [(destination: NumPyDestination, stagedPath: String)]) {
        self.staged = staged
    }

    deinit { discard() }

    func append(_ destination: NumPyDestination, stagedPath: String) {
        staged.append((destination, stagedPath))
    }

    /// The destinations, in the order they were staged.
    public var destinations: [NumPyDestination] { staged.map(\.destination) }

    /// Renames every staged file onto its destination, in order. A second call does nothing.
    ///
    /// - Throws: `.partiallyWritten(path:reason:written:)` when a rename fails: `path` and `reason`
    ///   are the failing one's, `written` the destinations renamed before it (possibly none); the
    ///   remaining staged files are removed.
    public func commit() throws(NumPyFileError) {
        let failure: NumPyFileError? = StagedFileRegistry.exclusively { registered in
            var written: [String] = []
            for (index, (destination, stagedPath)) in staged.enumerated() {
                if let reason = FileIO.moveIntoPlace(stagedPath, destination.path) {
                    staged.removeFirst(index)
                    return .partiallyWritten(path: destination.path, reason: reason, written: written)
                }
                registered.remove(stagedPath)
                written.append(destination.path)
            }
            staged.removeAll()
            return nil
        }
        if let failure {
            discard()
            throw failure
        }
    }

    /// Removes the staged files that were not renamed; the destinations stay as they are.
    public func discard() {
        for (_, stagedPath) in staged { _ = unlink(stagedPath) }
        StagedFileRegistry.forget(staged.map(\.stagedPath))
        staged.removeAll()
    }
}

extension NumPyFile {
    /// Stages `files` for an all-or-nothing write (see ``NumPyStagedWrite``): checks every array and
    /// destination first, removes abandoned staged files of dead processes from the destination
    /// directories, then encodes and writes each array to a staged file beside its destination.
    ///
    /// - Throws: what ``write(_:to:)`` throws for an inconsistent array or an unwritable destination
    ///   (a missing directory, a directory, a device, FIFO or socket, a full disk), and
    ///   `.unwritableFile(path:reason:)` when two destinations name the same file. Nothing is left
    ///   behind then: the staged files written so far are removed.
    public static func stage(_ files: [(array: NumPyArray, path: String)]) throws(NumPyFileError) -> NumPyStagedWrite {
        var destinations: [NumPyDestination] = []
        for (array, path) in files {
            try NumPyArray.validate(shape: array.shape, payload: array.payload)
            let destination = try NumPyDestination(path)
            if let other = destinations.first(where: { $0 == destination }) {
                throw .unwritableFile(path: path, reason: "names the same file as '\(other.path)'")
            }
            destinations.append(destination)
        }
        var cleanedDirectories: Set<String> = []
        for destination in destinations where cleanedDirectories.insert(destination.directory).inserted {
            StagedFileName.removeAbandoned(inDirectory: destination.directory)
        }
        // Released on a failure, the write removes what it staged so far.
        let write = NumPyStagedWrite(staged: [])
        for (destination, file) in zip(destinations, files) {
            write.append(destination, stagedPath: try FileIO.stage(encode(file.array), for: destination))
        }
        return write
    }

    /// Makes SIGINT, SIGTERM and SIGHUP remove this process's staged files before the process ends
    /// with that signal (exit status 128 + the signal's number in a shell). Installs dispatch
    /// sources for the three signals once; later calls do nothing. For command-line tools: the
    /// signals' process-wide disposition changes.
    public static func removeStagedFilesOnTermination() {
        StagedFileRegistry.installHandlers()
    }
}
