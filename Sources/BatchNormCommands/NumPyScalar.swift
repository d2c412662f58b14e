import BatchNormKit
import NumPyFile

/// `Float` and `Double` as `.npy` payloads: the conversion between `NumPyArrayPayload` and `[Scalar]`.
protocol NumPyScalar: BatchNormScalar {
    static var numPyElementType: NumPyElementType { get }
    /// The values if `payload` holds this type, `nil` otherwise.
    static func values(in payload: NumPyArrayPayload) -> [Self]?
    static func payload(_ values: [Self]) -> NumPyArrayPayload
}

extension Float: NumPyScalar {
    static var numPyElementType: NumPyElementType { .float32 }
    static func values(in payload: NumPyArrayPayload) -> [Float]? {
        if case .float32(let values) = payload { values } else { nil }
    }
    static func payload(_ values: [Float]) -> NumPyArrayPayload { .float32(values) }
}

extension Double: NumPyScalar {
    static var numPyElementType: NumPyElementType { .float64 }
    static func values(in payload: NumPyArrayPayload) -> [Double]? {
        if case .float64(let values) = payload { values } else { nil }
    }
    static func payload(_ values: [Double]) -> NumPyArrayPayload { .float64(values) }
}

extension NumPyElementType {
    /// `float32` / `float64`, as NumPy names them.
    var name: String {
        switch self {
        case .float32: "float32"
        case .float64: "float64"
        }
    }
}
