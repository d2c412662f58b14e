/// Copy bandwidth of this machine, measured in the same run as the kernels: `memcpy`-style copies of
/// a buffer far larger than the caches, counted STREAM's way (bytes read + bytes written).
enum CopyBandwidth {
    /// GB/s (1e9 bytes) of copying `megabytes` MB, median over the timing policy.
    static func measure(megabytes: Int = 256, timing: BenchTiming) -> Double {
        let count = megabytes * 1_000_000 / MemoryLayout<Double>.stride
        let source = [Double](repeating: 1, count: count)
        var target = [Double](repeating: 0, count: count)
        let result = timing.measure {
            target.withUnsafeMutableBufferPointer { targetBuffer in
                source.withUnsafeBufferPointer { sourceBuffer in
                    _ = targetBuffer.update(fromContentsOf: sourceBuffer)
                }
            }
        }
        let bytes = 2.0 * Double(count * MemoryLayout<Double>.stride)
        return bytes / (result.medianMilliseconds * 1e-3) / 1e9
    }
}
