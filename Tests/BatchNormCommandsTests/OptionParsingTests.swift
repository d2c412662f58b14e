import ArgumentParser
import BatchNormKit
import Testing

@testable import BatchNormCommands

/// The option values of `forward`, `backward` and `fold` are ArgumentParser types: parsed once, typed,
/// and a bad value is refused while parsing, before `run()` reads or writes any file.
@Suite("Option values are typed and refused while parsing")
struct OptionParsingTests {
    static let forwardFiles = ["--input", "x.npy", "--output", "y.npy"]
    static let backwardFiles = ["--input", "x.npy", "--grad-output", "dy.npy", "--grad-input", "dx.npy"]

    @Test("forward's defaults are PyTorch's")
    func forwardDefaults() throws {
        let command = try ForwardCommand.parse(Self.forwardFiles)
        #expect(command.layout == .channelsFirst)
        #expect(command.mode == .training)
        #expect(command.eps == 1e-5)
        #expect(command.momentum == .factor(0.1))
        #expect(command.activation == .none)
        #expect(command.whiteningOptions.isRequested == false)
    }

    @Test("bench's directions: bwd-infer and bwd-infer-dx on request, all is the three the peers' table compares")
    func benchDirections() throws {
        #expect(try BenchCommand.parse(["--direction", "bwd-infer"]).direction.directions == [.backwardInference])
        #expect(try BenchCommand.parse(["--direction", "bwd-infer-dx"]).direction.directions == [.inferenceInputGradient])
        #expect(BenchDirection.inferenceInputGradient.trafficMultiple == 2)
        #expect(BenchActivation.addRelu.trafficMultiple(.inferenceInputGradient) == 4)
        #expect(try BenchCommand.parse([]).direction.directions == [.forwardTraining, .forwardInference, .backward])
    }

    @Test("forward parses every value it documents")
    func forwardValues() throws {
        let command = try ForwardCommand.parse(Self.forwardFiles + [
            "--layout", "channels-last", "--mode", "inference", "--eps", "0.25", "--momentum", "none",
            "--activation", "relu",
        ])
        #expect(command.layout.layout == .channelsLast)
        #expect(command.mode == .inference)
        #expect(command.eps == 0.25)
        #expect(command.momentum.value == nil)
        #expect(command.activation.activation == .relu)
        #expect(try ForwardCommand.parse(Self.forwardFiles + ["--momentum", "1"]).momentum == .factor(1))
        #expect(try ForwardCommand.parse(Self.forwardFiles + ["--momentum", "0"]).momentum == .factor(0))
    }

    @Test("a bad value is refused with the option and the reason in one line", arguments: [
        (["--layout", "nhwc"], "--layout <layout>", "channels-first"),
        (["--mode", "eval"], "--mode <mode>", "inference"),
        (["--eps", "0"], "--eps <eps>", "finite number greater than 0"),
        (["--eps", "-1e-5"], "--eps <eps>", "finite number greater than 0"),
        (["--eps", "nan"], "--eps <eps>", "finite number greater than 0"),
        (["--eps", "inf"], "--eps <eps>", "finite number greater than 0"),
        (["--momentum", "1.5"], "--momentum <m>", "[0, 1] or 'none'"),
        (["--momentum", "-0.1"], "--momentum <m>", "[0, 1] or 'none'"),
        (["--activation", "gelu"], "--activation <activation>", "relu"),
        (["--group-size", "0"], "--group-size <G>", "at least 1"),
        (["--iterations", "1001"], "--iterations <T>", "[1, 1000]"),
        (["--whitening", "pca"], "--whitening <method>", "iternorm"),
    ])
    func badValue(arguments: [String], option: String, reason: String) {
        #expect(throws: (any Error).self) { try ForwardCommand.parse(Self.forwardFiles + arguments) }
        do {
            _ = try ForwardCommand.parse(Self.forwardFiles + arguments)
        } catch {
            let message = MessageText.errorLine(ForwardCommand.message(for: error))
            #expect(message.contains(option), "\(message)")
            #expect(message.contains(reason), "\(message)")
            #expect(!message.contains("\n"))
            #expect(ForwardCommand.exitCode(for: error) != .success)
        }
    }

    @Test("backward and fold share the typed --eps and --layout")
    func backwardAndFold() throws {
        let backward = try BackwardCommand.parse(Self.backwardFiles + ["--layout", "channels-last", "--eps", "1e-3"])
        #expect(backward.layout == .channelsLast && backward.eps == 1e-3)
        #expect(throws: (any Error).self) { try BackwardCommand.parse(Self.backwardFiles + ["--eps", "x"]) }
        let foldFiles = ["--weight", "w.npy", "--running-mean", "m.npy", "--running-var", "v.npy",
                         "--folded-weight", "fw.npy", "--folded-bias", "fb.npy"]
        for layout in WeightLayout.allCases {
            let fold = try FoldCommand.parse(foldFiles + ["--weight-layout", layout.rawValue])
            #expect(fold.weightLayout == layout)
        }
        #expect(throws: (any Error).self) { try FoldCommand.parse(foldFiles + ["--weight-layout", "in-out"]) }
    }

    @Test("whitening options: method and group size required together, iterations only for IterNorm")
    func whiteningCombinations() throws {
        func parsed(_ arguments: [String]) throws -> (whitening: Whitening, groupSize: Int) {
            try ForwardCommand.parse(Self.forwardFiles + arguments).whiteningOptions.parsed()
        }
        #expect(try parsed(["--whitening", "zca", "--group-size", "4"]) == (.zca, 4))
        #expect(try parsed(["--whitening", "iternorm", "--group-size", "8"]) == (.iterNorm(iterations: 5), 8))
        #expect(try parsed(["--whitening", "iternorm", "--group-size", "8", "--iterations", "7"])
                == (.iterNorm(iterations: 7), 8))
        for arguments in [["--group-size", "4"], ["--whitening", "zca"],
                          ["--whitening", "zca", "--group-size", "4", "--iterations", "3"]] {
            #expect(throws: CommandFailure.self) { try parsed(arguments) }
            do { _ = try parsed(arguments) } catch { #expect((error as? CommandFailure)?.status == CommandFailure.usageStatus) }
        }
    }

    @Test("pairs and mode-only options are refused with the usage status")
    func combinations() {
        #expect(throws: CommandFailure.self) {
            try OptionValues.requirePair(("--gamma", "g.npy"), ("--beta", nil))
        }
        do {
            try OptionValues.requirePair(("--gamma", nil), ("--beta", "b.npy"))
        } catch {
            #expect(error.message == "--beta needs --gamma as well")
            #expect(error.status == CommandFailure.usageStatus)
        }
        #expect(throws: CommandFailure.self) {
            try OptionValues.refuse([("--saved-mean", "m.npy")], unless: false, reason: "applies only to --mode training")
        }
        #expect(throws: Never.self) {
            try OptionValues.refuse([("--saved-mean", "m.npy")], unless: true, reason: "unused")
        }
    }
}
