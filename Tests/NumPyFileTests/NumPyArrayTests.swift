import Testing
@testable import NumPyFile

@Suite("NumPyArray")
struct NumPyArrayTests {
    @Test func initAcceptsMatchingShapeAndPayload() throws {
        let array = try NumPyArray(shape: [2, 3], payload: .float32([1, 2, 3, 4, 5, 6]))
        #expect(array.elementCount == 6)
        #expect(array.elementType == .float32)
        #expect(array.payload.count == 6)
    }

    @Test func rankZeroHasOneElementAndZeroDimensionHasNone() throws {
        let scalar = try NumPyArray(shape: [], payload: .float64([42]))
        #expect(scalar.elementCount == 1)
        #expect(scalar.elementType == .float64)
        let empty = try NumPyArray(shape: [4, 0, 2], payload: .float64([]))
        #expect(empty.elementCount == 0)
    }

    @Test func initRejectsCountMismatch() {
        #expect(throws: NumPyFileError.elementCountMismatch(shapeElementCount: 6, payloadCount: 5)) {
            try NumPyArray(shape: [2, 3], payload: .float32([1, 2, 3, 4, 5]))
        }
        #expect(throws: NumPyFileError.elementCountMismatch(shapeElementCount: 1, payloadCount: 0)) {
            try NumPyArray(shape: [], payload: .float64([]))
        }
    }

    @Test func initRejectsInvalidShapes() {
        #expect(throws: NumPyFileError.negativeDimension(-2)) {
            try NumPyArray(shape: [3, -2], payload: .float32([]))
        }
        #expect(throws: NumPyFileError.shapeOverflow) {
            try NumPyArray(shape: [1 << 62, 1 << 62, 0], payload: .float32([]))
        }
        #expect(throws: NumPyFileError.tooManyDimensions(65)) {
            try NumPyArray(shape: Array(repeating: 1, count: 65), payload: .float32([0]))
        }
    }

    @Test func elementCountNeverTrapsOnMutatedShapes() throws {
        var array = try NumPyArray(shape: [1], payload: .float32([0]))
        array.shape = [Int.max, 2]
        #expect(array.elementCount == -1)
        array.shape = [2, -1]
        #expect(array.elementCount == -1)
        array.shape = [Int.max, Int.max, 0]
        #expect(array.elementCount == 0)
    }
}
