import Testing
@testable import NumPyFile

@Suite("Encode/decode round trip")
struct RoundTripTests {
    static let shapes: [[Int]] = [[], [7], [3, 5], [2, 3, 1, 4], [0], [2, 0, 3], [3, 4, 0, 2]]

    static let specialFloats: [Float] = [
        0, -0.0, 1, -1.5, .pi, .infinity, -.infinity, Float(bitPattern: 0x7FC0_1234),
        .leastNonzeroMagnitude, .greatestFiniteMagnitude, -.leastNormalMagnitude, 1e-40,
    ]

    static let specialDoubles: [Double] = [
        0, -0.0, 1, -1.5, .pi, .infinity, -.infinity, Double(bitPattern: 0x7FF8_0000_DEAD_BEEF),
        .leastNonzeroMagnitude, .greatestFiniteMagnitude, -.leastNormalMagnitude, 1e-310,
    ]

    static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    @Test(arguments: shapes)
    func float32(shape: [Int]) throws {
        let values = (0..<Self.elementCount(shape)).map { Self.specialFloats[$0 % Self.specialFloats.count] }
        let array = try NumPyArray(shape: shape, payload: .float32(values))
        let bytes = NumPyFile.encode(array)
        try Self.checkLayout(bytes, descr: "<f4", dataByteCount: values.count * 4)
        let decoded = try NumPyFile.decode(bytes)
        #expect(decoded.shape == shape)
        #expect(decoded.elementType == .float32)
        #expect(decoded.payload.bitPatterns == array.payload.bitPatterns)
    }

    @Test(arguments: shapes)
    func float64(shape: [Int]) throws {
        let values = (0..<Self.elementCount(shape)).map { Self.specialDoubles[$0 % Self.specialDoubles.count] }
        let array = try NumPyArray(shape: shape, payload: .float64(values))
        let bytes = NumPyFile.encode(array)
        try Self.checkLayout(bytes, descr: "<f8", dataByteCount: values.count * 8)
        let decoded = try NumPyFile.decode(bytes)
        #expect(decoded.shape == shape)
        #expect(decoded.elementType == .float64)
        #expect(decoded.payload.bitPatterns == array.payload.bitPatterns)
    }

    /// Version 1.0, header length consistent, data 64-byte aligned, header ends in '\n'.
    static func checkLayout(_ bytes: [UInt8], descr: String, dataByteCount: Int) throws {
        #expect(Array(bytes.prefix(8)) == [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        try #require(bytes.count >= 10)
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        let dataOffset = 10 + headerLength
        #expect(dataOffset % 64 == 0)
        #expect(bytes.count == dataOffset + dataByteCount)
        #expect(bytes[dataOffset - 1] == UInt8(ascii: "\n"))
        let header = String(decoding: bytes[10..<dataOffset], as: UTF8.self)
        #expect(header.hasPrefix("{'descr': '\(descr)', 'fortran_order': False, 'shape': ("))
    }

    /// The header text NumPy 2 writes, up to the alignment padding.
    @Test(arguments: [
        ([Int](), "{'descr': '<f4', 'fortran_order': False, 'shape': (), }"),
        ([3], "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }                    "),
        ([0, 2], "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 2), }                    "),
    ])
    func headerText(shape: [Int], expected: String) throws {
        let array = try NumPyArray(shape: shape, payload: .float32(Array(repeating: 0, count: Self.elementCount(shape))))
        let bytes = NumPyFile.encode(array)
        let dataOffset = 10 + (Int(bytes[8]) | Int(bytes[9]) << 8)
        let header = String(decoding: bytes[10..<dataOffset], as: UTF8.self)
        let padding = String(repeating: " ", count: max(0, dataOffset - 10 - expected.utf8.count - 1))
        #expect(header == expected + padding + "\n")
    }
}
