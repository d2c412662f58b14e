/// Tensor-sized arrays for the API layer's array forms.
///
/// The API layer is generic over `Scalar` and not specialized across modules, and an unspecialized
/// `Array(repeating:count:)` copies every element through the type's value witness (about 15
/// instructions per element, more than a kernel pass spends on it); these entry points are
/// specialized for `Float` and `Double`, where zero-filling is a `memset`.
package enum ScalarArrays {
    /// `count` zeros.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    package static func zeros<Scalar: BatchNormScalar>(of _: Scalar.Type, count: Int) -> [Scalar] {
        // (No zero-capacity form: it would set the count of the shared empty-array storage, a write
        // that ThreadSanitizer reports as a race between concurrent callers.)
        guard count > 0 else { return [] }
        return [Scalar](unsafeUninitializedCapacity: count) { buffer, initializedCount in
            buffer.initialize(repeating: 0)
            initializedCount = count
        }
    }
}
