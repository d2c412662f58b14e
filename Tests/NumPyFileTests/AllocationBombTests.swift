import Testing
@testable import NumPyFile

/// A header may declare any shape that fits in `Int`; the decoder must compare the declared byte count
/// with the bytes actually present before it allocates anything, so a few hundred bytes cannot make it
/// reserve terabytes. These inputs are the `bad-allocation-bomb` kind of the fuzz seed corpus
/// (Fuzz/Corpus/npy/); the fuzz runs cap every allocation with `-malloc_limit_mb`, and a decoder that
/// allocated first would trap here (no machine has 4 PiB) instead of throwing.
@Suite("Huge declared shapes are refused before any allocation")
struct AllocationBombTests {
    @Test(arguments: [
        ("(1073741824, 1024)", 1 << 40),  // 2^40 elements, 2^42 bytes of float32
        ("(1125899906842624,)", 1 << 50),  // 2^50 elements, 2^52 bytes
        ("(65536, 65536, 65536)", 1 << 48),
    ])
    func hugeShapeOverFewBytes(shape: String, elementCount: Int) {
        let bytes = NPY.file(header: NPY.header(shape: shape), data: NPY.float32Data(count: 16))
        #expect(throws: NumPyFileError.truncatedData(
            elementCount: elementCount, expectedByteCount: 4 * elementCount, availableByteCount: 64)) {
            try NumPyFile.decode(bytes)
        }
    }

    /// The same holds when the header length itself is huge: it is checked against the file size first.
    @Test func hugeHeaderLength() {
        var bytes = NumPyFixtures.float32ScalarVersion2
        bytes.replaceSubrange(8..<12, with: [0xFF, 0xFF, 0xFF, 0x7F])
        #expect(throws: NumPyFileError.headerLengthPastEnd(headerLength: 0x7FFF_FFFF, availableByteCount: 120)) {
            try NumPyFile.decode(bytes)
        }
    }
}
