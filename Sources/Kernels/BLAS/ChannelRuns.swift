/// Walks a tensor's contiguous runs in pieces that one CBLAS call may take.
enum ChannelRuns {
    /// For `innerCount > 1`: calls `body(elementOffset, count, channel)` for every piece of every
    /// `(outer, channel)` run; all `count` elements of a piece belong to `channel`.
    @inline(__always)
    static func forEachSingleChannelPiece(
        _ geometry: ChannelGeometry, limit: Int,
        _ body: (_ elementOffset: Int, _ count: Int, _ channel: Int) -> Void
    ) {
        let runLength = geometry.innerCount
        for row in 0..<geometry.rowCount {
            let channel = row % geometry.channelCount
            BLASCount.forEachChunk(of: runLength, limit: limit) { start, count in
                body(row * runLength + start, count, channel)
            }
        }
    }

    /// For `innerCount == 1`: calls `body(elementOffset, count, firstChannel)` for every piece of every
    /// row of `channelCount` values; element `k` of a piece belongs to channel `firstChannel + k`.
    @inline(__always)
    static func forEachChannelVectorPiece(
        _ geometry: ChannelGeometry, limit: Int,
        _ body: (_ elementOffset: Int, _ count: Int, _ firstChannel: Int) -> Void
    ) {
        let rowLength = geometry.channelCount
        for row in 0..<geometry.outerCount {
            BLASCount.forEachChunk(of: rowLength, limit: limit) { start, count in
                body(row * rowLength + start, count, start)
            }
        }
    }

    /// Length of the longest piece either walk hands out (the size of a per-piece scratch buffer).
    static func longestPiece(_ geometry: ChannelGeometry, limit: Int) -> Int {
        min(geometry.innerCount == 1 ? geometry.channelCount : geometry.innerCount, limit)
    }
}
