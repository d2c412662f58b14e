import ArgumentParser
import BatchNormKit
import LibFuzzerDriver

// The option types are internal to BatchNormCommands: scripts/fuzz.sh builds with -enable-testing.
@testable import BatchNormCommands

/// libFuzzer entry point: the option values and command lines of `batchnorm forward` and `backward`.
///
/// The input's first byte picks what the rest is (bit 1) and for which subcommand (bit 0):
/// - bit 1 clear: one option value (UTF-8), fed to every option-value parser of `batchnorm` (the
///   enumerations' `init?(argument:)`, and `OptionValues`' `--eps` in both precisions, `--momentum`,
///   `--group-size`, `--iterations`).
/// - bit 1 set: a command line, the arguments separated by NUL bytes, parsed by ArgumentParser exactly
///   as `batchnorm` parses it (`parse(_:)`, the step before `run()`); a parsed command's values then go
///   through the checks `run()` starts with. This half is much slower (ArgumentParser reflects over the
///   command type on every parse and renders a usage text for every refusal).
///
/// No file is read or written: `run()` itself is never called. Checks, beyond "no trap": a value
/// `OptionValues` accepts lies in its documented range (an epsilon finite and `> 0`, a momentum in
/// `[0, 1]` or `nil`), a refusal has the usage exit status 2, and every error, ArgumentParser's
/// included, prints as one line once escaped the way `batchnorm` prints it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOptionParsing(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let isCommandLine = bytes[0] & 2 != 0, isBackward = bytes[0] & 1 != 0
    guard isCommandLine else {
        checkValue(String(decoding: bytes.dropFirst(), as: UTF8.self))
        return 0
    }
    let arguments = bytes.dropFirst().split(separator: 0, omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self) }
    if isBackward {
        parse(BackwardCommand.self, arguments) { command in
            checkEpsilon(command.eps)
            expectUsageFailure { () throws(CommandFailure) in
                try OptionValues.requirePair(
                    ("--running-mean", command.runningMean), ("--running-var", command.runningVar))
            }
            checkWhitening(command.whiteningOptions)
        }
    } else {
        parse(ForwardCommand.self, arguments) { command in
            checkEpsilon(command.eps)
            if let momentum = command.momentum.value {
                precondition(momentum >= 0 && momentum <= 1, "parsed --momentum as \(momentum)")
            }
            expectUsageFailure { () throws(CommandFailure) in
                try OptionValues.requirePair(("--gamma", command.gamma), ("--beta", command.beta))
            }
            expectUsageFailure { () throws(CommandFailure) in
                try OptionValues.requirePair(
                    ("--running-mean", command.runningMean), ("--running-var", command.runningVar))
            }
            expectUsageFailure { () throws(CommandFailure) in
                try OptionValues.refuse(
                    [("--updated-running-mean", command.updatedRunningMean), ("--saved-mean", command.savedMean)],
                    unless: command.mode == .training, reason: "applies only to --mode training")
            }
            checkWhitening(command.whiteningOptions)
        }
    }
    return 0
}

/// Parses `arguments` as `Command`; hands a parsed command to `body`, checks the message of a refusal
/// (or of a help request, which ArgumentParser also reports by throwing).
private func parse<Command: ParsableCommand>(
    _: Command.Type, _ arguments: [String], _ body: (Command) -> Void
) {
    let command: Command
    do {
        command = try Command.parse(arguments)
    } catch {
        expectOneLine(Command.message(for: error))
        return
    }
    body(command)
}

/// Runs every option-value parser `batchnorm` has on `text`: the enumerations' `init?(argument:)` and
/// the range-checking transforms of `OptionValues`. An accepted value must lie in its documented range;
/// a refusal's reason must print as one line.
private func checkValue(_ text: String) {
    _ = LayoutArgument(argument: text)
    _ = StepMode(argument: text)
    _ = ActivationArgument(argument: text)
    _ = WhiteningArgument(argument: text)
    _ = WeightLayout(argument: text)
    expectValidationFailure { () throws(ValidationError) in
        let epsilon = try OptionValues.epsilon(text)
        precondition(epsilon.isFinite && epsilon > 0, "accepted --eps \(text.debugDescription) as \(epsilon)")
        checkEpsilon(epsilon)
    }
    expectValidationFailure { () throws(ValidationError) in
        if let value = try OptionValues.momentum(text).value {
            precondition(value >= 0 && value <= 1, "accepted --momentum \(text.debugDescription) as \(value)")
        }
    }
    expectValidationFailure { () throws(ValidationError) in
        let size = try OptionValues.groupSize(text)
        precondition(size >= 1, "accepted --group-size \(text.debugDescription) as \(size)")
    }
    expectValidationFailure { () throws(ValidationError) in
        let count = try OptionValues.iterations(text)
        precondition((1...1000).contains(count), "accepted --iterations \(text.debugDescription) as \(count)")
    }
}

/// A parsed `--eps` is finite and `> 0`, and converts to each precision or is refused with the usage status.
private func checkEpsilon(_ epsilon: Double) {
    precondition(epsilon.isFinite && epsilon > 0, "parsed --eps as \(epsilon)")
    expectUsageFailure { () throws(CommandFailure) in
        let single = try OptionValues.representableEpsilon(epsilon, as: Float.self)
        precondition(single.isFinite && single > 0, "accepted --eps \(epsilon) as Float \(single)")
    }
    expectUsageFailure { () throws(CommandFailure) in
        _ = try OptionValues.representableEpsilon(epsilon, as: Double.self)
    }
}

/// The whitening options' combination check refuses with the usage status or gives a valid pair.
private func checkWhitening(_ options: WhiteningOptions) {
    guard options.isRequested else { return }
    expectUsageFailure { () throws(CommandFailure) in
        let (_, groupSize) = try options.parsed()
        precondition(groupSize >= 1, "parsed --group-size as \(groupSize)")
    }
}

/// Runs `body`; a refusal must be ArgumentParser's `ValidationError` with a one-line reason.
private func expectValidationFailure(_ body: () throws(ValidationError) -> Void) {
    do {
        try body()
    } catch {
        expectOneLine(error.message)
    }
}

/// Runs `body`; a refusal must be a usage failure (exit status 2) whose printed line is one line.
private func expectUsageFailure(_ body: () throws(CommandFailure) -> Void) {
    do {
        try body()
    } catch {
        precondition(error.status == CommandFailure.usageStatus, "status \(error.status) for \(error.message)")
        expectOneLine(error.message)
    }
}

/// `batchnorm` prints `MessageText.singleLine(message)` after `batchnorm: error: `: it must be one line.
private func expectOneLine(_ message: String) {
    let printed = MessageText.singleLine(message)
    precondition(!printed.contains(where: \.isNewline), "multi-line message: \(printed.debugDescription)")
}

/// The process entry point. SwiftPM links `main` to `OptionParsingFuzzer_main` (see LibFuzzerDriver.h), so this hands
/// the command line to libFuzzer's driver with the fuzz target above.
@_cdecl("OptionParsingFuzzer_main")
public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, fuzzOptionParsing)
}
