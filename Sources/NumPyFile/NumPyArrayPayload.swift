/// The flat element storage of a `NumPyArray`, in C (row-major) order.
public enum NumPyArrayPayload: Sendable, Equatable {
    case float32([Float])
    case float64([Double])

    /// The element type of the stored values.
    public var elementType: NumPyElementType {
        switch self {
        case .float32: return .float32
        case .float64: return .float64
        }
    }

    /// The number of stored values.
    public var count: Int {
        switch self {
        case .float32(let values): return values.count
        case .float64(let values): return values.count
        }
    }
}
