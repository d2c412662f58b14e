import Kernels
import Testing

/// The seams the work-split, streaming and chunking tests rely on take effect inside their scopes and
/// nowhere else; without this, a seam that silently stopped working would leave those tests passing
/// on the default path.
@Suite("Test seams")
struct TestSeamTests {
    @Test("forced part count, streaming stores and CBLAS count limit apply inside their scope only")
    func scopes() {
        #expect(FusedTuning.partCountOverride == nil)
        #expect(FusedTuning.streamingStoresOverride == nil)
        #expect(BLASCount.maximumCount == Int(Int32.max))
        FusedTuning.withForcedPartCount(3) {
            #expect(FusedTuning.partCountOverride == 3)
            FusedTuning.withForcedStreamingStores(true) {
                #expect(FusedTuning.streamingStoresOverride == true)
                #expect(FusedTuning.partCountOverride == 3)
            }
            #expect(FusedTuning.streamingStoresOverride == nil)
        }
        BLASCount.withMaximumCount(5) {
            #expect(BLASCount.maximumCount == 5)
        }
        #expect(FusedTuning.partCountOverride == nil)
        #expect(BLASCount.maximumCount == Int(Int32.max))
    }
}
