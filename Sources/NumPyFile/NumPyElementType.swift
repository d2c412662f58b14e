/// The element types a `.npy` file may hold for this library: little-endian IEEE 754
/// binary32 (`'<f4'`) and binary64 (`'<f8'`).
public enum NumPyElementType: Sendable, Equatable {
    /// 32-bit float, NumPy dtype `'<f4'` (`numpy.float32`).
    case float32
    /// 64-bit float, NumPy dtype `'<f8'` (`numpy.float64`).
    case float64

    /// The size of one element in bytes (4 or 8).
    public var itemSize: Int {
        switch self {
        case .float32: return 4
        case .float64: return 8
        }
    }

    /// The dtype descriptor written into `.npy` headers: `<f4` or `<f8`.
    public var descr: String {
        switch self {
        case .float32: return "<f4"
        case .float64: return "<f8"
        }
    }
}
