import Foundation
import NumPyFile

/// The outputs of one command, written all or nothing: destinations are checked before anything is
/// read, results are collected in memory, then every output is staged beside its destination and
/// only when all are staged are they renamed into place (`NumPyStagedWrite`).
///
/// An output may name an input file (`--updated-running-mean rm.npy` over `--running-mean rm.npy`
/// updates it in place): every input is read before anything is written, and the replacement is a
/// rename, so on any failure the input is unchanged.
struct OutputFiles {
    /// `(option, path)` for every output the command line asks for.
    private let requested: [(option: String, path: String)]
    private var pending: [(option: String, path: String, array: NumPyArray)] = []

    /// Test seam: seconds to wait between staging the outputs and renaming them, so that the
    /// end-to-end tests can signal or kill the process while its staged files exist.
    static let holdStagedEnvironmentVariable = "BATCHNORM_TEST_HOLD_STAGED_SECONDS"

    /// Checks the destinations: none empty, a directory, or an existing file that is not a regular
    /// file (a device, FIFO or socket); each in an existing writable directory; no two naming the
    /// same file (compared by directory device and inode and file name, so a symbolic link to a
    /// directory is no way around it). Catches the likely write failures before any file is touched.
    init(_ outputs: [(option: String, path: String?)]) throws(CommandFailure) {
        let requested = outputs.compactMap { output in
            output.path.map { (option: output.option, path: $0) }
        }
        var seen: [NumPyDestination: (option: String, path: String)] = [:]
        let fileManager = FileManager.default
        for (option, path) in requested {
            guard !path.isEmpty else { throw .usage("\(option): the path is empty") }
            let named = "\(option) \(MessageText.quoted(path))"
            var isDirectory: ObjCBool = false
            if path.hasSuffix("/")
                || (fileManager.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue)
            {
                throw .data("\(named): is a directory")
            }
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            guard fileManager.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw .data("\(named): no such directory \(MessageText.quoted(directory))")
            }
            guard fileManager.isWritableFile(atPath: directory) else {
                throw .data("\(named): the directory \(MessageText.quoted(directory)) is not writable")
            }
            let destination: NumPyDestination
            do {
                destination = try NumPyDestination(path)
            } catch .unwritableFile(_, let reason) {
                throw .data("\(named): \(reason)")
            } catch {
                throw .data("\(named): \(error.description)")
            }
            if let other = seen[destination] {
                throw .usage(
                    "\(other.option) \(MessageText.quoted(other.path)) and \(named) name the same file; "
                        + "each output needs its own file")
            }
            seen[destination] = (option, path)
        }
        self.requested = requested
    }

    /// Queues `values` (of `shape`) for `option` if the command line asked for that output.
    mutating func add<Scalar: NumPyScalar>(_ option: String, values: [Scalar], shape: [Int]) throws(CommandFailure) {
        guard let path = requested.first(where: { $0.option == option })?.path else { return }
        do {
            pending.append((option, path, try NumPyArray(shape: shape, payload: Scalar.payload(values))))
        } catch {
            throw .data("\(option): \(error.description)")
        }
    }

    /// Stages every queued output, then renames them all into place. A failure while staging
    /// removes the staged files and leaves every destination as it was.
    func commit() throws(CommandFailure) {
        let staged: NumPyStagedWrite
        do {
            staged = try NumPyFile.stage(pending.map { ($0.array, $0.path) })
        } catch .unwritableFile(let path, let reason) {
            throw .data("\(named(path)): cannot write the file: \(reason)")
        } catch {
            throw .data(error.description)
        }
        if let seconds = ProcessInfo.processInfo.environment[Self.holdStagedEnvironmentVariable].flatMap(Double.init),
           seconds > 0 {
            Thread.sleep(forTimeInterval: seconds)
        }
        do {
            try staged.commit()
        } catch .partiallyWritten(let path, let reason, let written) {
            let replaced = written.isEmpty ? "none" : written.map(named).joined(separator: ", ")
            throw .data("\(named(path)): cannot rename the staged file into place: \(reason); "
                        + "outputs already replaced: \(replaced)")
        } catch {
            throw .data(error.description)
        }
    }

    /// `--option 'path'` for a queued output's path.
    private func named(_ path: String) -> String {
        let option = pending.first(where: { $0.path == path })?.option ?? "output"
        return "\(option) \(MessageText.quoted(path))"
    }
}
