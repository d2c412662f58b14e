import Testing
import BatchNormKit
import Kernels

/// The fused path splits a pass into one consecutive range of rows (channels-last) or of
/// `outer × channel` runs (channels-first) per thread; each thread keeps per-channel partial sums that
/// are merged afterwards, and a channel's runs usually land in more than one range. Tensors under
/// 2^16 elements run in one part, so the other suites never reach those merges: here the same checks
/// (same tolerances) run with the work forced into 3 parts (`FusedThreading.$forcedPartCount`), on
/// every test shape, random and nasty data, forward and backward, both precisions.
@Suite("Fused work split into parts")
struct WorkSplitTests {
    static let partCounts = [2, 3]

    @Test("parity on random data", arguments: TestShapes.all, partCounts)
    func parity(entry: ([Int], TensorLayout), parts: Int) throws {
        try FusedThreading.$forcedPartCount.withValue(parts) {
            let forward = ForwardParityTests(), backward = BackwardParityTests()
            for affine in [true, false] {
                try forward.checkTraining(Float.self, entry: entry, path: .fused, affine: affine)
                try forward.checkTraining(Double.self, entry: entry, path: .fused, affine: affine)
                try backward.checkTraining(Float.self, entry: entry, path: .fused, affine: affine)
                try backward.checkTraining(Double.self, entry: entry, path: .fused, affine: affine)
            }
            try forward.checkInference(Float.self, entry: entry, path: .fused)
            try backward.checkInference(Double.self, entry: entry, path: .fused)
        }
    }

    @Test("nasty data", arguments: TensorLayout.allCases, partCounts)
    func nasty(layout: TensorLayout, parts: Int) throws {
        try FusedThreading.$forcedPartCount.withValue(parts) {
            let nasty = NastyDataTests()
            try nasty.largeOffset(layout: layout, path: .fused)
            try nasty.trend(layout: layout, path: .fused)
            try nasty.constantChannels(layout: layout, path: .fused)
            try nasty.magnitudes(layout: layout, path: .fused)
            try nasty.nonFinite(layout: layout, path: .fused)
        }
    }
}
