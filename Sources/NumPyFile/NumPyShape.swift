/// Overflow-checked shape arithmetic shared by `NumPyArray.init(shape:payload:)` and the
/// decoder, so that anything the initializer accepts, `NumPyFile.encode` can write and
/// `NumPyFile.decode` can read back.
enum NumPyShape {
    /// The largest rank accepted (NumPy 2's `NPY_MAXDIMS`).
    static let maximumRank = 64

    /// The validated size of an array of a given shape and item size.
    struct Size: Equatable {
        /// The product of the dimensions (1 for rank 0, 0 if any dimension is 0).
        var elementCount: Int
        /// `elementCount * itemSize`.
        var byteCount: Int
    }

    /// Validates `shape` and computes its element and byte counts without trapping.
    ///
    /// Like NumPy, the product of the *non-zero* dimensions times the item size must fit in
    /// `Int` even when another dimension is zero, so `(2**62, 2**62, 0)` is rejected.
    ///
    /// - Throws: `.tooManyDimensions` if the rank exceeds `maximumRank`,
    ///   `.negativeDimension` for the first negative dimension, and `.shapeOverflow` if
    ///   the product (times `itemSize`) does not fit in `Int`.
    static func size(of shape: [Int], itemSize: Int) throws(NumPyFileError) -> Size {
        guard shape.count <= maximumRank else {
            throw .tooManyDimensions(shape.count)
        }
        if let negative = shape.first(where: { $0 < 0 }) {
            throw .negativeDimension(negative)
        }
        var nonZeroBytes = itemSize
        var hasZeroDimension = false
        for dimension in shape {
            if dimension == 0 {
                hasZeroDimension = true
                continue
            }
            let (product, overflow) = nonZeroBytes.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw .shapeOverflow }
            nonZeroBytes = product
        }
        if hasZeroDimension {
            return Size(elementCount: 0, byteCount: 0)
        }
        // itemSize >= 1 divides nonZeroBytes exactly, so this cannot trap.
        return Size(elementCount: nonZeroBytes / itemSize, byteCount: nonZeroBytes)
    }
}
