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
