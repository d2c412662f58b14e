/// The validated content of a `.npy` header dict: `descr`, `fortran_order` and `shape`.
struct NumPyHeader: Equatable {
    var elementType: NumPyElementType
    var shape: [Int]

    private static let keys = ["descr", "fortran_order", "shape"]

    /// Parses and validates the header text (the bytes between the header length field and
    /// the array data).
    ///
    /// - Parameter allowsLongSuffix: accept Python 2 long literals such as `(3L,)`, which
    ///   format versions 1.0 and 2.0 may contain.
    /// - Throws: `.malformedHeader` for syntax errors or values of the wrong kind;
    ///   `.unknownKey`, `.duplicateKey`, `.missingKey`; `.unsupportedDType` or `.bigEndian`
    ///   for the dtype; `.fortranOrder`; `.negativeDimension`, `.shapeOverflow` or
    ///   `.tooManyDimensions` for the shape. Checks run in that order.
    static func parse(_ text: ArraySlice<UInt8>, allowsLongSuffix: Bool) throws(NumPyFileError) -> NumPyHeader {
        var parser = PythonLiteralParser(text, allowsLongSuffix: allowsLongSuffix)
        let entries = try parser.parseDictionary()

        var values: [String: PythonLiteralParser.Entry] = [:]
        for entry in entries {
            let key = String(decoding: entry.key, as: UTF8.self)
            guard keys.contains(key) else { throw .unknownKey(key) }
            guard values[key] == nil else { throw .duplicateKey(key) }
            values[key] = entry
        }
        guard let descr = values["descr"] else { throw .missingKey("descr") }
        guard let fortranOrder = values["fortran_order"] else { throw .missingKey("fortran_order") }
        guard let shape = values["shape"] else { throw .missingKey("shape") }

        let elementType = try parseDescr(descr)
        switch fortranOrder.value {
        case .boolean(false):
            break
        case .boolean(true):
            throw .fortranOrder
        default:
            throw .malformedHeader("'fortran_order' must be True or False, not \(quoted(fortranOrder.valueText))")
        }
        let dimensions = try parseShape(shape)
        _ = try NumPyShape.size(of: dimensions, itemSize: elementType.itemSize)
        return NumPyHeader(elementType: elementType, shape: dimensions)
    }

    /// The header dict exactly as NumPy's `np.save` writes it, including NumPy's spare
    /// spaces for growing the first axis in place, but without the alignment padding and
    /// final newline, e.g. `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
    func encodedDictionary() -> [UInt8] {
        let dimensions = shape.map(String.init)
        let tuple = shape.count == 1 ? "(\(dimensions[0]),)" : "(\(dimensions.joined(separator: ", ")))"
        var dictionary = "{'descr': '\(elementType.descr)', 'fortran_order': False, 'shape': \(tuple), }"
        if let first = dimensions.first {
            // numpy.lib.format.GROWTH_AXIS_MAX_DIGITS
            dictionary += String(repeating: " ", count: max(0, 21 - first.utf8.count))
        }
        return Array(dictionary.utf8)
    }

    // MARK: - Values

    private static func parseDescr(_ entry: PythonLiteralParser.Entry) throws(NumPyFileError) -> NumPyElementType {
        switch entry.value {
        case .string(let bytes):
            let descr = String(decoding: bytes, as: UTF8.self)
            switch descr {
            // '=' is native byte order, which NumPy never writes to files; like the rest of
            // this library it is taken as little-endian.
            case "<f4", "=f4": return .float32
            case "<f8", "=f8": return .float64
            case ">f4", ">f8": throw .bigEndian(descr)
            default: throw .unsupportedDType(descr)
            }
        case .list:
            // A structured dtype such as [('x', '<f4'), ('y', '<f4')].
            throw .unsupportedDType(String(decoding: entry.valueText, as: UTF8.self))
        default:
            throw .malformedHeader("'descr' must be a string, not \(quoted(entry.valueText))")
        }
    }

    private static func parseShape(_ entry: PythonLiteralParser.Entry) throws(NumPyFileError) -> [Int] {
        guard case .tuple(let items) = entry.value else {
            throw .malformedHeader("'shape' must be a tuple of integers, not \(quoted(entry.valueText))")
        }
        var dimensions: [Int] = []
        dimensions.reserveCapacity(min(items.count, NumPyShape.maximumRank + 1))
        for item in items {
            guard case .integer(let dimension) = item else {
                throw .malformedHeader("'shape' must be a tuple of integers, not \(quoted(entry.valueText))")
            }
            guard let dimension else { throw .shapeOverflow }
            dimensions.append(dimension)
        }
        return dimensions
    }

    private static func quoted(_ text: ArraySlice<UInt8>) -> String {
        NumPyFileError.oneLine(String(decoding: text, as: UTF8.self))
    }
}
