import Dispatch

/// Building blocks of the fused kernels: unaligned SIMD loads and stores, a `Double` accumulator of
/// moments merged with Chan's formula, and a fork-join over the available threads.
enum Fused {
    /// Elements per SIMD vector (16 Floats = one AVX-512 register; 16 Doubles = two).
    static let width = 16
    /// Elements summed in working-precision SIMD lanes before the partial sums move to `Double`
    /// (64 values per lane), which bounds the rounding error of a block to a few units of roundoff.
    static let blockLength = 1024

    typealias Vector<Scalar: BatchNormScalar> = SIMD16<Scalar>

    @inline(__always)
    static func load<Scalar: BatchNormScalar>(_ pointer: UnsafePointer<Scalar>) -> Vector<Scalar> {
        UnsafeRawPointer(pointer).loadUnaligned(as: Vector<Scalar>.self)
    }

    @inline(__always)
    static func store<Scalar: BatchNormScalar>(_ vector: Vector<Scalar>, _ pointer: UnsafeMutablePointer<Scalar>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: vector, as: Vector<Scalar>.self)
    }

    /// Count, mean and `M2` of a set of values in `Double`, merged exactly (Chan et al.).
    struct Moments {
        var count = 0.0
        var mean = 0.0
        var sumOfSquaredDeviations = 0.0
        /// What `mean` could not hold: the true mean is `mean + meanLow` (kept by the one-pass path,
        /// where the mean is a `Scalar` shift plus a small correction; 0 after a Chan merge).
        var meanLow = 0.0

        @inline(__always)
        mutating func merge(count otherCount: Double, mean otherMean: Double, sumOfSquaredDeviations otherM2: Double) {
            guard otherCount > 0 else { return }
            guard count > 0 else {
                (count, mean, sumOfSquaredDeviations, meanLow) = (otherCount, otherMean, otherM2, 0)
                return
            }
            meanLow = 0
            let total = count + otherCount
            let delta = otherMean - mean
            mean += delta * (otherCount / total)
            sumOfSquaredDeviations += otherM2 + delta * delta * (count * otherCount / total)
            count = total
        }

        @inline(__always)
        mutating func merge(_ other: Moments) {
            merge(count: other.count, mean: other.mean, sumOfSquaredDeviations: other.sumOfSquaredDeviations)
        }
    }

    /// Pointers handed to worker threads. The kernels guarantee that threads write disjoint ranges.
    struct SharedPointer<Scalar>: @unchecked Sendable {
        let base: UnsafeMutablePointer<Scalar>
    }

    /// Threads the fused kernels use: OpenBLAS's setting (`OPENBLAS_NUM_THREADS`), so one knob pins both
    /// paths; 1 for work too small to amortize a fork-join (under 2^16 elements).
    static func threadCount(elementCount: Int) -> Int {
        if let forced = FusedThreading.forcedPartCount { return max(1, forced) }
        return elementCount < 1 << 16 ? 1 : max(1, min(BLASThreading.threadCount, 64))
    }

    /// Runs `body(part)` for `part in 0..<parts`, concurrently when `parts > 1`.
    static func forEachPart(_ parts: Int, _ body: (Int) -> Void) {
        if parts <= 1 {
            body(0)
        } else {
            withoutActuallyEscaping(body) { escapable in
                let shared = UncheckedSendableBox(escapable)
                DispatchQueue.concurrentPerform(iterations: parts) { shared.value($0) }
            }
        }
    }

    /// `range` split into `parts` nearly equal consecutive pieces; piece `part`.
    static func slice(_ count: Int, part: Int, of parts: Int) -> Range<Int> {
        let base = count / parts, extra = count % parts
        let start = part * base + min(part, extra)
        return start..<(start + base + (part < extra ? 1 : 0))
    }
}

/// How the fused kernels split their work (a test hook).
package enum FusedThreading {
    /// When set, every fused pass splits its work into exactly this many parts, whatever the tensor
    /// size and thread count, so tests reach the per-thread partial sums and their merging on small
    /// tensors and on machines with one core.
    @TaskLocal package static var forcedPartCount: Int?
}

/// Carries a non-`Sendable` closure into `concurrentPerform`; safe because the closure only touches
/// disjoint parts of the output and its captures outlive the (synchronous) fork-join.
struct UncheckedSendableBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
