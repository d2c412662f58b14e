import ArgumentParser
import BatchNormKit
import Foundation
import NumPyFile

// Shared by `forward` and `backward`: option parsing, `.npy` loading into typed values, the
// two-phase output (check every destination, compute, then write), and one-line error reporting.

// MARK: - Errors

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

/// Formatting for error messages.
enum MessageText {
    /// The text of an error line: ``singleLine(_:)``, shortened to ``lineLimit`` characters.
    static func errorLine(_ text: String) -> String { shortened(singleLine(text), to: lineLimit) }

    /// `text` with control characters (newlines included) escaped, so a message stays on one line
    /// whatever paths or values it quotes.
    static func singleLine(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if scalar.properties.generalCategory == .control || scalar == "\u{2028}" || scalar == "\u{2029}" {
                result += scalar.escaped(asASCII: true)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Characters a quoted path or value keeps; longer ones lose their middle.
    static let quotedLimit = 160
    /// Characters an error line keeps (after escaping), for messages that quote what they did not
    /// build themselves (ArgumentParser's).
    static let lineLimit = 1000

    /// `'text'`, shortened to ``quotedLimit`` characters by eliding its middle (`'/very/lo…/y.npy'`),
    /// so a 10,000-character path makes a short line that still shows where it starts and ends.
    static func quoted(_ text: String) -> String { "'\(shortened(text, to: quotedLimit))'" }

    /// `text` with its middle replaced by `…` if it has more than `limit` characters.
    static func shortened(_ text: String, to limit: Int) -> String {
        guard text.count > limit else { return text }
        let kept = limit - 1
        return "\(text.prefix(kept / 2))…\(text.suffix(kept - kept / 2))"
    }

    /// A shape as NumPy prints it: `(3,)`, `(2, 3, 4)`.
    static func shape(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }
}

// MARK: - Option values

/// Whether the step uses batch statistics (`training`) or the running statistics (`inference`).
enum StepMode: String, CaseIterable {
    case training
    case inference
}

/// The parsed option values a step runs with.
struct StepSettings {
    var layout: TensorLayout
    var mode: StepMode
    var epsilon: Double
    /// `nil` for a cumulative average (`--momentum none`); unused by `backward`.
    var momentum: Double?
}

/// Parsing and checking of option values and combinations.
enum OptionValues {
    /// The `--layout` spellings.
    static func parseLayout(_ text: String) throws(CommandFailure) -> TensorLayout {
        switch text {
        case "channels-first": .channelsFirst
        case "channels-last": .channelsLast
        default:
            throw .usage("--layout \(MessageText.quoted(text)) is invalid; use channels-first or channels-last")
        }
    }

    static func parseMode(_ text: String) throws(CommandFailure) -> StepMode {
        guard let mode = StepMode(rawValue: text) else {
            throw .usage("--mode \(MessageText.quoted(text)) is invalid; use training or inference")
        }
        return mode
    }

    /// `none` or `relu` (`--activation`: applied after the batch norm and the `--residual` add).
    static func parseActivation(_ text: String) throws(CommandFailure) -> FusedActivation {
        switch text {
        case "none": .identity
        case "relu": .relu
        default: throw .usage("--activation \(MessageText.quoted(text)) is invalid; use none or relu")
        }
    }

    /// A finite number `> 0`.
    static func parseEpsilon(_ text: String) throws(CommandFailure) -> Double {
        guard let value = Double(text), value.isFinite, value > 0 else {
            throw .usage(
                "--eps \(MessageText.quoted(text)) is invalid; it must be a finite number greater than 0")
        }
        return value
    }

    /// A number in `[0, 1]`, or `none` (`nil`) for a cumulative average.
    static func parseMomentum(_ text: String) throws(CommandFailure) -> Double? {
        if text == "none" { return nil }
        guard let value = Double(text), value >= 0, value <= 1 else {
            throw .usage(
                "--momentum \(MessageText.quoted(text)) is invalid; it must be a number in [0, 1] or 'none'")
        }
        return value
    }

    /// `epsilon` in the input's precision, refused if it rounds to 0 or overflows there.
    static func representableEpsilon<Scalar: NumPyScalar>(
        _ value: Double, as _: Scalar.Type
    ) throws(CommandFailure) -> Scalar {
        let rounded = Scalar(value)
        guard rounded.isFinite, rounded > 0 else {
            throw .usage("--eps \(value) is not a finite positive \(Scalar.numPyElementType.name) value")
        }
        return rounded
    }

    /// Refuses an option that must come with its partner (`--gamma` with `--beta`, ...).
    static func requirePair(
        _ first: (name: String, value: String?), _ second: (name: String, value: String?)
    ) throws(CommandFailure) {
        switch (first.value, second.value) {
        case (nil, nil), (.some, .some): return
        case (.some, nil): throw .usage("\(first.name) needs \(second.name) as well")
        case (nil, .some): throw .usage("\(second.name) needs \(first.name) as well")
        }
    }

    /// Refuses options that have no meaning in the chosen mode, rather than ignoring them.
    static func refuse(
        _ options: [(name: String, value: String?)], unless condition: Bool, reason: String
    ) throws(CommandFailure) {
        guard !condition, let given = options.first(where: { $0.value != nil }) else { return }
        throw .usage("\(given.name) \(reason)")
    }
}

// MARK: - Typed values

/// `Float` and `Double` as `.npy` payloads: the conversion between `NumPyArrayPayload` and `[Scalar]`.
protocol NumPyScalar: BatchNormScalar {
    static var numPyElementType: NumPyElementType { get }
    /// The values if `payload` holds this type, `nil` otherwise.
    static func values(in payload: NumPyArrayPayload) -> [Self]?
    static func payload(_ values: [Self]) -> NumPyArrayPayload
}

extension Float: NumPyScalar {
    static var numPyElementType: NumPyElementType { .float32 }
    static func values(in payload: NumPyArrayPayload) -> [Float]? {
        if case .float32(let values) = payload { values } else { nil }
    }
    static func payload(_ values: [Float]) -> NumPyArrayPayload { .float32(values) }
}

extension Double: NumPyScalar {
    static var numPyElementType: NumPyElementType { .float64 }
    static func values(in payload: NumPyArrayPayload) -> [Double]? {
        if case .float64(let values) = payload { values } else { nil }
    }
    static func payload(_ values: [Double]) -> NumPyArrayPayload { .float64(values) }
}

extension NumPyElementType {
    /// `float32` / `float64`, as NumPy names them.
    var name: String {
        switch self {
        case .float32: "float32"
        case .float64: "float64"
        }
    }
}

// MARK: - Reading

/// Reading the `.npy` inputs, each named by its option in error messages.
enum InputFiles {
    /// Reads and decodes `path`.
    static func read(_ option: String, path: String) throws(CommandFailure) -> NumPyArray {
        do {
            return try NumPyFile.read(contentsOf: path)
        } catch .unreadableFile(let path, let reason) {
            throw .data("\(option) \(MessageText.quoted(path)): cannot read the file: \(reason)")
        } catch {
            throw .data("\(option) \(MessageText.quoted(path)): \(error.description)")
        }
    }

    /// The values of `array` (read from `path` for `option`) as `Scalar`, refused unless the file has
    /// the input's dtype.
    static func values<Scalar: NumPyScalar>(
        of array: NumPyArray, as _: Scalar.Type, option: String, path: String
    ) throws(CommandFailure) -> [Scalar] {
        guard let values = Scalar.values(in: array.payload) else {
            throw .data(
                "\(option) \(MessageText.quoted(path)) holds \(array.elementType.name) but --input holds "
                    + "\(Scalar.numPyElementType.name); every file must have the input's dtype")
        }
        return values
    }

    /// The batch-norm shape of the `--input` array (rank >= 2, no empty dimension).
    static func shape(of array: NumPyArray, layout: TensorLayout, path: String) throws(CommandFailure) -> TensorShape {
        do {
            return try TensorShape(array.shape, layout: layout)
        } catch {
            throw .data("--input \(MessageText.quoted(path)): \(error.description)")
        }
    }

    /// A per-channel vector: shape `(channelCount,)` and the input's dtype.
    static func readVector<Scalar: NumPyScalar>(
        _ option: String, path: String, channelCount: Int, as type: Scalar.Type
    ) throws(CommandFailure) -> [Scalar] {
        let array = try read(option, path: path)
        let values = try values(of: array, as: type, option: option, path: path)
        guard array.shape == [channelCount] else {
            throw .data(
                "\(option) \(MessageText.quoted(path)) has shape \(MessageText.shape(array.shape)) but needs "
                    + "\(MessageText.shape([channelCount])): one value per channel of --input")
        }
        return values
    }

    /// A tensor with exactly the input's shape and dtype.
    static func readTensor<Scalar: NumPyScalar>(
        _ option: String, path: String, shape: [Int], as type: Scalar.Type
    ) throws(CommandFailure) -> [Scalar] {
        let array = try read(option, path: path)
        let values = try values(of: array, as: type, option: option, path: path)
        guard array.shape == shape else {
            throw .data(
                "\(option) \(MessageText.quoted(path)) has shape \(MessageText.shape(array.shape)) but --input has "
                    + "shape \(MessageText.shape(shape))")
        }
        return values
    }
}

// MARK: - Writing

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
