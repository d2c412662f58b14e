#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The file-system side of `NumPyFile.read` and `NumPyFile.write`, on POSIX calls so that
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

    /// Writes `bytes` to `path` via a temporary file in the same directory, `fsync`, and
    /// `rename`. On any failure the temporary file is removed and `path` is untouched.
    ///
    /// - Throws: `.unwritableFile` with the `errno` text of the failing step.
    static func writeAtomically(_ bytes: [UInt8], toPath path: String) throws(NumPyFileError) {
        func failure(_ reason: String) -> NumPyFileError {
            .unwritableFile(path: path, reason: reason)
        }
        guard !path.isEmpty, !path.hasSuffix("/") else {
            throw failure("the path names a directory")
        }
        let directory: String
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            directory = "."
        }
        let separator = directory.hasSuffix("/") ? "" : "/"
        let temporaryPath = "\(directory)\(separator).npy-write-\(UUID().uuidString).tmp"

        let descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(0o666))
        guard descriptor >= 0 else { throw failure(errnoDescription()) }
        var isOpen = true
        var succeeded = false
        defer {
            if isOpen { _ = close(descriptor) }
            if !succeeded { _ = unlink(temporaryPath) }
        }

        // Keep the permission bits of a file being replaced.
        var existing = stat()
        if stat(path, &existing) == 0 && (existing.st_mode & S_IFMT) == S_IFREG {
            _ = fchmod(descriptor, existing.st_mode & 0o7777)
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
        guard rename(temporaryPath, path) == 0 else { throw failure(errnoDescription()) }
        succeeded = true
    }

    /// The `strerror` text for the current `errno`, e.g. "No such file or directory".
    private static func errnoDescription() -> String {
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
