#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The file-system side of `NumPyFile.read` and of staged writes (`NumPyStagedWrite`), on POSIX calls so that
/// every failure maps to a precise `errno` message and the file type is checked on the
/// opened descriptor (no check-then-open race).
enum FileIO {
    /// Reads the whole regular file at `path` (following symbolic links).
    ///
    /// The file is opened non-blocking (so a FIFO cannot hang the open), checked with
    /// `fstat` to be a regular file, and read until end of file.
    ///
    /// - Throws: `.unreadableFile` with the `errno` text, "is a directory" or "not a regular
    ///   file".
    static func readRegularFile(atPath path: String) throws(NumPyFileError) -> [UInt8] {
        func failure(_ reason: String) -> NumPyFileError {
            .unreadableFile(path: path, reason: reason)
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { throw failure(errnoDescription()) }
        defer { _ = close(descriptor) }

        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw failure(errnoDescription()) }
        switch status.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw failure("is a directory")
        default: throw failure("not a regular file")
        }

        let expectedSize = Int(clamping: status.st_size)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(expectedSize)
        // Read the size fstat reported, then keep going in chunks in case the file grew.
        var chunkSize = max(expectedSize, 1)
        while true {
            let start = bytes.count
            bytes.append(contentsOf: repeatElement(0, count: chunkSize))
            let result = bytes.withUnsafeMutableBytes { raw in
                posixRead(descriptor, raw.baseAddress.map { $0 + start }, chunkSize)
            }
            guard result >= 0 else {
                if errno == EINTR {
                    bytes.removeLast(chunkSize)
                    continue
                }
                throw failure(errnoDescription())
            }
            bytes.removeLast(chunkSize - result)
            if result == 0 { break }
            chunkSize = 1 << 16
        }
        return bytes
    }

    /// Writes `bytes` to a new staged file beside `destination` (see `StagedFileName`), flushes it
    /// with `fsync`, closes it and returns its path. The file is registered for removal on a
    /// termination signal while it exists. On any failure it is removed and nothing else changes.
    ///
    /// - Throws: `.unwritableFile` (for `destination.path`) with the `errno` text of the failing step.
    static func stage(_ bytes: [UInt8], for destination: NumPyDestination) throws(NumPyFileError) -> String {
        func failure(_ reason: String) -> NumPyFileError {
            .unwritableFile(path: destination.path, reason: reason)
        }
        let stagedPath = StagedFileName.path(for: destination)
        guard let descriptor = StagedFileRegistry.creating(stagedPath, {
            open(stagedPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(0o666))
        }) else { throw failure("the process is being terminated") }
        guard descriptor >= 0 else {
            let reason = errnoDescription()
            StagedFileRegistry.forget([stagedPath])
            throw failure(reason)
        }
        var isOpen = true
        var succeeded = false
        defer {
            if isOpen { _ = close(descriptor) }
            if !succeeded {
                _ = unlink(stagedPath)
                StagedFileRegistry.forget([stagedPath])
            }
        }

        // Keep the permission bits of a file being replaced.
        var existing = stat()
        if stat(destination.path, &existing) == 0 && (existing.st_mode & S_IFMT) == S_IFREG {
            _ = fchmod(descriptor, existing.st_mode & 0o7777)
        }

        if let injected = FileIOFaults.failingWrite, injected == destination.path {
            throw failure(String(cString: strerror(ENOSPC)))
        }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { raw in
                posixWrite(descriptor, raw.baseAddress.map { $0 + written }, bytes.count - written)
            }
            guard result > 0 else {
                if result < 0 && errno == EINTR { continue }
                throw failure(result < 0 ? errnoDescription() : "write made no progress")
            }
            written += result
        }
        guard fsync(descriptor) == 0 else { throw failure(errnoDescription()) }
        isOpen = false
        guard close(descriptor) == 0 else { throw failure(errnoDescription()) }
        succeeded = true
        return stagedPath
    }

    /// Renames `stagedPath` onto `destinationPath`.
    /// - Returns: `nil`, or the `errno` text of the failed `rename`.
    static func moveIntoPlace(_ stagedPath: String, _ destinationPath: String) -> String? {
        if let injected = FileIOFaults.failingRename, injected == destinationPath {
            return String(cString: strerror(EIO))
        }
        return rename(stagedPath, destinationPath) == 0 ? nil : errnoDescription()
    }

    /// The `strerror` text for the current `errno`, e.g. "No such file or directory".
    static func errnoDescription() -> String {
        let code = errno
        return String(cString: strerror(code))
    }
}

// File-scope wrappers so the libc functions are not shadowed by `NumPyFile.read`/`write`.
private func posixRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}

private func posixWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}

/// Failures injected by tests into staged writes (the paths of destinations whose write, or whose
/// rename, fails), so the cleanup after a full disk or a failed rename is checked without one.
package enum FileIOFaults {
    /// Staging the file for this destination path fails as on a full disk (`ENOSPC`).
    @TaskLocal package static var failingWrite: String?
    /// Renaming the staged file onto this destination path fails (`EIO`).
    @TaskLocal package static var failingRename: String?
}
