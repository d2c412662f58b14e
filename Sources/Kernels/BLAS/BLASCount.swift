/// The one place where `Int` sizes become CBLAS's 32-bit `Int32` counts.
///
/// CBLAS takes `int` counts, strides and leading dimensions. Every kernel splits its work so that no
/// single call receives a count above ``maximumCount``; this file converts the already-split sizes and
/// traps (an internal invariant, never reachable from caller input) if a split was wrong.
package enum BLASCount {
    /// A lowered count limit, set by tests through ``withMaximumCount(_:_:)``.
    @TaskLocal static var loweredMaximumCount: Int?

    /// The largest count one CBLAS call receives: `Int32.max`, unless a test lowered it to exercise
    /// the chunking on small tensors (one relaxed load otherwise; see `TestSeams`).
    @inline(__always)
    package static var maximumCount: Int {
        TestSeams.anyOpen ? (loweredMaximumCount ?? Int(Int32.max)) : Int(Int32.max)
    }

    /// Runs `body` with every CBLAS call's count limited to `limit`.
    package static func withMaximumCount<Result>(_ limit: Int, _ body: () throws -> Result) rethrows -> Result {
        try TestSeams.scope { try $loweredMaximumCount.withValue(limit, operation: body) }
    }

    /// Converts a count that the caller has already bounded by ``maximumCount``.
    @inline(__always)
    static func checked(_ value: Int) -> Int32 {
        precondition(value >= 0 && value <= Int(Int32.max), "internal error: unsplit CBLAS count \(value)")
        return Int32(truncatingIfNeeded: value)
    }

    /// Calls `body(start, count)` for consecutive chunks of `0..<total`, none longer than `limit`.
    @inline(__always)
    static func forEachChunk(of total: Int, limit: Int, _ body: (_ start: Int, _ count: Int) -> Void) {
        var start = 0
        while start < total {
            let count = min(limit, total - start)
            body(start, count)
            start += count
        }
    }
}
