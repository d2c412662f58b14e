/// The framing of a `.npy` file around the header dict: magic string, version, header
/// length field, and alignment padding.
///
/// Layout: `\x93NUMPY`, major and minor version bytes, the header length (little-endian
/// `UInt16` for version 1.0, `UInt32` for 2.0 and 3.0), the header text, then the data.
enum NumPyFormat {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"
    /// The data offset of written files is a multiple of this (numpy.lib.format.ARRAY_ALIGN).
    static let alignment = 64

    /// Where the header text lies in a file and how to parse it.
    struct Preamble: Equatable {
        var majorVersion: UInt8
        /// The header text, as indices into the file bytes. The data starts at its end.
        var headerRange: Range<Int>
        /// Versions 1.0 and 2.0 may come from Python 2 and contain `3L`-style integers.
        var allowsLongSuffix: Bool { majorVersion < 3 }
    }

    /// Reads the magic, version and header length, checking the header fits in the file.
    ///
    /// - Throws: `.badMagic`, `.truncatedPreamble`, `.unsupportedVersion`,
    ///   `.headerLengthPastEnd`.
    static func parsePreamble(_ bytes: [UInt8]) throws(NumPyFileError) -> Preamble {
        let magicPrefixLength = min(bytes.count, magic.count)
        guard bytes[0..<magicPrefixLength].elementsEqual(magic[0..<magicPrefixLength]) else {
            throw .badMagic
        }
        guard bytes.count >= magic.count + 2 else {
            throw .truncatedPreamble(byteCount: bytes.count)
        }
        let major = bytes[magic.count]
        let minor = bytes[magic.count + 1]
        let lengthFieldSize: Int
        switch (major, minor) {
        case (1, 0): lengthFieldSize = 2
        case (2, 0), (3, 0): lengthFieldSize = 4
        default: throw .unsupportedVersion(major: major, minor: minor)
        }
        let lengthStart = magic.count + 2
        let headerStart = lengthStart + lengthFieldSize
        guard bytes.count >= headerStart else {
            throw .truncatedPreamble(byteCount: bytes.count)
        }
        var rawLength: UInt32 = 0
        for index in (lengthStart..<headerStart).reversed() {
            rawLength = rawLength << 8 | UInt32(bytes[index])
        }
        let available = bytes.count - headerStart
        guard let headerLength = Int(exactly: rawLength), headerLength <= available else {
            throw .headerLengthPastEnd(headerLength: Int(clamping: rawLength), availableByteCount: available)
        }
        return Preamble(majorVersion: major, headerRange: headerStart..<(headerStart + headerLength))
    }

    /// Wraps a header dict into magic, version, length and padding, the way NumPy does:
    /// spaces then `\n` so that the data starts at a multiple of `alignment`.
    ///
    /// Uses version 1.0 unless the padded header exceeds 65535 bytes (impossible for the
    /// shapes `NumPyArray` accepts), in which case it uses 2.0 like NumPy.
    static func preambleAndHeader(dictionary: [UInt8]) -> [UInt8] {
        let textLength = dictionary.count + 1  // plus the final newline
        var version: UInt8 = 1
        var lengthFieldSize = 2
        var padding = paddingLength(prefixLength: magic.count + 2 + lengthFieldSize, textLength: textLength)
        if textLength + padding > Int(UInt16.max) {
            version = 2
            lengthFieldSize = 4
            padding = paddingLength(prefixLength: magic.count + 2 + lengthFieldSize, textLength: textLength)
        }
        let headerLength = textLength + padding
        var result = magic
        result.reserveCapacity(magic.count + 2 + lengthFieldSize + headerLength)
        result += [version, 0]
        for byteIndex in 0..<lengthFieldSize {
            result.append(UInt8(truncatingIfNeeded: headerLength >> (8 * byteIndex)))
        }
        result += dictionary
        result += repeatElement(UInt8(ascii: " "), count: padding)
        result.append(UInt8(ascii: "\n"))
        return result
    }

    /// NumPy's padding rule: 1...alignment spaces, so `prefix + text + padding` is aligned.
    private static func paddingLength(prefixLength: Int, textLength: Int) -> Int {
        alignment - (prefixLength + textLength) % alignment
    }
}
