import ArgumentParser
import BatchNormKit
import Foundation
import NumPyFile

/// A failure reported as the single line `batchnorm: error: <message>` on stderr.
struct CommandFailure: Error {
    /// Exit status 2: an option value or combination the command refuses.
    static let usageStatus: Int32 = 2
    /// Exit status 1: a file that cannot be read, decoded, written, or data the layer refuses.
    static let dataStatus: Int32 = 1

    var message: String
    var status: Int32

    static func usage(_ message: String) -> CommandFailure {
        CommandFailure(message: message, status: usageStatus)
    }

    static func data(_ message: String) -> CommandFailure {
        CommandFailure(message: message, status: dataStatus)
    }
}

/// Runs `body`; any error becomes one `batchnorm: error: ...` line on stderr and a non-zero exit
/// (`ExitCode` makes ArgumentParser exit without printing anything of its own).
func reportingErrors(_ body: () throws -> Void) throws(ExitCode) {
    let failure: CommandFailure
    do {
        try body()
        return
    } catch let error as CommandFailure {
        failure = error
    } catch let error as BatchNormError {
        failure = .data(error.description)
    } catch let error as NumPyFileError {
        failure = .data(error.description)
    } catch {
        failure = .data(String(describing: error))
    }
    FileHandle.standardError.write(Data("batchnorm: error: \(MessageText.errorLine(failure.message))\n".utf8))
    throw ExitCode(failure.status)
}
