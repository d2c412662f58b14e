import Foundation
import Testing
@testable import NumPyFile

/// `NumPyFile.stage(_:)` and `NumPyStagedWrite.commit()`: several outputs written all or nothing,
/// destinations identified by the file they name, special files refused, staged files recognizable.
@Suite("Staged writes")
struct StagedWriteTests {
    static let sample = FileSystemTests.sample
    static let other: NumPyArray = (try? NumPyArray(shape: [3], payload: .float32([1, 2, 3])))
        ?? NumPyArray(validatedShape: [0], payload: .float32([]))

    static func stagedNames(_ directory: TemporaryDirectory) throws -> [String] {
        try directory.contents().filter { $0.contains(StagedFileName.marker) }
    }

    /// The second output's file system is full: the first output, staged already, must not appear
    /// (it used to be renamed into place before the second was written) and an existing file at the
    /// first destination keeps its bytes.
    @Test func aFailedWriteWritesNothing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = directory.file("y.npy"), second = directory.file("sm.npy"), third = directory.file("new.npy")
        try Data("old".utf8).write(to: URL(fileURLWithPath: first))
        let error = FileIOFaults.$failingWrite.withValue(second) {
            #expect(throws: NumPyFileError.self) {
                try NumPyFile.stage([(Self.sample, first), (Self.other, second), (Self.other, third)]).commit()
            }
        }
        #expect(error == .unwritableFile(path: second, reason: String(cString: strerror(ENOSPC))))
        #expect(try Data(contentsOf: URL(fileURLWithPath: first)) == Data("old".utf8))
        #expect(try directory.contents() == ["y.npy"])
    }

    /// A rename failing half-way is the one partial outcome left; the error names what was replaced
    /// and no staged file remains.
    @Test func aRenameFailingHalfWayNamesWhatWasReplaced() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = directory.file("a.npy"), second = directory.file("b.npy"), third = directory.file("c.npy")
        let write = try NumPyFile.stage([(Self.sample, first), (Self.other, second), (Self.other, third)])
        #expect(try Self.stagedNames(directory).count == 3)
        let error = FileIOFaults.$failingRename.withValue(second) {
            #expect(throws: NumPyFileError.self) { try write.commit() }
        }
        #expect(error == .partiallyWritten(path: second, reason: String(cString: strerror(EIO)), written: [first]))
        #expect(error?.description.contains("(already replaced: '\(first)')") == true)
        #expect(try directory.contents() == ["a.npy"])
        #expect(try NumPyFile.read(contentsOf: first) == Self.sample)
    }

    /// Staged files are named after their destination and this process, and released ones vanish.
    @Test func discardedWritesLeaveNothing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        do {
            let write = try NumPyFile.stage([(Self.sample, directory.file("a.npy"))])
            let names = try Self.stagedNames(directory)
            #expect(names.count == 1 && names[0].hasPrefix(".a.npy.batchnorm-staged-\(getpid())-"))
            #expect(names.allSatisfy { StagedFileName.ownerProcess(ofName: $0) == getpid() })
            write.discard()
            #expect(try directory.contents().isEmpty)
        }
        _ = try NumPyFile.stage([(Self.sample, directory.file("b.npy"))])  // released unused
        #expect(try directory.contents().isEmpty)
        // A 255-byte destination name still gives a staged name within NAME_MAX.
        let longName = String(repeating: "n", count: 251) + ".npy"
        try NumPyFile.write(Self.sample, to: directory.file(longName))
        #expect(try directory.contents() == [longName])
    }

    /// `d/y.npy` and `l/y.npy` with `l -> d` are one file; the duplicate check compared path text.
    @Test func destinationsAreComparedByTheFileTheyName() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.file("d"), withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: directory.file("l"), withDestinationPath: "d")
        let real = directory.file("d/y.npy"), aliased = directory.file("l/y.npy")
        #expect(try NumPyDestination(real) == NumPyDestination(aliased))
        #expect(try NumPyDestination(real) != NumPyDestination(directory.file("d/z.npy")))
        #expect(throws: NumPyFileError.unwritableFile(path: aliased, reason: "names the same file as '\(real)'")) {
            try NumPyFile.stage([(Self.sample, real), (Self.other, aliased)])
        }
        #expect(try directory.contents() == ["d", "l"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.file("d")).isEmpty)
    }

    /// A FIFO, a device node or a symbolic link to one is refused, not replaced by a regular file.
    @Test func specialFilesAreNotReplaced() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let fifo = directory.file("fifo")
        #expect(mkfifo(fifo, 0o644) == 0)
        try FileManager.default.createSymbolicLink(atPath: directory.file("link"), withDestinationPath: "fifo")
        for path in [fifo, directory.file("link")] {
            #expect(throws: NumPyFileError.unwritableFile(path: path, reason: "not a regular file (FIFO)")) {
                try NumPyFile.write(Self.sample, to: path)
            }
        }
        var status = stat()
        #expect(stat(fifo, &status) == 0 && status.st_mode & S_IFMT == S_IFIFO)
        #expect(throws: NumPyFileError.unwritableFile(path: "/dev/null", reason: "not a regular file (character device)")) {
            try NumPyFile.write(Self.sample, to: "/dev/null")
        }
        #expect(throws: NumPyFileError.unwritableFile(path: directory.path, reason: "is a directory")) {
            try NumPyFile.write(Self.sample, to: directory.path)
        }
    }

    /// Leftovers of a dead process (SIGKILL during a write) are removed by the next staging in their
    /// directory; those of a live process, and other hidden files, stay.
    @Test func abandonedStagedFilesOfDeadProcessesAreRemoved() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let deadProcess = try Self.exitedProcessID()
        let uuid = UUID().uuidString
        let abandoned = ".y.npy.batchnorm-staged-\(deadProcess)-\(uuid).tmp"
        let live = ".y.npy.batchnorm-staged-\(getppid())-\(uuid).tmp"
        let unrelated = [".y.npy.batchnorm-staged-\(deadProcess)-not-a-uuid.tmp", ".notes.tmp"]
        for name in [abandoned, live] + unrelated {
            try Data("x".utf8).write(to: URL(fileURLWithPath: directory.file(name)))
        }
        #expect(StagedFileName.ownerProcess(ofName: abandoned) == deadProcess)
        try NumPyFile.write(Self.sample, to: directory.file("z.npy"))
        #expect(try directory.contents() == ([live, "z.npy"] + unrelated).sorted())
    }

    /// The id of a child process that has exited and been reaped (posix_spawn, not Foundation's
    /// `Process`, whose `run()` leaves an allocation LeakSanitizer reports).
    static func exitedProcessID() throws -> pid_t {
        var child: pid_t = 0
        let arguments: [UnsafeMutablePointer<CChar>?] = [strdup("true"), nil]
        defer { arguments.forEach { free($0) } }
        guard posix_spawn(&child, "/bin/true", nil, nil, arguments, nil) == 0 else {
            throw CocoaError(.executableLoad)
        }
        var status: Int32 = 0
        guard waitpid(child, &status, 0) == child else { throw CocoaError(.executableLoad) }
        return child
    }
}
