internal import CKernelSupport

/// Building blocks of the fused kernels: unaligned SIMD loads and stores, streaming stores, lane-wise
/// selects, and a fork-join over the available threads. (Their moments accumulate in
/// ``MomentsAccumulator``.)
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

    /// The sum of `vector`'s lanes as a pairwise tree (halves added until two lanes are left), in
    /// `Double`. The standard library's `sum()` adds the 16 lanes one after another: 15 dependent
    /// additions, each behind a lane shuffle, which on channels-first runs of 49 or 196 values (7x7 and
    /// 14x14 maps, one reduction per run) cost more than the run's own arithmetic
    /// (docs/BENCHMARK_NOTES.md, "Pairwise lane sums"). The tree is 4 additions deep, and its rounding
    /// error bound grows with that depth rather than with the chain's 15 additions.
    @inline(__always)
    static func laneSum<Scalar: BatchNormScalar>(_ vector: Vector<Scalar>) -> Double {
        let eight = vector.lowHalf + vector.highHalf
        let four = eight.lowHalf + eight.highHalf
        let two = four.lowHalf + four.highHalf
        return Double(two[0] + two[1])
    }

    /// The fewest values after a block's vector steps that ``shiftedSums(_:_:shift:)`` takes as one more
    /// vector (``overlappedTail(_:tail:)``): in a harness of runs of 17-36 values the vector was slower than
    /// the values one by one for 1 value and 12-43% faster from 3 (`RUN_OVERLAPPED_TAIL` in the AVX2 loops).
    static let overlappedTailLength = 3

    /// `vector`, the last `width` values of a block, with its first `width - tail` lanes (the values the
    /// block's vector steps already summed) set to +0, so that only the `tail` values after those steps
    /// remain (`0 < tail < width`). A run's last few values then join the lanes as one more vector instead
    /// of going one by one in `Double`: 5x5 runs summed 1.8x faster (docs/BENCHMARK_NOTES.md, "The tails of
    /// short channels-first runs"). The AVX2 loops do the same (`overlapped_tail`).
    ///
    /// Through the concrete vector types: the standard library's generic lane compare and select run lane
    /// by lane even once specialized (a harness summed such tails 10x slower than through `SIMD16<Float>`,
    /// whose compare and select are vector instructions).
    @inline(__always)
    static func overlappedTail<Scalar: BatchNormScalar>(_ vector: Vector<Scalar>, tail: Int) -> Vector<Scalar> {
        if Scalar.self == Float.self {
            return unsafeBitCast(
                floatTail(unsafeBitCast(vector, to: SIMD16<Float>.self), tail: tail), to: Vector<Scalar>.self)
        }
        if Scalar.self == Double.self {
            return unsafeBitCast(
                doubleTail(unsafeBitCast(vector, to: SIMD16<Double>.self), tail: tail), to: Vector<Scalar>.self)
        }
        let lane = Vector<Scalar>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        return vector.replacing(with: 0, where: lane .< Scalar(width - tail))
    }

    @inline(__always)
    private static func floatTail(_ vector: SIMD16<Float>, tail: Int) -> SIMD16<Float> {
        let lane = SIMD16<Float>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        return vector.replacing(with: 0, where: lane .< Float(width - tail))
    }

    @inline(__always)
    private static func doubleTail(_ vector: SIMD16<Double>, tail: Int) -> SIMD16<Double> {
        let lane = SIMD16<Double>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        return vector.replacing(with: 0, where: lane .< Double(width - tail))
    }

    /// Pointers handed to worker threads. The kernels guarantee that threads write disjoint ranges.
    struct SharedPointer<Scalar>: @unchecked Sendable {
        let base: UnsafeMutablePointer<Scalar>
    }

    /// Threads the fused kernels use: OpenBLAS's setting (`OPENBLAS_NUM_THREADS`), so one knob pins both
    /// paths; 1 for work too small to amortize a fork-join (under 2^16 elements).
    static func threadCount(elementCount: Int, threads: Int = BLASThreading.threadCount) -> Int {
        if let forced = FusedTuning.partCountOverride { return max(1, forced) }
        return elementCount < 1 << 16 ? 1 : max(1, min(threads, 64))
    }

    /// Threads for the passes over `geometry`: ``threadCount(elementCount:)``, and for a tensor read as rows
    /// (``RowGrouping``: `[N, C]` and channels-last rows of channels, short channels-first runs as rows of
    /// samples) at most one per ``minimumRowsPerPart`` rows (``minimumSampleRowsPerPart`` samples), and for a
    /// pass that `reduces` (moments, gradient sums) one per ``minimumReducedRowsPerPart`` rows unless each
    /// part gets ``reducedValuesPerPart`` values. A part of few rows of many channels or positions reads the
    /// per-position arrays (partial sums zeroed by the caller and merged by it, coefficients it wrote) about
    /// as often as its data, and they cross the cores: at 2 threads `[2, 32768]` took 0.71 against 0.38 ms
    /// at 1 (training forward), `[4, 2048, 3, 3]` 0.160 against 0.102, `[16, 512, 3, 3]` 0.055 against
    /// 0.035 with 8 rows a part, `[16, 8192]` 0.126 against 0.116; `[8, 65536]` (2^18 values a part)
    /// gains 3-15% split, and elementwise passes gain from 8 rows a part (docs/BENCHMARK_NOTES.md, "Few
    /// rows of many channels"). A forced part count (tests) is kept as it is.
    /// `available`: the process's thread count (a test may pass another).
    static func threadCount<Scalar>(
        for geometry: ChannelGeometry, _ scalar: Scalar.Type, reduces: Bool = false,
        threads available: Int = BLASThreading.threadCount
    ) -> Int {
        let threads = threadCount(elementCount: geometry.elementCount, threads: available)
        guard threads > 1, FusedTuning.partCountOverride == nil,
              RowGrouping(geometry: geometry, scalar: scalar, parts: 1) != nil else { return threads }
        let rowsPerPart = reduces && geometry.elementCount / threads < reducedValuesPerPart
            ? minimumReducedRowsPerPart : geometry.innerCount > 1 ? minimumSampleRowsPerPart : minimumRowsPerPart
        return max(1, min(threads, geometry.outerCount / rowsPerPart))
    }

    /// Rows per part below which ``threadCount(for:_:reduces:threads:)`` takes fewer threads for a tensor read as
    /// rows of channels.
    static let minimumRowsPerPart = 4

    /// Samples per part below which ``threadCount(for:_:reduces:threads:)`` takes fewer threads for short
    /// channels-first runs read as rows of samples: their per-position arrays (`C·S` values, tiled from the
    /// per-channel ones on the calling thread every call) are `S` times a row of channels'. At 2 threads the
    /// elementwise steps of 8x1024x3x3 read 0.78-0.88x their 1-thread speed with 4 samples a part, 0.99-1.06x
    /// with one part; 32x512x3x3 and 64x256x3x3 gain 1.05-1.24x split (docs/BENCHMARK_NOTES.md, "Few rows of
    /// many channels").
    static let minimumSampleRowsPerPart = 16

    /// Rows per part below which ``threadCount(for:_:reduces:threads:)`` takes fewer threads for a reduction over a
    /// tensor read as rows, unless each part gets ``reducedValuesPerPart`` values.
    static let minimumReducedRowsPerPart = 32

    /// 2^18 values (1 MiB of `Float`) a part: enough data that a reduction of few rows splits.
    static let reducedValuesPerPart = 1 << 18

    /// The most threads any fused pass uses (``threadCount(elementCount:)`` of a large tensor): what
    /// per-channel steps split over when a tensor has many channels and few values.
    static var threadLimit: Int { threadCount(elementCount: .max) }

    /// `parts` rows of `width` partial sums, uninitialized: each part zeroes its own row
    /// (`initialize(repeating: 0, count: width)`) on its thread before it adds into it. Zeroed on the
    /// calling thread, the partial sums of `[8, 65536]`'s backward took a sixth of it at 2 threads
    /// (docs/BENCHMARK_NOTES.md, "The merge and zeroing of few rows' partial sums").
    static func partialSums(width: Int, parts: Int) -> [Double] {
        ChannelLoops.array(count: width * parts) { _ in }
    }

    /// Runs `body(part)` for `part in 0..<parts`, concurrently when `parts > 1`.
    static func forEachPart(_ parts: Int, _ body: (Int) -> Void) {
        ForkJoinPool.shared.run(parts: max(1, parts), body)
    }

    /// Runs `body` once per part on that part's consecutive ``slice(_:part:of:)`` of `count` items
    /// (values of an interleaved tensor, or channels-first runs), then, with `streaming`, fences that
    /// thread's streaming stores: the frame of every fused pass that writes a tensor.
    static func forEachSlice(_ count: Int, parts: Int, streaming: Bool, _ body: (Range<Int>) -> Void) {
        forEachPart(parts) { part in
            body(slice(count, part: part, of: parts))
            if streaming { streamingFence() }
        }
    }

    /// `range` split into `parts` nearly equal consecutive pieces; piece `part`.
    static func slice(_ count: Int, part: Int, of parts: Int) -> Range<Int> {
        let base = count / parts, extra = count % parts
        let start = part * base + min(part, extra)
        return start..<(start + base + (part < extra ? 1 : 0))
    }
}

/// Overrides of the fused kernels' size-based choices, so tests reach every variant on small tensors
/// and on machines with one core.
package enum FusedTuning {
    /// When set, every fused pass splits its work into exactly this many parts, whatever the tensor
    /// size and thread count (the per-thread partial sums and their merging).
    @TaskLocal static var forcedPartCount: Int?
    /// When set, the fused passes use streaming stores (or not) whatever the output size.
    @TaskLocal static var forcedStreamingStores: Bool?

    /// Runs `body` with every fused pass split into exactly `parts` parts (`nil`: the size-based split).
    package static func withForcedPartCount<Result>(_ parts: Int?, _ body: () throws -> Result) rethrows -> Result {
        try TestSeams.scope { try $forcedPartCount.withValue(parts, operation: body) }
    }

    /// Whether the fused backward's dx step streams `dx` for `geometry` when no override is set (the
    /// production rule, `Fused.streamsInputGradient`): `centered` for the training backward (it reads
    /// `x`), `inPlace` when `dz` is read from the `dx` buffer, `parts` the threads of the step (one thread
    /// streams from a smaller footprint).
    package static func inputGradientStreams<Scalar>(
        _ geometry: ChannelGeometry, _ scalar: Scalar.Type, centered: Bool, inPlace: Bool, parts: Int = 2
    ) -> Bool {
        Fused.streamsInputGradient(geometry, scalar, centered: centered, inPlace: inPlace, parts: parts)
    }

    /// Whether the fused training forward streams `y` for `geometry` when no override is set (the
    /// production rule, `Fused.streamsTrainingOutput`), with or without a residual, `parts` the threads
    /// of its normalize.
    package static func trainingOutputStreams<Scalar>(
        _ geometry: ChannelGeometry, _ scalar: Scalar.Type, residual: Bool, parts: Int = 2
    ) -> Bool {
        Fused.streamsTrainingOutput(geometry, scalar, residual: residual, parts: parts)
    }

    /// Whether the AVX2 normalize loop walks whole rows of `channelCount` values in channel tiles when it
    /// does not stream (WideLoopsTemplate.h, `NAME(tiles_rows)`), with or without a residual.
    package static func normalizeTakesTiles<Scalar>(channelCount: Int, residual: Bool, _ scalar: Scalar.Type) -> Bool {
        Fused.WideLoops.normalizeTakesTiles(channelCount: channelCount, residual: residual, scalar)
    }

    /// Runs `body` with streaming stores forced on or off (`nil`: the size-based choice).
    package static func withForcedStreamingStores<Result>(
        _ streaming: Bool?, _ body: () throws -> Result
    ) rethrows -> Result {
        try TestSeams.scope { try $forcedStreamingStores.withValue(streaming, operation: body) }
    }

    /// When set, the channels-first training passes walk one channel at a time (`true`) or read in memory
    /// order (`false`) wherever the AVX2 run loops run, whatever the tensor size, layout and CPU.
    @TaskLocal static var forcedChannelWalk: Bool?

    /// Runs `body` with the training passes' channel walk forced on or off (`nil`: the rule,
    /// ``Fused/walksChannels(_:_:cachedTensors:)``).
    package static func withForcedChannelWalk<Result>(_ walk: Bool?, _ body: () throws -> Result) rethrows -> Result {
        try TestSeams.scope { try $forcedChannelWalk.withValue(walk, operation: body) }
    }

    /// Whether the fused training backward (`backward: true`; through a ReLU whose mask is read from `y`
    /// with `readsForwardOutput`) or forward walks `geometry` one channel at a time (`Fused.walksChannels`:
    /// the production rule unless a test forces the walk; a forced part count counts as the thread count).
    package static func walksChannels<Scalar>(
        _ geometry: ChannelGeometry, _ scalar: Scalar.Type, backward: Bool, readsForwardOutput: Bool = false
    ) -> Bool {
        Fused.walksChannels(geometry, scalar, cachedTensors: backward ? (readsForwardOutput ? 3 : 2) : 1)
    }

    /// The threads the fused passes over `geometry` would use with `threads` threads available
    /// (`Fused.threadCount(for:_:reduces:threads:)`; a forced part count if a test set one), without changing
    /// the process's thread count; `reduces`: a moments or gradient-sums pass.
    package static func partCount<Scalar>(
        for geometry: ChannelGeometry, _ scalar: Scalar.Type, reduces: Bool, threads: Int
    ) -> Int {
        Fused.threadCount(for: geometry, scalar, reduces: reduces, threads: threads)
    }

    /// The per-channel totals of two arrays of `parts` rows of `channelCount` partial sums (rows of channels):
    /// as the passes merge them (`Fused.RowGrouping.channelTotals(_:_:parts:)`, on the threads for rows of
    /// 32,768 channels or more), and one array at a time on the calling thread, to compare their bits.
    package static func channelTotals(
        _ first: [Double], _ second: [Double], channelCount: Int, parts: Int
    ) -> (merged: [[Double]], serial: [[Double]]) {
        let grouping = Fused.RowGrouping(channelCount: channelCount)
        let merged = grouping.channelTotals(first, second, parts: parts)
        return ([merged.first, merged.second],
                [grouping.channelTotals(first, parts: parts), grouping.channelTotals(second, parts: parts)])
    }

    /// The `dx` step's periodic coefficients of rows of `gradientScale.count` channels, built over the channel slices
    /// (`FusedPasses.periodicGradientCoefficients`, `nil` where it does not apply: fewer than 8,192 channels or one
    /// thread), and one array at a time as the step builds them otherwise, to compare their bits.
    package static func periodicGradientCoefficients<Scalar: BatchNormScalar>(
        gradientScale: [Scalar], center: ChannelCenter<Scalar>, scale: [Scalar], bias: [Scalar]
    ) -> (sliced: [[Scalar]]?, serial: [[Scalar]]) {
        let centered = InputGradientCoefficients<Scalar>.CenteredTerm(center: center, scale: scale, bias: bias)
        let grouping = Fused.RowGrouping(channelCount: gradientScale.count)
        let sliced = FusedPasses.periodicGradientCoefficients(grouping, gradientScale: gradientScale, centered: centered)
        let serial = [gradientScale, centered.center.high, centered.scale,
                      centered.center.foldingLowWord(into: centered.bias, scale: centered.scale)].map(grouping.periodic)
        return (sliced.map { [$0.k, $0.center, $0.p, $0.q] }, serial)
    }

    /// The row width from which the passes merge partial sums on the threads.
    package static var parallelTotalsWidth: Int { Fused.RowGrouping.parallelTotalsWidth }

    /// `Float` shifted sums derived from sums `Σd`, `Σd²` about `centers` (`d = x - c`) over `count` values
    /// (`Fused.shiftedSums(fromCenteredSums:squares:centers:shift:count:)`): the derived sums, and the
    /// channels whose centered sums were not accepted (their entries left as given).
    package static func shiftedSumsFromCenteredSums(
        _ sums: [Double], squares: [Double], centers: [Double], shift: [Float], count: Int
    ) -> (sums: [Double], squares: [Double], rejected: [Int]) {
        var sums = sums, squares = squares
        let rejected = Fused.shiftedSums(
            fromCenteredSums: &sums, squares: &squares, centers: centers, shift: shift, count: Double(count))
        return (sums, squares, rejected)
    }

    /// The one read's centers for rows of `channelCount` `Float` channels (`FusedPasses.rowCenters`; at
    /// least three rows): `nil` where every center is +0, else each channel's, and the ranges of the centered
    /// channels where they are few.
    package static func rowCenters(
        _ values: [Float], channelCount: Int
    ) -> (centers: [Double]?, centeredPositions: [Range<Int>]?) {
        precondition(values.count >= 3 * channelCount)
        return values.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return (nil, nil) }
            return FusedPasses.rowCenters(base, channelCount: channelCount)
        }
    }

    /// The sums of each value of the first `rows` rows of `values` (`rowLength` values a row), and with
    /// `withSquares` of their squares, each less its `centers` value if given (`FusedPasses.headRowSums`,
    /// one part): to compare the C loop with the Swift one (``withSwiftLoops(_:_:)``).
    package static func headRowSums<Scalar: BatchNormScalar>(
        _ values: [Scalar], rows: Int, rowLength: Int, withSquares: Bool, centers: [Double]? = nil
    ) -> (sums: [Double], squares: [Double]?) {
        precondition(values.count >= rows * rowLength)
        return values.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return ([Double](repeating: 0, count: rowLength), nil) }
            return FusedPasses.headRowSums(
                base, rows: rows, rowLength: rowLength, parts: 1, withSquares: withSquares, centers: centers)
        }
    }

    /// The per-channel shifted sums of `values` read as rows (`FusedPasses.interleavedShiftedSums`, one part):
    /// the shift, `Σ(x - shift)` and `Σ(x - shift)²`; `nil` for a tensor the kernels do not read as rows.
    package static func rowShiftedSums<Scalar: BatchNormScalar>(
        _ values: [Scalar], geometry: ChannelGeometry
    ) -> (shift: [Scalar], sums: [Double], squares: [Double])? {
        precondition(values.count == geometry.elementCount)
        guard let grouping = Fused.RowGrouping(geometry: geometry, scalar: Scalar.self, parts: 1) else { return nil }
        return values.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return nil }
            let sums = FusedPasses.interleavedShiftedSums(base, geometry: geometry, grouping: grouping, parts: 1)
            return (sums.shift, sums.sums, sums.squares)
        }
    }

    /// `FusedPasses.exactShiftedSums`: the `Double` shifted sums of `channels` of `values` (a tensor the
    /// kernels read as rows, `geometry`), each channel's column walked alone or every position in one pass by how many
    /// channels are asked for (one part).
    package static func exactShiftedSums<Scalar: BatchNormScalar>(
        _ values: [Scalar], geometry: ChannelGeometry, shift: [Scalar], channels: [Int]
    ) -> [(sum: Double, sumOfSquares: Double)] {
        precondition(values.count == geometry.elementCount && shift.count == geometry.channelCount)
        guard let grouping = Fused.RowGrouping(geometry: geometry, scalar: Scalar.self, parts: 1) else {
            preconditionFailure("a tensor the kernels read as rows")
        }
        var sums = [Double](repeating: 0, count: geometry.channelCount), squares = sums
        values.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            FusedPasses.exactShiftedSums(
                base, geometry: geometry, grouping: grouping, shift: shift, channels: channels, parts: 1,
                sums: &sums, squares: &squares)
        }
        return channels.map { (sums[$0], squares[$0]) }
    }

    /// Whether this CPU runs AVX-512 (for tests of rules that differ there).
    package static var avx512Supported: Bool { Fused.WideLoops.avx512Supported }

    /// One core's L2 as the system reports it, or 0 (for tests of the channel walk's rule on AVX-512 CPUs).
    package static var level2CacheBytes: Int { Fused.level2CacheBytes }

    /// The forced channel walk, if a test set one (one relaxed load otherwise).
    @inline(__always)
    static var channelWalkOverride: Bool? { TestSeams.anyOpen ? forcedChannelWalk : nil }

    /// The forced part count, if a test set one (one relaxed load otherwise).
    @inline(__always)
    package static var partCountOverride: Int? { TestSeams.anyOpen ? forcedPartCount : nil }

    /// The forced streaming choice, if a test set one (one relaxed load otherwise).
    @inline(__always)
    package static var streamingStoresOverride: Bool? { TestSeams.anyOpen ? forcedStreamingStores : nil }
}

/// Carries a non-`Sendable` closure into `concurrentPerform`; safe because the closure only touches
/// disjoint parts of the output and its captures outlive the (synchronous) fork-join.
struct UncheckedSendableBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

// MARK: - Streaming stores

extension Fused {
    /// Alignment a streaming store of one `Vector` needs (its natural alignment in C).
    @inline(__always)
    static func streamingAlignment<Scalar: BatchNormScalar>(_: Scalar.Type) -> Int {
        width * MemoryLayout<Scalar>.stride
    }

    /// Stores `vector` at `pointer`: a streaming store (the pointer must be aligned to
    /// `streamingAlignment`; no read of the line first, not kept in cache) or a plain unaligned one.
    @inline(__always)
    static func store<Scalar: BatchNormScalar>(
        _ vector: Vector<Scalar>, _ pointer: UnsafeMutablePointer<Scalar>, streaming: Bool
    ) {
        guard streaming else { return store(vector, pointer) }
        if Scalar.self == Float.self {
            streaming_store_float16(
                UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: Float.self),
                unsafeBitCast(vector, to: SIMD16<Float>.self))
        } else if Scalar.self == Double.self {
            streaming_store_double16(
                UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: Double.self),
                unsafeBitCast(vector, to: SIMD16<Double>.self))
        } else {
            store(vector, pointer)
        }
    }

    /// Elements to store one by one before `pointer` reaches the streaming alignment.
    @inline(__always)
    static func streamingHead<Scalar: BatchNormScalar>(_ pointer: UnsafeMutablePointer<Scalar>) -> Int {
        let alignment = streamingAlignment(Scalar.self)
        let misalignment = Int(bitPattern: UInt(bitPattern: pointer)) % alignment
        return misalignment == 0 ? 0 : (alignment - misalignment) / MemoryLayout<Scalar>.stride
    }

    /// Orders this thread's streaming stores before whatever it does next.
    @inline(__always)
    static func streamingFence() { streaming_store_fence() }

    /// Whether a pass writing a tensor of `geometry` uses streaming stores, unless a test overrides it
    /// (`FusedTuning.withForcedStreamingStores`): outputs of at least ``streamingThresholdBytes``, and
    /// smaller ones when the `tensors` the pass walks (read and written; 2 for a pass that reads one
    /// tensor) outgrow the L3 (twice the threshold, so two tensors add nothing) and the output is written
    /// in stretches of at least ``minimumStreamedRunBytes`` (rows, or long channels-first runs). Callers
    /// count more than two tensors only for a pass that reads again what an earlier pass of the same
    /// call read: written through the cache, its output would evict the least recently used lines, the
    /// ones that earlier pass left in the L3 and this one reads next, and would not survive in the L3
    /// until the next layer reads it anyway. Runs of 49 values (two of their four lines shared with the
    /// neighbouring runs' plain stores) ran 10-18% slower streamed (docs/BENCHMARK_NOTES.md, "The dx step
    /// streamed by its footprint").
    /// `footprintLimit`: the bytes the `tensors` must exceed (by default the L3, twice the threshold).
    static func streamsOutput<Scalar>(
        _ geometry: ChannelGeometry, _: Scalar.Type, tensors: Int = 2,
        footprintLimit: Int = 2 * streamingThresholdBytes
    ) -> Bool {
        if let forced = FusedTuning.streamingStoresOverride { return forced }
        let bytes = geometry.elementCount * MemoryLayout<Scalar>.stride
        if bytes >= streamingThresholdBytes { return true }
        guard tensors * bytes > footprintLimit else { return false }
        return geometry.innerCount * MemoryLayout<Scalar>.stride >= minimumStreamedRunBytes
            || RowGrouping(geometry: geometry, scalar: Scalar.self, parts: 1) != nil
    }

    /// Whether the backward's dx step streams `dx` (``streamsOutput(_:_:tensors:footprintLimit:)``, after the
    /// reductions read `x` and `dy`): its tensors are `dx`, `x` when `centered`, and `dy` or `dz` unless
    /// `inPlace` (read from the `dx` buffer itself). Tensors of 12.8-13.2 MB ran 10-30% faster streamed.
    /// A step on one thread (`parts`) streams from ``singleThreadRereadFootprintBytes`` of tensors:
    /// 7.1-10.5 MB tensors (21-31 MB of x, dy and dx) ran 0-33% faster streamed at 1 thread (a guess at why:
    /// one core's reads are bound by its own misses in flight, a third of which the read for ownership of
    /// `dx` takes); at 2 threads the channels-first ones ran up to 25% slower streamed, so two cores keep
    /// the L3 rule (docs/BENCHMARK_NOTES.md, "The dx step streamed on one thread").
    static func streamsInputGradient<Scalar>(
        _ geometry: ChannelGeometry, _: Scalar.Type, centered: Bool, inPlace: Bool, parts: Int
    ) -> Bool {
        streamsOutput(
            geometry, Scalar.self, tensors: 1 + (centered ? 1 : 0) + (inPlace ? 0 : 1),
            footprintLimit: rereadFootprintLimit(parts: parts))
    }

    /// 20 MiB: the footprint beyond which a pass on one thread that rereads what an earlier pass of the
    /// same call read streams its output: the dx step (``streamsInputGradient(_:_:centered:inPlace:parts:)``)
    /// and the training forward's normalize with a residual
    /// (``streamsTrainingOutput(_:_:residual:parts:)``). For the dx step, 6.3 MB tensors (19 MB of three)
    /// read the same either way; 7.1 MB ones (21 MB) gained.
    static let singleThreadRereadFootprintBytes = 20 << 20

    /// The footprint a rereading pass on `parts` threads streams beyond: ``singleThreadRereadFootprintBytes``
    /// on one thread, the L3 (twice ``streamingThresholdBytes``) on more.
    static func rereadFootprintLimit(parts: Int) -> Int {
        parts == 1 ? singleThreadRereadFootprintBytes : 2 * streamingThresholdBytes
    }

    /// Whether the training forward's normalize step (after the moments read `x`) streams `y`
    /// (``streamsOutput(_:_:tensors:footprintLimit:)``): with a residual its tensors are `x`, the residual
    /// and `y`, beyond the L3 or, on one thread (`parts`), beyond ``singleThreadRereadFootprintBytes``
    /// (7.2-10 MB tensors ran 6-33% faster streamed at 1 thread; docs/BENCHMARK_NOTES.md, "The training
    /// forward with a residual streamed on one thread"); but rows that the normalize walks in channel tiles
    /// stay unstreamed below the threshold (the tiles run only unstreamed, and were faster: 2,048-channel
    /// rows, 1.54 against 1.76 ms streamed). Without a residual one thread keeps the L3 rule: `y` streamed
    /// from 21 MB of `x` and `y` read no faster.
    static func streamsTrainingOutput<Scalar>(
        _ geometry: ChannelGeometry, _: Scalar.Type, residual: Bool, parts: Int
    ) -> Bool {
        guard residual else { return streamsOutput(geometry, Scalar.self) }
        // (A forced choice passes through either way: `streamsOutput` returns it.)
        if !streamsOutput(geometry, Scalar.self),
           let grouping = RowGrouping(geometry: geometry, scalar: Scalar.self, parts: 1),
           WideLoops.normalizeTakesTiles(channelCount: grouping.width, residual: true, Scalar.self) {
            return false
        }
        return streamsOutput(
            geometry, Scalar.self, tensors: 3,
            footprintLimit: rereadFootprintLimit(parts: parts))
    }

    /// 256 bytes (four cache lines): the shortest channels-first run whose output the footprint rule of
    /// ``streamsOutput(_:_:tensors:footprintLimit:)`` streams; 100- and 196-value `Float` runs gained.
    static let minimumStreamedRunBytes = 256

    /// How the AVX2 row sums walk the rows of `geometry` (`WideLoops.h`'s `choices` bits), by the bytes of
    /// one tensor. The row loop's rows walked one by one prefetch only for tensors that stream from memory
    /// (``streamsOutput(_:_:tensors:footprintLimit:)``): in cache it cost up to 27% (the C loops take it
    /// where it measured faster on that CPU class: the gradient sums with AVX-512, the moments without).
    /// The AVX-512 register rows prefetch from ``registerRowPrefetchThresholdBytes`` on, where tensors spill
    /// the L2 and the masked sums lose their memory parallelism without it (docs/BENCHMARK_NOTES.md,
    /// "Prefetch in the register rows"). The gradient sums (plain, or masked by the ReLU bound) walk rows too
    /// wide for the register rows in register tiles up to ``registerTileThresholdBytes`` (the plain sums also
    /// where the C loop would walk row blocks, below the streaming size).
    static func rowLoopChoices<Scalar>(_ geometry: ChannelGeometry, _: Scalar.Type) -> RowLoopChoices {
        if streamsOutput(geometry, Scalar.self) { return [.rowLoop, .registerRows] }
        let bytes = geometry.elementCount * MemoryLayout<Scalar>.stride
        var choices: RowLoopChoices = bytes >= registerRowPrefetchThresholdBytes ? .registerRows : []
        if bytes <= registerTileThresholdBytes { choices.insert(.registerTiles) }
        return choices
    }

    /// How the AVX2 row loops walk their rows (`WideLoops.h`'s bits): which prefetch their data ahead, and
    /// whether the gradient sums take register tiles.
    struct RowLoopChoices: OptionSet {
        let rawValue: Int32
        /// The tensor streams from memory: the row loops' rows walked one by one prefetch
        /// (`BN_WIDE_PREFETCH_ROWS`).
        static let rowLoop = RowLoopChoices(rawValue: Int32(BN_WIDE_PREFETCH_ROWS))
        /// The AVX-512 register rows prefetch (`BN_WIDE_PREFETCH_REGISTER_ROWS`).
        static let registerRows = RowLoopChoices(rawValue: Int32(BN_WIDE_PREFETCH_REGISTER_ROWS))
        /// The gradient sums walk wide rows in AVX-512 register tiles at every width
        /// (`BN_WIDE_REGISTER_TILES`).
        static let registerTiles = RowLoopChoices(rawValue: Int32(BN_WIDE_REGISTER_TILES))
    }

    /// 4 MiB: beyond the 1-2 MiB L2 per core. At 6-13 MB (32x28x28x128, 16x56x56x64) the register rows
    /// were 10-25% faster with the prefetch; in L2 (1 MB) it cost 10%.
    static let registerRowPrefetchThresholdBytes = 4 << 20

    /// 8 MiB: `x` and `dy` together within half the L3. In a harness the gradient sums' register tiles read
    /// 3 and 6 MB tensors 6-40% faster than the row loops at 256 to 4,096 channels, 12 MB ones 7-51% slower
    /// up to 1,024 channels (docs/BENCHMARK_NOTES.md, "Register tiles for the gradient sums").
    static let registerTileThresholdBytes = 8 << 20

    /// 16 MiB, half the 32 MiB L3 of the machines we measure on. A larger output would not survive in
    /// cache until the next layer reads it anyway, and streaming it saves the read-for-ownership of
    /// every line; a smaller one stays in cache for the next layer, which a streaming store would
    /// evict (the A/B behind the threshold: docs/BENCHMARK_NOTES.md, "Streaming stores").
    static let streamingThresholdBytes = 16 << 20

    /// Whether a channels-first training pass walks one channel at a time (the backward,
    /// ``FusedPasses/channelWalkTrainingBackward(_:_:_:geometry:mean:inverseStandardDeviation:gamma:maskBound:mask:)``,
    /// and the forward, ``FusedPasses/channelWalkTrainingForward(_:_:geometry:gamma:beta:epsilon:epilogue:)``:
    /// a channel's reduction, its step, then its elementwise step while its runs are still cached) instead
    /// of two passes in memory order, unless a test forces it (``FusedTuning/withForcedChannelWalk(_:_:)``).
    /// `cachedTensors`: the tensors both reads walk (`x` and `dy` for the backward, and `y` when the ReLU
    /// mask is read from it; `x` for the forward).
    /// Needs the AVX2 run loops and at least two channels per thread; then it depends on where the second
    /// read can come from:
    /// - CPUs without AVX-512 (the Zen 3 host): runs at least ``minimumWalkedRunBytes`` long, cached
    ///   tensors that together outgrow the L3 (twice
    ///   ``streamingThresholdBytes``; a smaller `x` stays in the L3 between calls, and the walk's runs, each a
    ///   new stream for the prefetchers, read it slower than memory order: 32x64x56x56's forward at 2
    ///   threads, 2.99 against 2.50 ms), and channels whose cached tensors (times the threads walking at
    ///   once) fit in ``channelWalkFootprintBytes``: the second read comes from the L3 instead of memory.
    ///   64x128x56x56 `Float`: backward 19.6 against 24.3 ms at 1 thread, 13.8 against 19.2 at 2; training
    ///   forward 14.5 against 17.0 and 9.9 against 11.1 (docs/BENCHMARK_NOTES.md, "The channels-first
    ///   backward one channel at a time" and "The channels-first training forward one channel at a time").
    /// - CPUs with AVX-512: the backward only (two or more cached tensors), runs at least
    ///   ``minimumLevel2WalkedRunBytes`` long, where a channel's cached tensors fit in one core's L2
    ///   (``level2CacheBytes``; never when the system does not report it) and its runs span at most
    ///   ``maximumWalkedPageSpanBytes`` of pages (few enough samples), at any tensor size: the second
    ///   read comes from the L2. On the Intel host of 2026-12-04 (2 MiB of L2 a core,
    ///   a slow L3 beside it) that read 64x128x56x56's backward 27.6 against 31.7-33.7 ms at 1 thread and
    ///   14.7 against 16.3-18.1 at 2, 32x64x56x56's 3.58 against 4.17 and 1.95 against 2.23-2.29, with
    ///   smaller gains in cache; the forward walked lost as often as it won (32x64x56x56 2.98 against
    ///   2.50-2.68 ms, 64x256x28x28 7.48 against 4.94), so it keeps the memory order there
    ///   (docs/BENCHMARK_NOTES.md, "The channels-first backward one channel at a time on an AVX-512 host").
    static func walksChannels<Scalar>(_ geometry: ChannelGeometry, _: Scalar.Type, cachedTensors: Int) -> Bool {
        guard WideLoops.enabled, Scalar.self == Float.self || Scalar.self == Double.self,
              geometry.elementCount > 0 else { return false }
        if let forced = FusedTuning.channelWalkOverride { return forced }
        let scalarBytes = MemoryLayout<Scalar>.stride
        let runBytes = geometry.innerCount * scalarBytes
        let parts = threadCount(for: geometry, Scalar.self)
        let (footprint, overflow) = (cachedTensors * parts * runBytes).multipliedReportingOverflow(by: geometry.outerCount)
        if WideLoops.avx512Supported {
            // `footprint` counts every thread's channel; each thread has its own L2. Runs the memory-order
            // sums read as rows of samples add in another order: those keep it, so the bits stay the same.
            // A channel's runs and the pages they span (each run's bytes plus a page: the pages a run of
            // any alignment touches, on average), in the cached tensors and the output.
            let (pageSpan, spanOverflow) = ((cachedTensors + 1) * (runBytes + walkedPageBytes))
                .multipliedReportingOverflow(by: geometry.outerCount)
            return cachedTensors >= 2 && runBytes >= minimumLevel2WalkedRunBytes && !overflow
                && footprint <= parts * level2CacheBytes && geometry.channelCount >= 2 * parts
                && !spanOverflow && pageSpan <= maximumWalkedPageSpanBytes
                && RowGrouping(geometry: geometry, scalar: Scalar.self, parts: parts) == nil
        }
        let (cachedBytes, bytesOverflow) = (cachedTensors * scalarBytes).multipliedReportingOverflow(
            by: geometry.elementCount)
        return (bytesOverflow || cachedBytes >= 2 * streamingThresholdBytes)
            && runBytes >= minimumWalkedRunBytes
            && !overflow && footprint <= channelWalkFootprintBytes
            && geometry.channelCount >= 2 * parts
    }

    /// 2 KiB: the shortest channels-first run the backward walks channel by channel. Each run of a
    /// channel starts a new stream for the prefetchers; runs of 784 and 1,568 bytes read slower walked,
    /// runs of 3,136 bytes faster.
    static let minimumWalkedRunBytes = 2 << 10

    /// 256 bytes (four cache lines): the shortest channels-first run the backward walks on CPUs with
    /// AVX-512, where the walk keeps a channel in the L2, fetches each next run ahead of its sums and runs
    /// its loops as 512-bit instructions. On the Intel host of 2026-12-04 runs of 256 bytes (8x8 `Float`) and
    /// up read 10-30% faster walked, 240 bytes up to 12%, 208 bytes the same, 196 bytes (7x7) 7-37% slower
    /// (docs/BENCHMARK_NOTES.md, "Short runs walked on an AVX-512 host").
    static let minimumLevel2WalkedRunBytes = 256

    /// 4 KiB: the page size the AVX-512 walk rule counts pages in (``maximumWalkedPageSpanBytes``).
    static let walkedPageBytes = 4 << 10

    /// 4 MiB (1,024 pages of 4 KiB): the most a channel's runs may span, counted in the pages they touch, for
    /// the backward to walk on CPUs with AVX-512. Walked, each run is a new page in each tensor; with many
    /// samples of short runs the walk lost to memory order on the Intel host of 2026-12-04 even where the
    /// channel fit in the L2: 256x64x28x28 (`x`, `dy` and `dx` spanning about 1,360 pages a channel) 10.1 / 5.1
    /// ms against 8.7 / 4.6 at 1 / 2 threads, 256x32x28x28 (1,360) 4.6-4.7 against 4.3, 512x32x14x14 (1,830)
    /// 2.5-2.6 against 2.1; 192x64x28x28 (1,020) read the same either way, 128x64x28x28 (680) and 64x128x56x56
    /// (780) faster walked (docs/BENCHMARK_NOTES.md, "Many samples walked on an AVX-512 host"). The
    /// cause, which the VM's missing performance counters could not confirm, is likely the second-level TLB
    /// (2,048 entries on recent Intel and AMD cores, shared by two hardware threads).
    static let maximumWalkedPageSpanBytes = 4 << 20

    /// One core's L2 as the system reports it (`sysconf`), or 0 where it does not: the most of one channel's
    /// cached tensors a thread walks on CPUs with AVX-512 (``walksChannels(_:_:cachedTensors:)``).
    static let level2CacheBytes = Int(bn_level2_cache_bytes())

    /// 4 MiB: the most of one channel's cached tensors (times the threads) a pass walks channel by
    /// channel, so that a channel's second read comes from the cache: the backward of 256x64x56x56 `Float`
    /// (6.4 MB of `x` and `dy` a channel) read slower walked at 1 thread, of 128x64x56x56 (3.2 MB) faster.
    static let channelWalkFootprintBytes = 4 << 20

    /// 256 KiB: how much of `x` the walked training forward takes in one group of channels (at least one
    /// channel): their moments, then one call for their coefficients, then their `y`. The coefficients of
    /// one channel at a time took a quarter of 32x256x14x14's walk in array allocations and generic
    /// metadata lookups; a group's `x` stays well within an L2 of 512 KiB to 2 MiB until its `y` reads it.
    static let channelWalkGroupBytes = 256 << 10
}

// MARK: - Forward epilogue

extension Fused {
    /// What the forward elementwise step does after `(x - center) * scale + shift`: add a residual
    /// tensor (same geometry as the output), then apply ReLU. Both loop-invariant.
    struct ForwardEpilogue<Scalar: BatchNormScalar> {
        var residual: UnsafePointer<Scalar>?
        var relu: Bool

        /// Plain batch norm.
        static var none: Self { Self(residual: nil, relu: false) }
    }
}

// MARK: - Lane-wise selects (CKernelSupport's SelectZero.h)

extension Fused {
    /// `value < 0 ? 0 : value` per lane: ReLU, NaN kept.
    @inline(__always)
    static func zeroWhereNegative<Scalar: BatchNormScalar>(_ value: Vector<Scalar>) -> Vector<Scalar> {
        var result = value
        withUnsafeMutablePointer(to: &result) { pointer in
            let raw = UnsafeMutableRawPointer(pointer)
            if Scalar.self == Float.self {
                zero_where_negative_float16(raw.assumingMemoryBound(to: Float.self))
            } else if Scalar.self == Double.self {
                zero_where_negative_double16(raw.assumingMemoryBound(to: Double.self))
            } else {
                pointer.pointee = value.replacing(with: 0, where: value .< 0)
            }
        }
        return result
    }

    /// `condition <= 0 ? 0 : value` per lane: PyTorch's `threshold_backward(value, condition, 0)`.
    @inline(__always)
    static func zeroWhereNotPositive<Scalar: BatchNormScalar>(
        _ value: Vector<Scalar>, condition: Vector<Scalar>
    ) -> Vector<Scalar> {
        zeroWhereAtMost(value, condition: condition, bound: Vector())
    }

    /// `condition <= bound ? 0 : value` per lane (NaN conditions keep `value`).
    @inline(__always)
    static func zeroWhereAtMost<Scalar: BatchNormScalar>(
        _ value: Vector<Scalar>, condition: Vector<Scalar>, bound: Vector<Scalar>
    ) -> Vector<Scalar> {
        var result = value, conditions = condition, bounds = bound
        withUnsafeMutablePointer(to: &result) { pointer in
            withUnsafeMutablePointer(to: &conditions) { conditionPointer in
                withUnsafeMutablePointer(to: &bounds) { boundPointer in
                    let raw = UnsafeMutableRawPointer(pointer), conditionRaw = UnsafeRawPointer(conditionPointer)
                    let boundRaw = UnsafeRawPointer(boundPointer)
                    if Scalar.self == Float.self {
                        zero_where_at_most_float16(
                            raw.assumingMemoryBound(to: Float.self), conditionRaw.assumingMemoryBound(to: Float.self),
                            boundRaw.assumingMemoryBound(to: Float.self))
                    } else if Scalar.self == Double.self {
                        zero_where_at_most_double16(
                            raw.assumingMemoryBound(to: Double.self), conditionRaw.assumingMemoryBound(to: Double.self),
                            boundRaw.assumingMemoryBound(to: Double.self))
                    } else {
                        pointer.pointee = value.replacing(with: 0, where: condition .<= bound)
                    }
                }
            }
        }
        return result
    }
}
