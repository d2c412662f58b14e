/// A value of the subset of Python literal syntax that appears in `.npy` headers.
indirect enum PythonLiteral: Equatable {
    /// A quoted string, as raw bytes between the quotes (escapes are not supported).
    case string([UInt8])
    /// A decimal integer; `nil` if it does not fit in `Int`.
    case integer(Int?)
    /// `True` or `False`.
    case boolean(Bool)
    /// `None`.
    case none
    /// `()`, `(a,)`, `(a, b)`, `(a, b,)`.
    case tuple([PythonLiteral])
    /// `[]`, `[a]`, `[a, b,]`.
    case list([PythonLiteral])
}

/// A strict recursive-descent parser for the Python dict literal in a `.npy` header.
///
/// Accepts `{ 'key': value, ... }` with single- or double-quoted string keys, an optional
/// trailing comma, and whitespace (space, tab, CR, LF) between tokens, followed by nothing
/// but whitespace. Values are strings, decimal integers (optionally negative, with a
/// Python 2 `L` suffix when `allowsLongSuffix`), `True`, `False`, `None`, tuples and lists.
/// Everything else (escapes, comments, nested dicts, floats, prefixes such as `b'...'`,
/// nesting deeper than `maximumNestingDepth`) is rejected with `.malformedHeader`.
///
/// Work is linear in the header length and recursion depth is bounded, so any input is safe.
struct PythonLiteralParser {
    /// One `key: value` pair, in the order written.
    struct Entry {
        var key: [UInt8]
        var value: PythonLiteral
        /// The source text of the value, for error messages.
        var valueText: ArraySlice<UInt8>
    }

    static let maximumNestingDepth = 32

    private let text: ArraySlice<UInt8>
    private var position: Int
    private let allowsLongSuffix: Bool

    init(_ text: ArraySlice<UInt8>, allowsLongSuffix: Bool) {
        self.text = text
        self.position = text.startIndex
        self.allowsLongSuffix = allowsLongSuffix
    }

    /// Parses the whole text as one dict literal followed only by whitespace.
    ///
    /// - Throws: `.malformedHeader` describing the first syntax error.
    mutating func parseDictionary() throws(NumPyFileError) -> [Entry] {
        skipWhitespace()
        try expect(ascii: "{", what: "'{' to open the header dictionary")
        var entries: [Entry] = []
        while true {
            skipWhitespace()
            if consume(ascii: "}") { break }
            guard let quote = peek(), quote == Byte.singleQuote || quote == Byte.doubleQuote else {
                throw malformed("expected a quoted key or '}'")
            }
            let key = try parseString()
            skipWhitespace()
            try expect(ascii: ":", what: "':' after a key")
            skipWhitespace()
            let valueStart = position
            let value = try parseValue(depth: 1)
            entries.append(Entry(key: key, value: value, valueText: text[valueStart..<position]))
            skipWhitespace()
            if consume(ascii: "}") { break }
            try expect(ascii: ",", what: "',' or '}' after a value")
        }
        skipWhitespace()
        guard position == text.endIndex else {
            throw malformed("unexpected content after the dictionary")
        }
        return entries
    }

    // MARK: - Values

    private mutating func parseValue(depth: Int) throws(NumPyFileError) -> PythonLiteral {
        guard depth <= Self.maximumNestingDepth else {
            throw malformed("values nested deeper than \(Self.maximumNestingDepth) levels")
        }
        guard let byte = peek() else {
            throw malformed("unexpected end of header, expected a value")
        }
        switch byte {
        case Byte.singleQuote, Byte.doubleQuote:
            return .string(try parseString())
        case UInt8(ascii: "("):
            let (items, sawComma) = try parseSequence(closing: UInt8(ascii: ")"), depth: depth)
            if items.count == 1 && !sawComma {
                return items[0]  // `(x)` is a parenthesized value, not a tuple.
            }
            return .tuple(items)
        case UInt8(ascii: "["):
            return .list(try parseSequence(closing: UInt8(ascii: "]"), depth: depth).items)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .integer(try parseInteger())
        case _ where Byte.isIdentifierStart(byte):
            return try parseName()
        case UInt8(ascii: "{"):
            throw malformed("nested dictionaries are not supported")
        default:
            throw malformed("unexpected \(Byte.describe(byte)), expected a value")
        }
    }

    /// Parses `( items )` or `[ items ]` starting at the opening bracket.
    private mutating func parseSequence(
        closing: UInt8,
        depth: Int
    ) throws(NumPyFileError) -> (items: [PythonLiteral], sawComma: Bool) {
        position += 1  // the opening bracket, checked by the caller
        var items: [PythonLiteral] = []
        var sawComma = false
        while true {
            skipWhitespace()
            if consume(closing) { return (items, sawComma) }
            items.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            if consume(closing) { return (items, sawComma) }
            guard consume(ascii: ",") else {
                throw malformed("expected ',' or '\(Character(Unicode.Scalar(closing)))'")
            }
            sawComma = true
        }
    }

    /// Parses a quoted string starting at the quote and returns the bytes between quotes.
    private mutating func parseString() throws(NumPyFileError) -> [UInt8] {
        guard let quote = peek() else {
            throw malformed("expected a string")
        }
        let start = position
        position += 1
        let contentStart = position
        while true {
            guard let byte = peek(), byte != Byte.newline, byte != Byte.carriageReturn else {
                position = start
                throw malformed("unterminated string")
            }
            if byte == quote { break }
            if byte == Byte.backslash {
                throw malformed("escape sequences in strings are not supported")
            }
            position += 1
        }
        let content = Array(text[contentStart..<position])
        position += 1  // closing quote
        return content
    }

    /// Parses `-?[0-9]+` (plus an optional `L` when allowed); `nil` if it overflows `Int`.
    private mutating func parseInteger() throws(NumPyFileError) -> Int? {
        let negative = consume(ascii: "-")
        let digitsStart = position
        var value: Int? = 0
        while let byte = peek(), Byte.isDigit(byte) {
            if let current = value {
                let digit = Int(byte &- UInt8(ascii: "0"))
                let (shifted, overflow1) = current.multipliedReportingOverflow(by: 10)
                let (next, overflow2) = negative
                    ? shifted.subtractingReportingOverflow(digit)
                    : shifted.addingReportingOverflow(digit)
                value = overflow1 || overflow2 ? nil : next
            }
            position += 1
        }
        let digitCount = position - digitsStart
        guard digitCount > 0 else {
            throw malformed("expected digits after '-'")
        }
        if digitCount > 1 && text[digitsStart] == UInt8(ascii: "0") {
            position = digitsStart
            throw malformed("integer literal with leading zeros")
        }
        if allowsLongSuffix, let byte = peek(), byte == UInt8(ascii: "L") || byte == UInt8(ascii: "l") {
            position += 1
        }
        if let byte = peek(), Byte.isIdentifierContinuation(byte) || byte == UInt8(ascii: ".") {
            throw malformed("invalid integer literal")
        }
        return value
    }

    /// Parses `True`, `False` or `None`.
    private mutating func parseName() throws(NumPyFileError) -> PythonLiteral {
        let start = position
        while let byte = peek(), Byte.isIdentifierContinuation(byte) {
            position += 1
        }
        let name = text[start..<position]
        if name.elementsEqual("True".utf8) { return .boolean(true) }
        if name.elementsEqual("False".utf8) { return .boolean(false) }
        if name.elementsEqual("None".utf8) { return .none }
        position = start
        throw malformed("unexpected name '\(String(decoding: name, as: UTF8.self))'")
    }

    // MARK: - Scanning

    private func peek() -> UInt8? {
        position < text.endIndex ? text[position] : nil
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        position += 1
        return true
    }

    private mutating func consume(ascii: Unicode.Scalar) -> Bool {
        consume(UInt8(ascii: ascii))
    }

    private mutating func expect(ascii: Unicode.Scalar, what: String) throws(NumPyFileError) {
        guard consume(ascii: ascii) else {
            throw malformed("expected \(what)")
        }
    }

    private mutating func skipWhitespace() {
        while let byte = peek(), Byte.isWhitespace(byte) {
            position += 1
        }
    }

    /// A `.malformedHeader` error locating the current position.
    private func malformed(_ message: String) -> NumPyFileError {
        let offset = position - text.startIndex
        if let byte = peek() {
            return .malformedHeader("\(message) at offset \(offset) (found \(Byte.describe(byte)))")
        }
        return .malformedHeader("\(message) at offset \(offset) (end of header)")
    }
}

/// Byte classification for the header tokenizer (ASCII only).
private enum Byte {
    static let singleQuote = UInt8(ascii: "'")
    static let doubleQuote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == newline || byte == carriageReturn
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    static func isIdentifierStart(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || byte == UInt8(ascii: "_")
    }

    static func isIdentifierContinuation(_ byte: UInt8) -> Bool {
        isIdentifierStart(byte) || isDigit(byte)
    }

    /// `'x'` for printable ASCII (`"'"` for the quote itself), `byte 0x93` otherwise.
    static func describe(_ byte: UInt8) -> String {
        if byte == singleQuote {
            return "\"'\""
        }
        if byte >= 0x20 && byte < 0x7F {
            return "'\(Character(Unicode.Scalar(byte)))'"
        }
        let hex = String(byte, radix: 16, uppercase: false)
        return "byte 0x\(hex.count == 1 ? "0" + hex : hex)"
    }
}
