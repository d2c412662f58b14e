import BatchNormKit

/// Shapes covering every rank and layout the kernels support, small enough for a debug build.
enum TestShapes {
    /// `(dimensions, layout)` pairs: NC, NCL, NCHW, NCDHW channels-first; NLC, NHWC, NDHWC channels-last.
    /// Channels-first runs shorter than 64 values are read as rows of samples (`Fused.RowGrouping`), so
    /// both channels-first walks are here.
    static let all: [([Int], TensorLayout)] = [
        ([16, 5], .channelsFirst),            // NC (same memory as channels-last)
        ([4, 3, 17], .channelsFirst),         // NCL
        ([3, 4, 5, 7], .channelsFirst),       // NCHW (short runs: read as rows of samples)
        ([3, 4, 8, 9], .channelsFirst),       // NCHW with runs of 72 (the run loops)
        ([2, 3, 3, 4, 5], .channelsFirst),    // NCDHW
        ([4, 17, 3], .channelsLast),          // NLC
        ([3, 5, 7, 4], .channelsLast),        // NHWC
        ([2, 3, 4, 5, 3], .channelsLast),     // NDHWC
        ([1, 6, 9, 11], .channelsFirst),      // batch of one
        ([5, 1, 2, 3], .channelsLast),        // 1-sized spatial dims
        ([3, 2, 3, 37], .channelsLast),       // two SIMD vectors of channels plus a tail of 5
        ([70, 37], .channelsFirst),           // more rows than one flush of the row accumulators (64)
    ]

    static func shape(_ entry: ([Int], TensorLayout)) -> TensorShape {
        // Test shapes are valid by construction.
        (try? TensorShape(entry.0, layout: entry.1)) ?? { preconditionFailure("invalid test shape") }()
    }
}

