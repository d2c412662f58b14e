import Testing
@testable import NumPyFile

@Suite("Header syntax accepted by the reader")
struct HeaderSyntaxTests {
    struct Variant: Sendable, CustomTestStringConvertible {
        var header: String
        var version: UInt8 = 1
        var shape: [Int] = [3]
        var testDescription: String { header.debugDescription }
    }

    static let variants: [Variant] = [
        Variant(header: #"{"descr": "<f4", "fortran_order": False, "shape": (3,)}"#),
        Variant(header: "{'shape':(3,),'fortran_order':False,'descr':'<f4'}"),
        Variant(header: "{ 'descr' : '=f4' , 'fortran_order' : False , 'shape' : ( 3 , ) , }  \n"),
        Variant(header: "{\n\t'descr': '<f4',\r\n\t'fortran_order': False,\n\t'shape': (3,),\n}\n"),
        Variant(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3,), }\n", shape: [1, 3]),
        Variant(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }\n"),
        Variant(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", version: 2),
        Variant(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", version: 3),
        Variant(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (-0, 3), }\n", shape: [0, 3]),
    ]

    @Test(arguments: variants)
    func accepts(variant: Variant) throws {
        let count = variant.shape.reduce(1, *)
        let bytes = NPY.file(header: variant.header, version: variant.version, data: NPY.float32Data(count: count))
        let array = try NumPyFile.decode(bytes)
        #expect(array.shape == variant.shape)
        #expect(array.payload == .float32((0..<count).map { Float($0 + 1) }))
    }

    @Test func nativeOrderFloat64() throws {
        let data = [1.0, -2.0].flatMap { NPY.littleEndianBytes($0.bitPattern) }
        let bytes = NPY.file(header: NPY.header(descr: "'=f8'", shape: "(2,)"), data: data)
        #expect(try NumPyFile.decode(bytes).payload == .float64([1, -2]))
    }

    /// Data offsets 1...7 bytes past alignment must decode identically (loadUnaligned).
    @Test func unalignedDataOffsets() throws {
        for extraSpaces in 0..<8 {
            let header = NPY.header(descr: "'<f8'", shape: "(2,)") + String(repeating: " ", count: extraSpaces)
            let data = [0.25, 1e100].flatMap { NPY.littleEndianBytes($0.bitPattern) }
            let array = try NumPyFile.decode(NPY.file(header: header, data: data))
            #expect(array.payload == .float64([0.25, 1e100]))
        }
    }

    @Test func longSuffixIsOnlyAcceptedBeforeVersion3() {
        let bytes = NPY.file(header: NPY.header(shape: "(3L,)"), version: 3, data: NPY.float32Data(count: 3))
        let error = #expect(throws: NumPyFileError.self) { try NumPyFile.decode(bytes) }
        #expect(error.map(isMalformedHeader) == true)
    }
}

func isMalformedHeader(_ error: NumPyFileError) -> Bool {
    if case .malformedHeader = error { return true }
    return false
}
