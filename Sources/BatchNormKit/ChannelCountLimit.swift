#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The largest channel count whose per-channel vectors can be allocated. Swift traps when an array
/// allocation fails, so every public entry point that allocates `channelCount` values checks it first.
enum ChannelCountLimit {
    /// A layer holds four per-channel vectors (gamma, beta, running mean, running variance).
    static let vectorsPerLayer = 4

    /// Channels of `Scalar` whose `vectorsPerLayer` vectors fit in the machine's physical memory.
    static func maximum<Scalar>(_: Scalar.Type) -> Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        // Without an answer from sysconf, assume a 64-bit address space's worth (2^47 bytes).
        guard pages > 0, pageSize > 0 else { return (1 << 47) / (vectorsPerLayer * MemoryLayout<Scalar>.stride) }
        let bytes = pages.multipliedReportingOverflow(by: pageSize)
        let memory = bytes.overflow ? Int.max : bytes.partialValue
        return memory / (vectorsPerLayer * MemoryLayout<Scalar>.stride)
    }

    /// Refuses a channel count below 1 or above ``maximum(_:)``.
    /// - Throws: `BatchNormError.invalidChannelCount`, `.channelCountTooLarge`.
    static func validate<Scalar>(_ channelCount: Int, _ type: Scalar.Type) throws(BatchNormError) {
        guard channelCount >= 1 else { throw .invalidChannelCount(channelCount) }
        let maximum = maximum(type)
        guard channelCount <= maximum else { throw .channelCountTooLarge(count: channelCount, maximum: maximum) }
    }
}
