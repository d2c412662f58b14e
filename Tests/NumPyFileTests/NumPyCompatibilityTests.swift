import Testing
@testable import NumPyFile

@Suite("Files written by NumPy")
struct NumPyCompatibilityTests {
    @Test func decodesFloat32Matrix() throws {
        let array = try NumPyFile.decode(NumPyFixtures.float32Matrix)
        #expect(array.shape == [2, 3])
        #expect(array.payload == .float32([-1, -0.5, 0, 0.5, 1, 1.5]))
    }

    @Test func decodesFloat64Vector() throws {
        let array = try NumPyFile.decode(NumPyFixtures.float64Vector)
        #expect(array.shape == [3])
        #expect(array.payload == .float64([1.5, -2.25, 3e300]))
    }

    @Test func decodesVersion2Scalar() throws {
        let array = try NumPyFile.decode(NumPyFixtures.float32ScalarVersion2)
        #expect(array.shape == [])
        #expect(array.elementCount == 1)
        #expect(array.payload == .float32([-0.1]))
    }

    @Test func decodesVersion3EmptyArray() throws {
        let array = try NumPyFile.decode(NumPyFixtures.emptyFloat64Version3)
        #expect(array.shape == [0, 4])
        #expect(array.payload == .float64([]))
    }

    @Test(arguments: [NumPyFixtures.float32Matrix, NumPyFixtures.float64Vector])
    func encodeReproducesNumPyBytesExactly(file: [UInt8]) throws {
        #expect(NumPyFile.encode(try NumPyFile.decode(file)) == file)
    }
}
