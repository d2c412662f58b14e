#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The names of staged files, `.<name>.batchnorm-staged-<pid>-<UUID>.tmp` beside their destination,
/// so that a later write can recognize the leftovers of a process that died before renaming them
/// (SIGKILL, a crash, a power cut) and remove them.
enum StagedFileName {
    static let marker = ".batchnorm-staged-"
    static let suffix = ".tmp"
    /// Bytes of the destination's name kept in the staged name, so that it stays within `NAME_MAX`
    /// (255 bytes) whatever the destination's name.
    static let maximumNameBytes = 100

    /// A fresh staged path for `destination`, owned by this process.
    static func path(for destination: NumPyDestination) -> String {
        let nameBytes = Array(destination.name.utf8.prefix(maximumNameBytes))
        let name = String(decoding: nameBytes, as: UTF8.self)
        let separator = destination.directory.hasSuffix("/") ? "" : "/"
        return "\(destination.directory)\(separator).\(name)\(marker)\(getpid())-\(UUID().uuidString)\(suffix)"
    }

    /// The process id in a staged file's name, or `nil` if `name` is not one.
    static func ownerProcess(ofName name: String) -> pid_t? {
        guard name.hasPrefix("."), name.hasSuffix(suffix), let markerRange = name.range(of: marker, options: .backwards)
        else { return nil }
        let tail = name[markerRange.upperBound...].dropLast(suffix.count)
        guard let dash = tail.firstIndex(of: "-"), let pid = pid_t(tail[..<dash]), pid > 0,
              UUID(uuidString: String(tail[tail.index(after: dash)...])) != nil
        else { return nil }
        return pid
    }

    /// Removes the staged files in `directory` whose owning process no longer exists (`kill(pid, 0)`
    /// fails with `ESRCH`). A process id that was reused keeps its leftovers until it is gone again;
    /// only regular files are removed. Failures are ignored: this is housekeeping.
    static func removeAbandoned(inDirectory directory: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        let separator = directory.hasSuffix("/") ? "" : "/"
        for name in names {
            guard let pid = ownerProcess(ofName: name), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else {
                continue
            }
            let path = "\(directory)\(separator)\(name)"
            var status = stat()
            if lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG { _ = unlink(path) }
        }
    }
}
