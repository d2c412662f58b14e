import ArgumentParser
import BatchNormKit

// The option values of `forward`, `backward` and `fold` as ArgumentParser types: enumerations are
// `ExpressibleByArgument` (ArgumentParser lists their spellings when a value is refused), numbers with a
// range are parsed by `OptionValues` transforms whose `ValidationError` says the range. Either way a
// bad value is refused while parsing, before any file is touched, with the usage exit status 2.

/// `--layout` of `forward`, `backward` and `bench-whitening`.
enum LayoutArgument: String, ExpressibleByArgument, CaseIterable {
    case channelsFirst = "channels-first"
    case channelsLast = "channels-last"

    var layout: TensorLayout { self == .channelsFirst ? .channelsFirst : .channelsLast }
}

/// Whether the step uses batch statistics (`training`) or the running statistics (`inference`).
enum StepMode: String, ExpressibleByArgument, CaseIterable {
    case training
    case inference
}

/// `--activation` of `forward` and `backward`: applied after the batch norm and the `--residual` add.
enum ActivationArgument: String, ExpressibleByArgument, CaseIterable {
    case none
    case relu

    var activation: FusedActivation { self == .none ? .identity : .relu }
}

/// `--momentum`: the running-statistics update factor, or `none` for a cumulative average.
enum MomentumArgument: Equatable {
    case factor(Double)
    case cumulativeAverage

    /// The layer's `momentum` (`nil` for a cumulative average).
    var value: Double? {
        if case .factor(let factor) = self { factor } else { nil }
    }
}

/// `--weight-layout` of `fold`.
extension WeightLayout: ExpressibleByArgument {}

/// `--whitening` of `forward` and `backward`.
enum WhiteningArgument: String, ExpressibleByArgument, CaseIterable {
    case zca
    case iternorm
}

/// The parsed option values a step runs with.
struct StepSettings {
    var layout: TensorLayout
    var mode: StepMode
    var epsilon: Double
    /// `nil` for a cumulative average (`--momentum none`); unused by `backward`.
    var momentum: Double?
}

/// Parsing of option values with a range (ArgumentParser `transform`s), and checks of option
/// combinations that `run()` makes before reading any file.
enum OptionValues {
    /// `--eps`: a finite number `> 0`.
    static func epsilon(_ text: String) throws(ValidationError) -> Double {
        guard let value = Double(text), value.isFinite, value > 0 else {
            throw ValidationError("it must be a finite number greater than 0")
        }
        return value
    }

    /// `--momentum`: a number in `[0, 1]`, or `none` for a cumulative average.
    static func momentum(_ text: String) throws(ValidationError) -> MomentumArgument {
        if text == "none" { return .cumulativeAverage }
        guard let value = Double(text), value >= 0, value <= 1 else {
            throw ValidationError("it must be a number in [0, 1] or 'none'")
        }
        return .factor(value)
    }

    /// `--group-size`: an integer of at least 1.
    static func groupSize(_ text: String) throws(ValidationError) -> Int {
        guard let value = Int(text), value >= 1 else {
            throw ValidationError("it must be an integer of at least 1")
        }
        return value
    }

    /// `--iterations`: an integer in `[1, Whitening.maximumIterations]`.
    static func iterations(_ text: String) throws(ValidationError) -> Int {
        guard let value = Int(text), (1...Whitening.maximumIterations).contains(value) else {
            throw ValidationError("it must be an integer in [1, \(Whitening.maximumIterations)]")
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
