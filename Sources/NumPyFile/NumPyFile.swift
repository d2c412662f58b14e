/// Reading and writing NumPy `.npy` files holding little-endian `float32` or `float64`
/// arrays in C order.
///
/// The decoder is strict and total: any input either decodes or throws a
/// `NumPyFileError`; it never traps, and it allocates the element storage only after
/// checking that the declared shape matches the bytes actually present.
public enum NumPyFile {
    /// Decodes the contents of a `.npy` file.
    ///
    /// Accepts format versions 1.0, 2.0 and 3.0, a header dict with exactly the keys
    /// `descr`, `fortran_order` and `shape` (any order, either quote style, optional
    /// whitespace and trailing commas), dtype `'<f4'`, `'<f8'`, `'=f4'` or `'=f8'`,
    /// `fortran_order` `False`, and exactly as many data bytes after the header as the
    /// shape requires. Data need not be aligned.
    ///
    /// - Throws: `.badMagic`, `.truncatedPreamble`, `.unsupportedVersion`,
    ///   `.headerLengthPastEnd`, `.malformedHeader`, `.unknownKey`, `.duplicateKey`,
    ///   `.missingKey`, `.unsupportedDType`, `.bigEndian`, `.fortranOrder`,
    ///   `.negativeDimension`, `.shapeOverflow`, `.tooManyDimensions`, `.truncatedData`,
    ///   `.trailingBytes`, checked in that order.
    public static func decode(_ bytes: [UInt8]) throws(NumPyFileError) -> NumPyArray {
        let preamble = try NumPyFormat.parsePreamble(bytes)
        let header = try NumPyHeader.parse(
            bytes[preamble.headerRange],
            allowsLongSuffix: preamble.allowsLongSuffix
        )
        let size = try NumPyShape.size(of: header.shape, itemSize: header.elementType.itemSize)
        let dataOffset = preamble.headerRange.upperBound
        let available = bytes.count - dataOffset
        guard size.byteCount <= available else {
            throw .truncatedData(
                elementCount: size.elementCount,
                expectedByteCount: size.byteCount,
                availableByteCount: available
            )
        }
        guard size.byteCount == available else {
            throw .trailingBytes(expectedByteCount: size.byteCount, availableByteCount: available)
        }
        let payload: NumPyArrayPayload
        switch header.elementType {
        case .float32:
            payload = .float32(decodeElements(bytes, from: dataOffset, count: size.elementCount) {
                Float(bitPattern: UInt32(littleEndian: $0))
            })
        case .float64:
            payload = .float64(decodeElements(bytes, from: dataOffset, count: size.elementCount) {
                Double(bitPattern: UInt64(littleEndian: $0))
            })
        }
        return NumPyArray(validatedShape: header.shape, payload: payload)
    }

    /// Encodes an array as a `.npy` file, byte for byte as NumPy 2's `np.save` would.
    ///
    /// Writes a version 1.0 header `{'descr': '<f4' or '<f8', 'fortran_order': False,
    /// 'shape': (...), }` padded with spaces and terminated by `\n` so that the data starts
    /// at a multiple of 64 bytes, followed by the values in little-endian byte order.
    ///
    /// `shape` and `payload` are written as they are: if they were mutated into
    /// disagreement after initialization, the result will not decode (`write` checks this
    /// and throws instead).
    public static func encode(_ array: NumPyArray) -> [UInt8] {
        let header = NumPyHeader(elementType: array.elementType, shape: array.shape)
        var bytes = NumPyFormat.preambleAndHeader(dictionary: header.encodedDictionary())
        switch array.payload {
        case .float32(let values):
            appendElements(values, to: &bytes) { $0.bitPattern.littleEndian }
        case .float64(let values):
            appendElements(values, to: &bytes) { $0.bitPattern.littleEndian }
        }
        return bytes
    }

    /// Reads and decodes the `.npy` file at `path`.
    ///
    /// Only regular files (or symbolic links to them) are read, so a path such as
    /// `/dev/zero` or a FIFO cannot make this block or read without bound; the file is read
    /// whole into memory (its size is bounded by the file system) and then decoded.
    ///
    /// - Throws: `.unreadableFile` if the file is missing, a directory, not a regular file,
    ///   not readable, or a read fails; otherwise any error of `decode(_:)`.
    public static func read(contentsOf path: String) throws(NumPyFileError) -> NumPyArray {
        try decode(FileIO.readRegularFile(atPath: path))
    }

    /// Writes `array` as a `.npy` file (see `encode(_:)`) to `path`.
    ///
    /// Writes atomically: to a staged file in the same directory, then rename, so a failure never
    /// leaves a partial or modified file (``stage(_:)`` with one file). The bytes are flushed to
    /// disk before the rename. An existing regular file at `path` is replaced (a symbolic link is
    /// replaced itself, not written through) and its permission bits are kept; an existing
    /// directory, device, FIFO or socket is refused.
    ///
    /// - Throws: `.negativeDimension`, `.shapeOverflow`, `.tooManyDimensions` or
    ///   `.elementCountMismatch` if the array is inconsistent (nothing is written), and
    ///   `.unwritableFile` if the directory is missing or not writable, the disk is full, or
    ///   `path` is a directory or not a regular file. In every case the file system is left as it was.
    public static func write(_ array: NumPyArray, to path: String) throws(NumPyFileError) {
        do {
            try stage([(array, path)]).commit()
        } catch .partiallyWritten(let path, let reason, _) {
            throw .unwritableFile(path: path, reason: reason)
        }
    }

    // MARK: - Element conversion

    /// Reads `count` little-endian values starting at byte `offset`, unaligned.
    /// The caller has checked that `offset + count * size` lies within `bytes`. On a little-endian
    /// host the file's bytes are the values' bytes and are copied as they are; `convert` serves
    /// big-endian hosts. Specialized for the two element types: unspecialized, every load would copy
    /// its value through the type's value witness.
    @_specialize(where Bits == UInt32, Element == Float)
    @_specialize(where Bits == UInt64, Element == Double)
    private static func decodeElements<Bits: FixedWidthInteger, Element>(
        _ bytes: [UInt8],
        from offset: Int,
        count: Int,
        convert: (Bits) -> Element
    ) -> [Element] {
        let stride = MemoryLayout<Bits>.size
        assert(MemoryLayout<Element>.stride == stride, "an element is stored in its bit pattern's width")
        // (Not the zero-capacity form, which sets the count of the shared empty-array storage.)
        guard count > 0 else { return [] }
        return bytes.withUnsafeBytes { raw in
            [Element](unsafeUninitializedCapacity: count) { buffer, initializedCount in
                if Bits(1).littleEndian == 1 {
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(
                        from: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + count * stride)]))
                } else {
                    for index in 0..<count {
                        let bits = raw.loadUnaligned(fromByteOffset: offset + index * stride, as: Bits.self)
                        buffer.initializeElement(at: index, to: convert(bits))
                    }
                }
                initializedCount = count
            }
        }
    }

    /// Appends the little-endian bit patterns `convert` yields for `values`: on a little-endian host
    /// the values' own bytes, copied as they are (specialized like ``decodeElements(_:from:count:convert:)``).
    @_specialize(where Element == Float, Bits == UInt32)
    @_specialize(where Element == Double, Bits == UInt64)
    private static func appendElements<Element, Bits: FixedWidthInteger>(
        _ values: [Element],
        to bytes: inout [UInt8],
        convert: (Element) -> Bits
    ) {
        let stride = MemoryLayout<Bits>.size
        assert(MemoryLayout<Element>.stride == stride, "an element is stored in its bit pattern's width")
        if Bits(1).littleEndian == 1 {
            values.withUnsafeBytes { bytes.append(contentsOf: $0) }
            return
        }
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: values.count * stride))
        bytes.withUnsafeMutableBytes { raw in
            for (index, value) in values.enumerated() {
                raw.storeBytes(of: convert(value), toByteOffset: start + index * stride, as: Bits.self)
            }
        }
    }
}
