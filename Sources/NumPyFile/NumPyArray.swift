/// An n-dimensional array of `Float` or `Double` values in C (row-major) order, as stored
/// in a `.npy` file.
///
/// `init(shape:payload:)` guarantees that the shape is valid and that `payload` holds
/// exactly `elementCount` values. Both properties are mutable; a caller that mutates them
/// into disagreement gets an array that `NumPyFile.write` refuses (it throws) and that
/// `NumPyFile.encode` still serializes verbatim (the result will not decode).
public struct NumPyArray: Sendable, Equatable {
    /// The dimensions, outermost first. `[]` is a rank-0 (scalar) array.
    public var shape: [Int]
    /// The values in C order.
    public var payload: NumPyArrayPayload

    /// The element type of `payload`.
    public var elementType: NumPyElementType { payload.elementType }

    /// The product of `shape`: 1 for rank 0, 0 if any dimension is 0.
    ///
    /// Never traps. If `shape` was mutated after initialization into something that cannot
    /// describe an array (a negative dimension, or a product that overflows `Int`), this
    /// is -1.
    public var elementCount: Int {
        var product = 1
        var overflowed = false
        for dimension in shape {
            if dimension < 0 { return -1 }
            if dimension == 0 { return 0 }
            if !overflowed {
                let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
                product = next
                overflowed = overflow
            }
        }
        return overflowed ? -1 : product
    }

    /// Creates an array, checking that `shape` is valid and matches `payload`.
    ///
    /// - Throws: `.negativeDimension`, `.shapeOverflow` or `.tooManyDimensions` for an
    ///   invalid shape (the same rules `NumPyFile.decode` applies), and
    ///   `.elementCountMismatch` if `payload.count` differs from the product of `shape`.
    public init(shape: [Int], payload: NumPyArrayPayload) throws(NumPyFileError) {
        try Self.validate(shape: shape, payload: payload)
        self.shape = shape
        self.payload = payload
    }

    /// Creates an array whose consistency the caller (the decoder) has already checked.
    init(validatedShape shape: [Int], payload: NumPyArrayPayload) {
        self.shape = shape
        self.payload = payload
    }

    /// Throws unless `shape` is valid and `payload` holds exactly its element count.
    static func validate(shape: [Int], payload: NumPyArrayPayload) throws(NumPyFileError) {
        let size = try NumPyShape.size(of: shape, itemSize: payload.elementType.itemSize)
        guard size.elementCount == payload.count else {
            throw .elementCountMismatch(shapeElementCount: size.elementCount, payloadCount: payload.count)
        }
    }
}
