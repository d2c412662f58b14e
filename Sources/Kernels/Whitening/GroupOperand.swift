/// One whitening group's values inside a buffer, as BLAS operands: either channel-major panels (one per
/// outer index, `G` rows of `innerCount` values with row stride `leadingDimension`, panel `p` at
/// `base + p * panelStride`), or, when `innerCount == 1`, one sample-major matrix (`M` rows of `G`
/// values with row stride `leadingDimension`) that the kernels walk in row chunks.
///
/// A view for the kernels' closures only: it never outlives the buffer its pointer comes from.
struct GroupOperand<Scalar> {
    let base: UnsafeMutablePointer<Scalar>
    let leadingDimension: Int
    let panelStride: Int

    /// Group `group` of a tensor with `geometry`.
    init(tensor: UnsafeMutablePointer<Scalar>, geometry: ChannelGeometry, group: Int, groupSize: Int) {
        let firstChannel = group * groupSize
        if geometry.innerCount > 1 {
            base = tensor + firstChannel * geometry.innerCount
            leadingDimension = geometry.innerCount
            panelStride = geometry.channelCount * geometry.innerCount
        } else {
            base = tensor + firstChannel
            leadingDimension = geometry.channelCount
            panelStride = 0
        }
    }

    /// A scratch matrix laid out as ``GroupScratch`` lays it out for `geometry`.
    init(scratch: UnsafeMutablePointer<Scalar>, geometry: ChannelGeometry, rowLength: Int) {
        base = scratch
        leadingDimension = rowLength
        panelStride = geometry.innerCount > 1 ? geometry.innerCount : 0
    }
}

/// The layout of a group's centered copy, `S`: channel-major `(G + 1) × M` (row `G` all ones) when the
/// tensor has `innerCount > 1`, sample-major `M × (G + 1)` (column `G` all ones) otherwise, so the
/// same BLAS orientation serves the tensor and the scratch. The ones give `Σ dy` in the same product as
/// `dY Sᵀ` in backward.
enum GroupScratch {
    /// Elements of the scratch for groups of `groupSize` channels.
    static func elementCount(geometry: ChannelGeometry, groupSize: Int) -> Int {
        (groupSize + 1) * geometry.valuesPerChannel
    }

    /// The row stride of the scratch.
    static func rowLength(geometry: ChannelGeometry, groupSize: Int) -> Int {
        geometry.innerCount > 1 ? geometry.valuesPerChannel : groupSize + 1
    }
}
