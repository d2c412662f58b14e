import Testing
@testable import NumPyFile

@Suite("Malformed input is rejected with a precise error")
struct MalformedInputTests {
    // MARK: Preamble

    @Test func badMagic() {
        #expect(throws: NumPyFileError.badMagic) { try NumPyFile.decode(Array("NUMPY\u{1}\u{0}".utf8)) }
        #expect(throws: NumPyFileError.badMagic) { try NumPyFile.decode([0x89, 0x50, 0x4E, 0x47]) }
        var bytes = NumPyFixtures.float32Matrix
        bytes[5] = UInt8(ascii: "y")
        #expect(throws: NumPyFileError.badMagic) { try NumPyFile.decode(bytes) }
        #expect(NumPyFileError.badMagic.description == "not a .npy file (bad magic)")
    }

    @Test func shortFiles() {
        #expect(throws: NumPyFileError.truncatedPreamble(byteCount: 0)) { try NumPyFile.decode([]) }
        #expect(throws: NumPyFileError.truncatedPreamble(byteCount: 3)) { try NumPyFile.decode([0x93, 0x4E, 0x55]) }
        let version1 = Array(NumPyFixtures.float32Matrix.prefix(9))
        #expect(throws: NumPyFileError.truncatedPreamble(byteCount: 9)) { try NumPyFile.decode(version1) }
        let version2 = Array(NumPyFixtures.float32ScalarVersion2.prefix(11))
        #expect(throws: NumPyFileError.truncatedPreamble(byteCount: 11)) { try NumPyFile.decode(version2) }
    }

    @Test func unsupportedVersions() {
        for (major, minor) in [(UInt8(0), UInt8(0)), (1, 1), (4, 0), (255, 255)] {
            var bytes = NumPyFixtures.float32Matrix
            bytes[6] = major
            bytes[7] = minor
            #expect(throws: NumPyFileError.unsupportedVersion(major: major, minor: minor)) {
                try NumPyFile.decode(bytes)
            }
        }
    }

    @Test func headerLengthPastEnd() {
        var version1 = NumPyFixtures.float32Matrix
        version1[8] = 0xFF
        version1[9] = 0xFF
        #expect(throws: NumPyFileError.headerLengthPastEnd(headerLength: 65535, availableByteCount: 142)) {
            try NumPyFile.decode(version1)
        }
        var version2 = NumPyFixtures.float32ScalarVersion2
        version2.replaceSubrange(8..<12, with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: NumPyFileError.headerLengthPastEnd(headerLength: 0xFFFF_FFFF, availableByteCount: 120)) {
            try NumPyFile.decode(version2)
        }
    }

    // MARK: Header syntax

    static let badSyntax: [String] = [
        "",
        "   \n",
        "{",
        "}",
        "['descr']",
        "{'descr' '<f4'}",
        "{'descr': '<f4',, 'fortran_order': False, 'shape': (3,)}",
        "{,}",
        "{descr: '<f4', 'fortran_order': False, 'shape': (3,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)} x",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}}",
        "{'descr': '<f4', 'fortran_order': false, 'shape': (3,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3 4)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': 3}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [3]}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3.0,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (0x3,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (03,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (+3,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (True,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': ('3',)}",
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (3,)}",
        "{'descr': '<f4', 'fortran_order': None, 'shape': (3,)}",
        "{'descr': 4, 'fortran_order': False, 'shape': (3,)}",
        "{'descr': b'<f4', 'fortran_order': False, 'shape': (3,)}",
        "{'descr': '<f4\\x00', 'fortran_order': False, 'shape': (3,)}",
        "{'descr': '<f4, 'fortran_order': False, 'shape': (3,)}",
        "{'descr': \"<f4', 'fortran_order': False, 'shape': (3,)}",
        "{'descr': '<f4', # comment\n 'fortran_order': False, 'shape': (3,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': {'y': 1}}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}\u{0}",
        "\u{FEFF}{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': "
            + String(repeating: "(", count: 200) + String(repeating: ")", count: 200) + "}",
    ]

    @Test(arguments: badSyntax)
    func badDictSyntax(header: String) {
        let bytes = NPY.file(header: header, data: NPY.float32Data(count: 3))
        let error = #expect(throws: NumPyFileError.self) { try NumPyFile.decode(bytes) }
        #expect(error.map(isMalformedHeader) == true, "\(String(describing: error))")
    }

    @Test func malformedHeaderMessageLocatesTheProblem() {
        let bytes = NPY.file(header: "{'descr': '<f4' 'fortran_order': False}")
        #expect(throws: NumPyFileError.malformedHeader("expected ',' or '}' after a value at offset 16 (found \"'\")")) {
            try NumPyFile.decode(bytes)
        }
    }

    // MARK: Keys

    @Test func missingKeys() {
        #expect(throws: NumPyFileError.missingKey("shape")) {
            try NumPyFile.decode(NPY.file(header: "{'descr': '<f4', 'fortran_order': False}"))
        }
        #expect(throws: NumPyFileError.missingKey("descr")) {
            try NumPyFile.decode(NPY.file(header: "{}"))
        }
    }

    @Test func unknownKey() {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1}"
        #expect(throws: NumPyFileError.unknownKey("extra")) {
            try NumPyFile.decode(NPY.file(header: header, data: NPY.float32Data(count: 3)))
        }
    }

    @Test func duplicateKey() {
        let header = "{'descr': '<f4', 'shape': (3,), 'fortran_order': False, 'shape': (3,)}"
        #expect(throws: NumPyFileError.duplicateKey("shape")) {
            try NumPyFile.decode(NPY.file(header: header, data: NPY.float32Data(count: 3)))
        }
    }

    // MARK: Values

    @Test func fortranOrder() {
        let bytes = NPY.file(header: NPY.header(fortranOrder: "True", shape: "(3, 1)"), data: NPY.float32Data(count: 3))
        #expect(throws: NumPyFileError.fortranOrder) { try NumPyFile.decode(bytes) }
        #expect(NumPyFileError.fortranOrder.description == "Fortran-order arrays are not supported")
    }

    @Test(arguments: [">f4", ">f8"])
    func bigEndian(descr: String) {
        let bytes = NPY.file(header: NPY.header(descr: "'\(descr)'"), data: NPY.float32Data(count: 6))
        #expect(throws: NumPyFileError.bigEndian(descr)) { try NumPyFile.decode(bytes) }
        #expect(NumPyFileError.bigEndian(descr).description.hasPrefix("big-endian data is not supported"))
    }

    @Test(arguments: ["<i4", "|u1", "<f2", "<c8", "<f16", "|f4", "f4", "float32", ">i4", "", "<F4"])
    func unsupportedDType(descr: String) {
        let bytes = NPY.file(header: NPY.header(descr: "'\(descr)'"), data: NPY.float32Data(count: 3))
        #expect(throws: NumPyFileError.unsupportedDType(descr)) { try NumPyFile.decode(bytes) }
    }

    @Test func structuredDTypeIsNamed() {
        let descr = "[('x', '<f4'), ('y', '<f4', (2,))]"
        let bytes = NPY.file(header: NPY.header(descr: descr), data: NPY.float32Data(count: 9))
        #expect(throws: NumPyFileError.unsupportedDType(descr)) { try NumPyFile.decode(bytes) }
        #expect(NumPyFileError.unsupportedDType("<i4").description == "unsupported dtype '<i4' (need '<f4' or '<f8')")
    }

    @Test func negativeDimension() {
        #expect(throws: NumPyFileError.negativeDimension(-3)) {
            try NumPyFile.decode(NPY.file(header: NPY.header(shape: "(-3,)")))
        }
        #expect(throws: NumPyFileError.negativeDimension(-1)) {
            try NumPyFile.decode(NPY.file(header: NPY.header(shape: "(2, -1)")))
        }
    }

    @Test(arguments: [
        "(4611686018427387904, 4611686018427387904)",  // (2**62, 2**62)
        "(4611686018427387904, 4611686018427387904, 0)",  // zero elements, but NumPy rejects it too
        "(2305843009213693952,)",  // 2**61 elements fit in Int, 2**61 * 8 bytes do not
        "(99999999999999999999999,)",
        "(-99999999999999999999999,)",
    ])
    func overflowingShape(shape: String) {
        let bytes = NPY.file(header: NPY.header(descr: "'<f8'", shape: shape))
        #expect(throws: NumPyFileError.shapeOverflow) { try NumPyFile.decode(bytes) }
        #expect(NumPyFileError.shapeOverflow.description == "declared shape overflows")
    }

    @Test func tooManyDimensions() {
        let shape = "(" + String(repeating: "1, ", count: 65) + ")"
        let bytes = NPY.file(header: NPY.header(shape: shape), data: NPY.float32Data(count: 1))
        #expect(throws: NumPyFileError.tooManyDimensions(65)) { try NumPyFile.decode(bytes) }
    }

    // MARK: Data size

    @Test func truncatedData() {
        let bytes = NPY.file(header: NPY.header(shape: "(4, 6)"), data: NPY.float32Data(count: 10))
        let expected = NumPyFileError.truncatedData(elementCount: 24, expectedByteCount: 96, availableByteCount: 40)
        #expect(throws: expected) { try NumPyFile.decode(bytes) }
        #expect(expected.description == "truncated data: header declares 24 elements (96 bytes) but 40 bytes follow")
        let lastByteMissing = Array(NumPyFixtures.float64Vector.dropLast())
        #expect(throws: NumPyFileError.truncatedData(elementCount: 3, expectedByteCount: 24, availableByteCount: 23)) {
            try NumPyFile.decode(lastByteMissing)
        }
    }

    @Test func trailingGarbage() {
        let bytes = NumPyFixtures.float32Matrix + [0x00]
        #expect(throws: NumPyFileError.trailingBytes(expectedByteCount: 24, availableByteCount: 25)) {
            try NumPyFile.decode(bytes)
        }
        #expect(NumPyFileError.trailingBytes(expectedByteCount: 24, availableByteCount: 25).description
            .hasPrefix("trailing bytes after the array data"))
    }

    // MARK: Messages

    @Test func messagesAreSingleLineEvenForHostileContent() {
        let hostile = "<f4\u{1B}[2J\u{7}" + String(repeating: "x", count: 500)
        let errors: [NumPyFileError] = [
            .unsupportedDType(hostile),
            .unknownKey("a\nb"),
            .unreadableFile(path: "/tmp/a\nb", reason: "x\r\ny"),
            .malformedHeader(String(repeating: "m\n", count: 500)),
        ]
        for error in errors {
            let text = error.description
            #expect(!text.unicodeScalars.contains { $0.properties.generalCategory == .control })
            #expect(text.count < 600)
        }
    }

    // MARK: Robustness (the decoder is fuzzed separately)

    /// Every prefix is refused; every single-byte edit of the header returns or throws (never traps),
    /// and an edited header that is still accepted must describe exactly the data that follows it
    /// (the decoded values are the file's last bytes and survive an encode/decode round trip); every
    /// edit of the data decodes and changes exactly the one value it touched.
    @Test func everyPrefixAndSingleByteEditIsHandled() throws {
        let file = NumPyFixtures.float32Matrix
        let dataBytes = 24
        let original = try NumPyFile.decode(file)
        for length in 0..<file.count {
            #expect(throws: NumPyFileError.self) { try NumPyFile.decode(Array(file.prefix(length))) }
        }
        let replacements: [UInt8] = [0x00, 0x0A, 0x20, 0x27, 0x28, 0x2C, 0x2D, 0x39, 0x7D, 0xFF]
        var accepted = 0
        for index in 0..<(file.count - dataBytes) {
            for replacement in replacements {
                var mutated = file
                mutated[index] = replacement
                guard let decoded = try? NumPyFile.decode(mutated) else { continue }
                accepted += 1
                #expect(Array(NumPyFile.encode(decoded).suffix(dataBytes)) == Array(mutated.suffix(dataBytes)),
                        "byte \(index) := \(replacement)")
                #expect((try? NumPyFile.decode(NumPyFile.encode(decoded))) == decoded, "byte \(index) := \(replacement)")
            }
        }
        #expect(accepted > 0, "no edit was accepted, so the accepted-edit checks never ran")
        for index in (file.count - dataBytes)..<file.count {
            var mutated = file
            mutated[index] ^= 0x5A
            let decoded = try NumPyFile.decode(mutated)
            guard case .float32(let values) = decoded.payload, case .float32(let originalValues) = original.payload else {
                Issue.record("byte \(index): not float32")
                continue
            }
            let changed = values.indices.filter { values[$0].bitPattern != originalValues[$0].bitPattern }
            #expect(changed == [(index - (file.count - dataBytes)) / 4], "byte \(index)")
            #expect(decoded.shape == original.shape)
        }
    }
}
