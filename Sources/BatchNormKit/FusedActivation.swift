/// What follows batch norm (after the optional residual add) in the fused forward pass, with
/// PyTorch's semantics.
public enum FusedActivation: String, Sendable, Hashable, CaseIterable {
    /// Nothing: `y = bn(x)` or `y = bn(x) + residual`.
    case identity
    /// `relu(v) = v < 0 ? 0 : v`, so NaN stays NaN (`torch.relu`). Its backward is PyTorch's
    /// `threshold_backward(dy, y, 0)`: `dy` where `y > 0` or `y` is NaN, 0 where `y <= 0` (0 at `y == 0`).
    case relu
}
