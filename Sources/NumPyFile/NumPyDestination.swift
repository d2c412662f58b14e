#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a `.npy` file is to be written, checked and identified by the file it names.
///
/// Two destinations are equal when they name the same directory entry: the same directory (device
/// and inode, so `d/y.npy` and `l/y.npy` with `l -> d` are equal) and the same file name. A write
/// replaces that entry (a symbolic link there is replaced, not written through), so equal
/// destinations are exactly the writes that would overwrite each other.
public struct NumPyDestination: Hashable, Sendable {
    /// The path as given.
    public let path: String
    /// The directory part of `path` (`.` when it has none).
    public let directory: String
    /// The last component of `path`.
    public let name: String
    private let directoryDevice: UInt64
    private let directoryInode: UInt64

    /// Checks `path` as a destination: it must name an entry in an existing directory, and an
    /// existing file there (after following symbolic links) must be a regular file. Device nodes,
    /// FIFOs and sockets are refused rather than replaced by a regular file.
    ///
    /// - Throws: `.unwritableFile` with the reason: "the path names a directory" (empty or ending
    ///   in `/`), "is a directory", "not a regular file (character device)" (block device, FIFO,
    ///   socket), or the `errno` text of the directory's `stat` ("No such file or directory").
    public init(_ path: String) throws(NumPyFileError) {
        func failure(_ reason: String) -> NumPyFileError { .unwritableFile(path: path, reason: reason) }
        guard !path.isEmpty, !path.hasSuffix("/") else { throw failure("the path names a directory") }
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
            name = String(path[path.index(after: slash)...])
        } else {
            (directory, name) = (".", path)
        }
        var directoryStatus = stat()
        guard stat(directory, &directoryStatus) == 0 else { throw failure(FileIO.errnoDescription()) }
        guard directoryStatus.st_mode & S_IFMT == S_IFDIR else { throw failure("\(directory) is not a directory") }
        var status = stat()
        if stat(path, &status) == 0, let kind = Self.nonRegularKind(status.st_mode) {
            throw failure(kind == "directory" ? "is a directory" : "not a regular file (\(kind))")
        }
        self.path = path
        directoryDevice = UInt64(directoryStatus.st_dev)
        directoryInode = UInt64(directoryStatus.st_ino)
    }

    /// `nil` for a regular file, else what the mode says the file is.
    static func nonRegularKind(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: "directory"
        case S_IFCHR: "character device"
        case S_IFBLK: "block device"
        case S_IFIFO: "FIFO"
        case S_IFSOCK: "socket"
        default: "special file"
        }
    }

    public static func == (left: Self, right: Self) -> Bool {
        left.directoryDevice == right.directoryDevice && left.directoryInode == right.directoryInode
            && left.name == right.name
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(directoryDevice)
        hasher.combine(directoryInode)
        hasher.combine(name)
    }
}
