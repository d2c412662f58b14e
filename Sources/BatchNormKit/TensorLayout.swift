/// Where the channel dimension sits in a tensor's dimensions.
public enum TensorLayout: String, Sendable, Hashable, CaseIterable, Codable {
    /// `[N, C, *spatial]`: NC, NCL, NCHW, NCDHW (PyTorch's default, oneDNN `nchw`).
    case channelsFirst
    /// `[N, *spatial, C]`: NLC, NHWC, NDHWC (PyTorch `channels_last`, oneDNN `nhwc`). For rank 2 it is
    /// the same memory as channels-first.
    case channelsLast
}
