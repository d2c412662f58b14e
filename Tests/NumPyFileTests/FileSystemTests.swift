import Foundation
import Testing
@testable import NumPyFile

@Suite("read(contentsOf:) and write(_:to:)")
struct FileSystemTests {
    static let sample: NumPyArray = {
        // A literal shape/payload pair that is valid; `try?` keeps the test free of `try!`.
        (try? NumPyArray(shape: [2, 2], payload: .float64([1, 2, 3, 4])))
            ?? NumPyArray(validatedShape: [0], payload: .float64([]))
    }()

    static var isRoot: Bool { geteuid() == 0 }

    @Test func writeThenReadRoundTrips() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("a.npy")
        try NumPyFile.write(Self.sample, to: path)
        #expect(try NumPyFile.read(contentsOf: path) == Self.sample)
        let written = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect([UInt8](written) == NumPyFile.encode(Self.sample))
        #expect(try directory.contents() == ["a.npy"])  // no temporary file left behind
    }

    @Test func writeReplacesExistingFileAndKeepsItsPermissions() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("a.npy")
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        try NumPyFile.write(Self.sample, to: path)
        #expect(try NumPyFile.read(contentsOf: path) == Self.sample)
        let permissions = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(permissions == 0o600)
    }

    @Test func writeIntoMissingDirectoryThrowsAndCreatesNothing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("missing/a.npy")
        let error = #expect(throws: NumPyFileError.self) { try NumPyFile.write(Self.sample, to: path) }
        guard case .unwritableFile(let errorPath, let reason) = error else {
            Issue.record("unexpected error \(String(describing: error))")
            return
        }
        #expect(errorPath == path)
        #expect(reason.localizedCaseInsensitiveContains("no such file"))
        #expect(try directory.contents().isEmpty)
    }

    /// The array is made inconsistent after initialization, so `write` must fail.
    @Test func failedWriteLeavesExistingFileUnchanged() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("a.npy")
        let original = NumPyFixtures.float32Matrix
        try Data(original).write(to: URL(fileURLWithPath: path))

        var broken = Self.sample
        broken.shape = [5]
        #expect(throws: NumPyFileError.elementCountMismatch(shapeElementCount: 5, payloadCount: 4)) {
            try NumPyFile.write(broken, to: path)
        }
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) == original)
        #expect(try directory.contents() == ["a.npy"])
    }

    /// Renaming over a non-empty directory fails after the temporary file was written:
    /// the temporary file must be removed and the directory left as it was.
    @Test func failedRenameCleansUp() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = directory.file("target.npy")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: "\(target)/inside"))

        let error = #expect(throws: NumPyFileError.self) { try NumPyFile.write(Self.sample, to: target) }
        guard case .unwritableFile = error else {
            Issue.record("unexpected error \(String(describing: error))")
            return
        }
        #expect(try directory.contents() == ["target.npy"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: target) == ["inside"])
    }

    @Test(.enabled(if: !isRoot, "root ignores directory permissions"))
    func writeIntoReadOnlyDirectoryLeavesExistingFileUnchanged() throws {
        let directory = try TemporaryDirectory()
        defer {
            try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
            directory.remove()
        }
        let path = directory.file("a.npy")
        let original = NumPyFixtures.float32Matrix
        try Data(original).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: directory.path)

        #expect(throws: NumPyFileError.self) { try NumPyFile.write(Self.sample, to: path) }
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) == original)
        #expect(try directory.contents() == ["a.npy"])
    }

    @Test func writeToDirectoryPathThrows() {
        #expect(throws: NumPyFileError.unwritableFile(path: "/tmp/", reason: "the path names a directory")) {
            try NumPyFile.write(Self.sample, to: "/tmp/")
        }
    }

    @Test func readMissingFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("absent.npy")
        let error = #expect(throws: NumPyFileError.self) { try NumPyFile.read(contentsOf: path) }
        guard case .unreadableFile(let errorPath, let reason) = error else {
            Issue.record("unexpected error \(String(describing: error))")
            return
        }
        #expect(errorPath == path)
        #expect(reason.localizedCaseInsensitiveContains("no such file"))
        #expect(error?.description.hasPrefix("unreadable file: '\(path)': ") == true)
    }

    @Test func readDirectory() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(throws: NumPyFileError.unreadableFile(path: directory.path, reason: "is a directory")) {
            try NumPyFile.read(contentsOf: directory.path)
        }
    }

    @Test func readDeviceIsRefused() {
        #expect(throws: NumPyFileError.unreadableFile(path: "/dev/null", reason: "not a regular file")) {
            try NumPyFile.read(contentsOf: "/dev/null")
        }
    }

    @Test func readFollowsSymbolicLinks() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("real.npy")
        try Data(NumPyFixtures.float64Vector).write(to: URL(fileURLWithPath: path))
        let link = directory.file("link.npy")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        #expect(try NumPyFile.read(contentsOf: link).payload == .float64([1.5, -2.25, 3e300]))
    }

    @Test func readReportsDecodeErrors() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("bad.npy")
        try Data("PK\u{3}\u{4}".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: NumPyFileError.badMagic) { try NumPyFile.read(contentsOf: path) }
    }
}
