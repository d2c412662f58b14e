/// Every way reading, decoding, validating or writing a `.npy` file can fail.
///
/// `description` is a single line (control characters in quoted file content or paths are
/// escaped, long quotes are shortened) suitable for printing after a file name.
public enum NumPyFileError: Error, Equatable, CustomStringConvertible {
    /// The first six bytes are not `\x93NUMPY`.
    case badMagic
    /// The file starts like a `.npy` file but ends before the version and header length.
    case truncatedPreamble(byteCount: Int)
    /// The format version is not 1.0, 2.0 or 3.0.
    case unsupportedVersion(major: UInt8, minor: UInt8)
    /// The declared header length runs past the end of the file.
    case headerLengthPastEnd(headerLength: Int, availableByteCount: Int)
    /// The header is not a Python dict literal of the accepted form; the text says why and
    /// where (offsets count from the first header byte).
    case malformedHeader(String)
    /// One of `descr`, `fortran_order`, `shape` is absent.
    case missingKey(String)
    /// The header has a key other than `descr`, `fortran_order`, `shape`.
    case unknownKey(String)
    /// A key appears more than once.
    case duplicateKey(String)
    /// The dtype is not a float32/float64 descriptor (e.g. `<i4`, `|u1`, `<f2`, a structured
    /// dtype list). Holds the descriptor as written in the header.
    case unsupportedDType(String)
    /// The dtype is a big-endian float (`>f4`, `>f8`).
    case bigEndian(String)
    /// `fortran_order` is `True`.
    case fortranOrder
    /// A dimension is negative.
    case negativeDimension(Int)
    /// The shape has more than 64 dimensions.
    case tooManyDimensions(Int)
    /// A dimension, the element count or the byte count does not fit in `Int`.
    case shapeOverflow
    /// Fewer data bytes follow the header than the shape and dtype require.
    case truncatedData(elementCount: Int, expectedByteCount: Int, availableByteCount: Int)
    /// More data bytes follow the header than the shape and dtype require.
    case trailingBytes(expectedByteCount: Int, availableByteCount: Int)
    /// The payload's count differs from the product of the shape.
    case elementCountMismatch(shapeElementCount: Int, payloadCount: Int)
    /// The file could not be opened or read (missing, a directory, not a regular file,
    /// permission denied, I/O error).
    case unreadableFile(path: String, reason: String)
    /// The file could not be written; the destination was left untouched.
    case unwritableFile(path: String, reason: String)
    /// Renaming a staged file onto `path` failed after the files at `written` had been replaced
    /// (see `NumPyStagedWrite.commit()`); the other staged files were removed.
    case partiallyWritten(path: String, reason: String, written: [String])

    public var description: String {
        switch self {
        case .badMagic:
            return "not a .npy file (bad magic)"
        case .truncatedPreamble(let byteCount):
            return "not a .npy file (only \(byteCount) bytes, too short for the .npy preamble)"
        case .unsupportedVersion(let major, let minor):
            return "unsupported .npy format version \(major).\(minor) (need 1.0, 2.0 or 3.0)"
        case .headerLengthPastEnd(let headerLength, let available):
            return "header length \(headerLength) runs past the end of the file (only \(available) bytes follow the preamble)"
        case .malformedHeader(let detail):
            return "malformed header: \(Self.oneLine(detail, limit: 200))"
        case .missingKey(let key):
            return "header is missing the key '\(Self.oneLine(key))'"
        case .unknownKey(let key):
            return "header has an unknown key '\(Self.oneLine(key))'"
        case .duplicateKey(let key):
            return "header repeats the key '\(Self.oneLine(key))'"
        case .unsupportedDType(let descr):
            return "unsupported dtype '\(Self.oneLine(descr))' (need '<f4' or '<f8')"
        case .bigEndian(let descr):
            return "big-endian data is not supported (dtype '\(Self.oneLine(descr))')"
        case .fortranOrder:
            return "Fortran-order arrays are not supported"
        case .negativeDimension(let dimension):
            return "negative dimension \(dimension) in shape"
        case .tooManyDimensions(let rank):
            return "shape has \(rank) dimensions (at most \(NumPyShape.maximumRank) are supported)"
        case .shapeOverflow:
            return "declared shape overflows"
        case .truncatedData(let elementCount, let expected, let available):
            return "truncated data: header declares \(elementCount) elements (\(expected) bytes) but \(available) bytes follow"
        case .trailingBytes(let expected, let available):
            return "trailing bytes after the array data: header declares \(expected) bytes but \(available) bytes follow"
        case .elementCountMismatch(let shapeElementCount, let payloadCount):
            return "shape describes \(shapeElementCount) elements but the payload holds \(payloadCount)"
        case .unreadableFile(let path, let reason):
            return "unreadable file: '\(Self.oneLine(path, limit: 400))': \(Self.oneLine(reason))"
        case .unwritableFile(let path, let reason):
            return "unwritable file: '\(Self.oneLine(path, limit: 400))': \(Self.oneLine(reason, limit: 400))"
        case .partiallyWritten(let path, let reason, let written):
            let replaced = written.isEmpty ? "none" : written.map { "'\(Self.oneLine($0, limit: 400))'" }.joined(separator: ", ")
            return "could not rename into place: '\(Self.oneLine(path, limit: 400))': \(Self.oneLine(reason)) "
                + "(already replaced: \(replaced))"
        }
    }

    /// Escapes control characters and shortens `text` to at most `limit` characters so
    /// that untrusted file content can never break the message onto several lines.
    static func oneLine(_ text: String, limit: Int = 64) -> String {
        var result = ""
        var characterCount = 0
        for scalar in text.unicodeScalars {
            if characterCount >= limit {
                result += "…"
                break
            }
            if scalar.properties.generalCategory == .control
                || scalar == "\u{2028}" || scalar == "\u{2029}" {
                result += scalar.escaped(asASCII: true)
            } else {
                result.unicodeScalars.append(scalar)
            }
            characterCount += 1
        }
        return result
    }
}
