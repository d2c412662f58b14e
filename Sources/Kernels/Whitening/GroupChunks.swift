/// How the group-whitening kernels walk a group's `M` samples: in chunks small enough that a chunk's
/// centered copy stays in the core's L2 cache between the copy and the BLAS call that reads it, split
/// over the fork-join pool's parts.
///
/// A chunk is a range of flattened sample indices `m = outer · innerCount + inner`. Channels-first
/// tensors (`innerCount > 1`) store a group's chunk as one or more *segments*, runs of consecutive
/// samples inside one outer panel; sample-major tensors (`innerCount == 1`) as one segment of rows.
///
/// Scratch per part: channel-major `(G + 1) × samplesPerChunk` (row `G` all ones; rows padded to 64 bytes) for channels-first
/// tensors, sample-major `samplesPerChunk × (G + 1)` (column `G` all ones) otherwise, so the same BLAS
/// orientation serves the tensor and the scratch, and the ones give the row sums (`Σ (x - shift)`,
/// `Σ dy`) in the same product as the second moments.
struct GroupChunks {
    /// Scratch elements per part that keep a chunk, its source and its output in a 1 MiB L2 cache.
    static let scratchBudget = 1 << 15

    /// `G · n · G` bound under which OpenBLAS 0.3.21 runs a `gemm` on the calling thread alone
    /// (`SMP_THRESHOLD_MIN · GEMM_MULTITHREAD_THRESHOLD`): when the pool splits the work, each call
    /// stays under it, so two threads do not queue on OpenBLAS's level-3 lock.
    static let singleThreadedProductBound = 65_536 * 4

    let geometry: ChannelGeometry
    let groupSize: Int
    /// Samples per chunk (at least 1).
    private(set) var samplesPerChunk: Int
    /// Samples per BLAS call (at least 1, at most `samplesPerChunk`).
    private(set) var samplesPerCall: Int
    /// Parts the work is split into (1: the calling thread alone, BLAS as configured).
    private(set) var parts: Int
    /// The groups the passes cover (all by default; one at a time keeps a group's values in L3 between
    /// its statistics pass and its output pass).
    private(set) var groups: Range<Int>

    init(geometry: ChannelGeometry, groupSize: Int) {
        self.geometry = geometry
        self.groupSize = groupSize
        let sampleCount = geometry.valuesPerChannel
        // Tests lower `BLASCount.maximumCount` to make several chunks and calls out of a small tensor.
        let limit = max(1, BLASCount.maximumCount)
        var chunk = max(1, Self.scratchBudget / (groupSize + 1))
        if geometry.innerCount > 1, geometry.innerCount <= chunk {
            chunk -= chunk % geometry.innerCount  // whole panels: fewer, longer segments
        }
        samplesPerChunk = max(1, min(chunk, sampleCount, limit))
        groups = 0..<(geometry.channelCount / groupSize)
        let threads = Fused.threadCount(elementCount: geometry.elementCount)
        let chunkCount = (sampleCount + samplesPerChunk - 1) / samplesPerChunk
        parts = max(1, min(threads, chunkCount * groups.count))
        let callBound = parts > 1 ? max(1, Self.singleThreadedProductBound / (groupSize * (groupSize + 1))) : Int.max
        samplesPerCall = max(1, min(samplesPerChunk, callBound))
    }

    /// The same walk over `groups` only (at most as many parts as before).
    func restricted(to groups: Range<Int>) -> GroupChunks {
        var copy = self
        copy.groups = groups
        copy.parts = max(1, min(parts, chunkCount * groups.count))
        return copy
    }

    /// Samples per chunk of a pass without scratch (``scratchFree()``).
    static let scratchFreeSamples = 4096

    /// The same walk in longer chunks, for a pass that needs no scratch (the AVX2 combine): whole panels
    /// up to about ``scratchFreeSamples`` samples (runs of that many inside longer panels), so that each
    /// kernel call covers whole rows; at most as many parts as before.
    func scratchFree() -> GroupChunks {
        var copy = self
        var chunk = max(samplesPerChunk, Self.scratchFreeSamples)
        if channelMajor, geometry.innerCount <= chunk {
            chunk -= chunk % geometry.innerCount
        }
        copy.samplesPerChunk = max(1, min(chunk, geometry.valuesPerChannel, BLASCount.maximumCount))
        copy.samplesPerCall = copy.samplesPerChunk
        copy.parts = max(1, min(parts, copy.chunkCount * groups.count))
        return copy
    }

    /// Group and chunk of work item `item`. Items run group-major over ``groups`` for channel-major
    /// tensors (a group's chunks are its own panels), chunk-major for sample-major ones (a chunk's rows hold
    /// every group, so the groups of a chunk follow each other while its rows are in cache).
    func groupAndChunk(of item: Int) -> (group: Int, chunk: Int) {
        if channelMajor {
            let (groupIndex, chunk) = item.quotientAndRemainder(dividingBy: chunkCount)
            return (groups.lowerBound + groupIndex, chunk)
        }
        let (chunk, groupIndex) = item.quotientAndRemainder(dividingBy: groups.count)
        return (groups.lowerBound + groupIndex, chunk)
    }

    /// The groups the kernels take together through their passes (statistics, then output): channel-major
    /// groups one at a time, so that the output pass finds the group's values (1/(C/G) of the tensor) still
    /// in L3 from the statistics pass; sample-major groups all at once, since a group is a column block of
    /// every row and a pass over one group alone reads every cache line of the tensor.
    var groupBatches: [Range<Int>] {
        channelMajor ? groups.map { $0..<($0 + 1) } : [groups]
    }

    var chunkCount: Int { (geometry.valuesPerChannel + samplesPerChunk - 1) / samplesPerChunk }

    /// Whether the tensor's groups are channel-major panels (else sample-major rows).
    var channelMajor: Bool { geometry.innerCount > 1 }

    /// Row stride of a part's scratch: channel-major rows padded to whole multiples of 16 elements, so that
    /// every row starts on a 64-byte boundary of the aligned scratch (``withScratch(_:_:)``).
    var scratchLeadingDimension: Int { channelMajor ? (samplesPerChunk + 15) / 16 * 16 : groupSize + 1 }

    /// Elements of one part's scratch.
    var scratchCount: Int { channelMajor ? (groupSize + 1) * scratchLeadingDimension : samplesPerChunk * (groupSize + 1) }

    /// Alignment of the scratch, in bytes.
    static let scratchAlignment = 64

    /// Row stride of a group inside the tensor (channels-first: between channels; sample-major: between samples).
    var tensorLeadingDimension: Int { channelMajor ? geometry.innerCount : geometry.channelCount }

    /// The samples of chunk `chunk`.
    func samples(of chunk: Int) -> Range<Int> {
        let start = chunk * samplesPerChunk
        return start..<min(start + samplesPerChunk, geometry.valuesPerChannel)
    }

    /// Element offset of sample `sample` of channel `channel` from the tensor's start.
    func tensorOffset(channel: Int, sample: Int) -> Int {
        if channelMajor {
            let (outer, inner) = sample.quotientAndRemainder(dividingBy: geometry.innerCount)
            return (outer * geometry.channelCount + channel) * geometry.innerCount + inner
        }
        return sample * geometry.channelCount + channel
    }

    /// Calls `body(tensorOffset, chunkOffset, count)` for the BLAS-call-sized runs of `samples` of group
    /// `group`: `tensorOffset` is the element offset of the run's first value of the group's first
    /// channel, `chunkOffset` the run's first sample relative to `samples.lowerBound`.
    func forEachRun(
        of samples: Range<Int>, group: Int, callSized: Bool,
        _ body: (_ tensorOffset: Int, _ chunkOffset: Int, _ count: Int) -> Void
    ) {
        let firstChannel = group * groupSize
        let runLimit = callSized ? samplesPerCall : Int.max
        var sample = samples.lowerBound
        while sample < samples.upperBound {
            var count = min(samples.upperBound - sample, runLimit)
            if channelMajor {
                count = min(count, geometry.innerCount - sample % geometry.innerCount)
            }
            body(tensorOffset(channel: firstChannel, sample: sample), sample - samples.lowerBound, count)
            sample += count
        }
    }

    /// Scratch offset of chunk sample `chunkOffset` (row 0 / column 0).
    func scratchOffset(_ chunkOffset: Int) -> Int {
        channelMajor ? chunkOffset : chunkOffset * (groupSize + 1)
    }

    /// Runs `body` with a fresh scratch for `parts` parts (``scratchCount`` elements each, 64-byte aligned,
    /// zero but for the ones row or column), and frees it afterwards. The alignment makes the channel-major
    /// rows' addresses, and so the AVX2 products' results, independent of where the allocator puts it.
    func withScratch<Scalar: BatchNormScalar, Result>(
        _: Scalar.Type, _ body: (UnsafeMutablePointer<Scalar>) throws -> Result
    ) rethrows -> Result {
        let count = scratchCount * parts
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: count * MemoryLayout<Scalar>.stride, alignment: Self.scratchAlignment)
        defer { raw.deallocate() }
        let scratch = raw.initializeMemory(as: Scalar.self, repeating: 0, count: count)
        for part in 0..<parts {
            let base = part * scratchCount
            for sample in 0..<samplesPerChunk {
                let index = channelMajor
                    ? base + groupSize * scratchLeadingDimension + sample
                    : base + sample * (groupSize + 1) + groupSize
                scratch[index] = 1
            }
        }
        return try body(scratch)
    }

    /// `scratch = x - center` over `samples` of group `group` (rows `0 ..< G`; the ones stay).
    func centeredCopy<Scalar: BatchNormScalar>(
        of tensor: UnsafePointer<Scalar>, group: Int, samples: Range<Int>, center: [Scalar],
        into scratch: UnsafeMutablePointer<Scalar>
    ) {
        let tensorStride = tensorLeadingDimension
        let scratchStride = scratchLeadingDimension
        forEachRun(of: samples, group: group, callSized: false) { tensorOffset, chunkOffset, count in
            if channelMajor {
                if WhiteningProducts.centeredCopy(
                    sampleMajor: false, lines: groupSize, length: count, tensor + tensorOffset, stride: tensorStride,
                    centers: center, into: scratch + chunkOffset, targetStride: scratchStride) {
                    return
                }
                for row in 0..<groupSize {
                    let from = tensor + tensorOffset + row * tensorStride
                    let to = scratch + chunkOffset + row * scratchStride
                    let value = center[row]
                    for index in 0..<count { to[index] = from[index] - value }
                }
            } else {
                if WhiteningProducts.centeredCopy(
                    sampleMajor: true, lines: count, length: groupSize, tensor + tensorOffset, stride: tensorStride,
                    centers: center, into: scratch + chunkOffset * scratchStride, targetStride: scratchStride) {
                    return
                }
                for sample in 0..<count {
                    let from = tensor + tensorOffset + sample * tensorStride
                    let to = scratch + (chunkOffset + sample) * scratchStride
                    for column in 0..<groupSize { to[column] = from[column] - center[column] }
                }
            }
        }
    }

    /// Runs `body(part, items)` for every part, concurrently when there are several, where `items`
    /// are the part's work items (see ``groupAndChunk(of:)``), consecutive.
    func forEachPart(_ body: (_ part: Int, _ items: Range<Int>) -> Void) {
        let itemCount = groups.count * chunkCount
        Fused.forEachPart(parts) { part in
            body(part, Fused.slice(itemCount, part: part, of: parts))
        }
    }
}
