"""NumPy reference ops: convolution and pooling, forward and backward, NCHW, float64 by default.

Every op builds a strided view of the padded input's windows (no copy) and reduces it with
one batched matrix product or reduction, so there is no Python loop over output pixels; the
backward passes loop only over the kernel's few offsets. The chapter's loop version lives in
``cnnviz.ops.loops`` as a teaching reference and a benchmark baseline.

``padding`` is an int, an (h, w) pair, or one of:

- ``"valid"``: no padding;
- ``"same"``: TensorFlow's rule, output = ⌈n / s⌉; the total padding
  max((out − 1)·s + d·(k − 1) + 1 − n, 0) is split with the odd pixel at the bottom / right
  (for stride 1 and an odd kernel this is the chapter's P = ⌊F/2⌋ on each side);
- ``"full"``: d·(k − 1) on each side, so every input pixel meets every kernel weight.
"""

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnnviz import arithmetic

PADDING_MODES = arithmetic.PADDING_MODES


@dataclass(frozen=True)
class Geometry:
    """Where the windows of one op lie: padding per side, stride, dilation, kernel and output
    sizes, per axis as (height, width)."""

    pad: tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))
    stride: tuple[int, int]
    dilation: tuple[int, int]
    kernel: tuple[int, int]
    out: tuple[int, int]

    @property
    def span(self) -> tuple[int, int]:
        """How many padded-input pixels one window covers, per axis: d·(k − 1) + 1."""
        return tuple(d * (k - 1) + 1 for d, k in zip(self.dilation, self.kernel))


def _float(a) -> np.ndarray:
    """Integers (a typed-in grid) become float64; float arrays keep their precision."""
    a = np.asarray(a)
    return a if np.issubdtype(a.dtype, np.floating) else a.astype(np.float64)


def _pair(value, name: str) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise ValueError(f"{name} must be an int or an (h, w) pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def _positive_pair(value, name: str) -> tuple[int, int]:
    pair = _pair(value, name)
    for v in pair:
        if v < 1:
            raise ValueError(
                f"{name} must be a positive integer, got {v}: the output size "
                f"⌊(W + 2P − F) / S⌋ + 1 needs a step of at least 1 pixel")
    return pair


def _pads(padding, size: int, span: int, stride: int, axis: int) -> tuple[int, int]:
    per_axis = padding if isinstance(padding, str) else _pair(padding, "padding")[axis]
    return arithmetic.padding_amounts(size, span, per_axis, stride)


def geometry(in_hw, kernel_hw, stride=1, padding=0, dilation=1) -> Geometry:
    """Resolve padding, stride and dilation for an input of size ``in_hw`` and a kernel of size
    ``kernel_hw``; ``ValueError`` with the numbers when the kernel does not fit."""
    stride = _positive_pair(stride, "stride")
    dilation = _positive_pair(dilation, "dilation")
    kernel = _positive_pair(tuple(kernel_hw) if np.ndim(kernel_hw) else kernel_hw, "kernel size")
    pads, outs = [], []
    for axis, name in enumerate(("height", "width")):
        n, k, s, d = in_hw[axis], kernel[axis], stride[axis], dilation[axis]
        span = d * (k - 1) + 1
        before, after = _pads(padding, n, span, s, axis)
        padded = n + before + after
        if span > padded:
            kernel_text = str(k) if d == 1 else f"{span} (1 + {d}·({k} − 1), dilation {d})"
            pad_text = f"2·{before}" if before == after else f"{before} + {after}"
            raise ValueError(
                f"kernel {kernel_text} does not fit in {n} + {pad_text} = {padded} input pixels "
                f"({name}): the output size ⌊(W + 2P − F) / S⌋ + 1 would be "
                f"⌊({padded} − {span}) / {s}⌋ + 1 = {(padded - span) // s + 1}".replace("-", "−"))
        pads.append((before, after))
        outs.append((padded - span) // s + 1)
    return Geometry(tuple(pads), stride, dilation, kernel, tuple(outs))


def pad(x: np.ndarray, g: Geometry, value: float = 0.0) -> np.ndarray:
    """Pad the last two axes of ``x`` as ``g`` says, with ``value``."""
    widths = [(0, 0)] * (x.ndim - 2) + list(g.pad)
    return np.pad(x, widths, mode="constant", constant_values=value)


def windows(padded: np.ndarray, g: Geometry) -> np.ndarray:
    """A view (..., out_h, out_w, kh, kw) of every window of ``padded`` (no copy): window
    (i, j) starts at padded pixel (i·s, j·s) and takes every d-th pixel."""
    (sh, sw), (dh, dw) = g.stride, g.dilation
    return sliding_window_view(padded, g.span, axis=(-2, -1))[..., ::sh, ::sw, ::dh, ::dw]


def _tap_slices(g: Geometry):
    """For each kernel tap (i, j), in reading order, the slices of the padded input that it
    reads over all windows: a strided grid shaped like the output."""
    (sh, sw), (dh, dw), (oh, ow) = g.stride, g.dilation, g.out
    for i in range(g.kernel[0]):
        for j in range(g.kernel[1]):
            yield i, j, (slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
                         slice(j * dw, j * dw + sw * (ow - 1) + 1, sw))


def _scatter_windows(grad_windows: np.ndarray, padded_shape, g: Geometry) -> np.ndarray:
    """The adjoint of ``windows``: add each window's gradient (..., kh, kw, out_h, out_w) back
    onto the padded input, one kernel tap at a time."""
    out = np.zeros(padded_shape, dtype=grad_windows.dtype)
    for i, j, (rows, cols) in _tap_slices(g):
        out[..., rows, cols] += grad_windows[..., i, j, :, :]
    return out


def _unpad(padded: np.ndarray, g: Geometry, in_hw) -> np.ndarray:
    (top, _), (left, _) = g.pad
    return padded[..., top: top + in_hw[0], left: left + in_hw[1]]


def _check_conv_shapes(x: np.ndarray, w: np.ndarray, groups: int) -> None:
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d needs x of shape (N, C, H, W) and w of shape "
                         f"(F, C/groups, kh, kw), got {x.shape} and {w.shape}")
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"groups must be a positive integer, got {groups!r}")
    channels, filters = x.shape[1], w.shape[0]
    if channels % groups or filters % groups:
        raise ValueError(f"groups {groups} must divide both the input channels {channels} "
                         f"and the filters {filters}")
    if w.shape[1] * groups != channels:
        raise ValueError(
            f"the input has {channels} channels but the kernel expects "
            f"{w.shape[1]} channels × {groups} group{'s' if groups > 1 else ''} = "
            f"{w.shape[1] * groups}: a filter's depth must equal its group's input channels")


def _columns(x: np.ndarray, g: Geometry, groups: int) -> np.ndarray:
    """im2col: (N, groups, C/groups·kh·kw, out_h·out_w), one copy of the windows."""
    n, c = x.shape[:2]
    view = windows(pad(x, g), g)  # (N, C, oh, ow, kh, kw)
    view = view.transpose(0, 1, 4, 5, 2, 3)  # (N, C, kh, kw, oh, ow)
    return view.reshape(n, groups, (c // groups) * g.kernel[0] * g.kernel[1],
                        g.out[0] * g.out[1])


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """2-D cross-correlation, as deep learning's 'convolution': y[n, f, i, j] =
    Σ_c Σ_u Σ_v x_pad[n, c, i·s + u·d, j·s + v·d] · w[f, c, u, v] + b[f].

    x (N, C, H, W), w (F, C/groups, kh, kw), b (F,) or None. ``groups`` splits channels and
    filters into groups that see only each other (groups = C is depthwise convolution).
    """
    x, w = _float(x), _float(w)
    _check_conv_shapes(x, w, groups)
    g = geometry(x.shape[2:], w.shape[2:], stride, padding, dilation)
    cols = _columns(x, g, groups)
    kernels = w.reshape(groups, w.shape[0] // groups, -1)  # (groups, F/groups, K)
    y = np.matmul(kernels, cols).reshape(x.shape[0], w.shape[0], *g.out)
    if b is not None:
        y += np.asarray(b).reshape(1, -1, 1, 1)
    return y


def conv2d_backward(dy, x, w, stride=1, padding=0, dilation=1, groups=1):
    """Gradients of ``conv2d`` given the upstream gradient dy (N, F, out_h, out_w): returns
    (dx, dw, db) shaped like x, w and the bias."""
    dy, x, w = _float(dy), _float(x), _float(w)
    _check_conv_shapes(x, w, groups)
    g = geometry(x.shape[2:], w.shape[2:], stride, padding, dilation)
    n, filters = dy.shape[:2]
    if dy.shape != (n, w.shape[0], *g.out) or n != x.shape[0]:
        raise ValueError(f"dy has shape {dy.shape}, but conv2d's output here has shape "
                         f"{(x.shape[0], w.shape[0], *g.out)}")
    dy_cols = dy.reshape(n, groups, filters // groups, -1)  # (N, groups, F/groups, P)
    cols = _columns(x, g, groups)  # (N, groups, K, P)
    dw = np.matmul(dy_cols, cols.transpose(0, 1, 3, 2)).sum(axis=0).reshape(w.shape)
    kernels = w.reshape(groups, filters // groups, -1)
    dcols = np.matmul(kernels.transpose(0, 2, 1), dy_cols)  # (N, groups, K, P)
    dcols = dcols.reshape(n, x.shape[1], *g.kernel, *g.out)
    padded_shape = (n, x.shape[1], x.shape[2] + sum(g.pad[0]), x.shape[3] + sum(g.pad[1]))
    dx = _unpad(_scatter_windows(dcols, padded_shape, g), g, x.shape[2:])
    return dx, dw, dy.sum(axis=(0, 2, 3))


def pool_geometry(in_hw, size, stride=None, padding=0) -> Geometry:
    """``geometry`` for pooling: the stride defaults to the window size, and padding may be
    at most half the window (as in PyTorch), so no window is mostly padding."""
    size = _positive_pair(size, "pool size")
    g = geometry(in_hw, size, size if stride is None else stride, padding)
    for (before, after), k in zip(g.pad, size):
        if max(before, after) > k // 2:
            raise ValueError(f"padding {max(before, after)} is more than half the pooling "
                             f"window {k} (at most ⌊{k}/2⌋ = {k // 2}): a window would see "
                             f"mostly padding")
    return g


def _window_max(padded: np.ndarray, g: Geometry) -> np.ndarray:
    """Each window's maximum as the element-wise maximum of the kernel's tap grids: k²
    contiguous comparisons, several times faster than reducing the strided windows."""
    best = None
    for _, _, (rows, cols) in _tap_slices(g):
        tap = padded[..., rows, cols]
        best = tap.copy() if best is None else np.maximum(best, tap, out=best)
    return best


def max_pool2d(x, size, stride=None, padding=0) -> np.ndarray:
    """Largest value in each size×size window (stride defaults to ``size``); padding is −∞,
    so it is never chosen. Works on (..., H, W)."""
    x = _float(x)
    g = pool_geometry(x.shape[-2:], size, stride, padding)
    return _window_max(pad(x, g, -np.inf), g)


def max_pool2d_backward(dy, x, size, stride=None, padding=0) -> np.ndarray:
    """Gradient of ``max_pool2d``: each window's gradient goes to its maximum (the first one,
    in reading order, on a tie — as PyTorch does); overlapping windows add up."""
    dy, x = _float(dy), _float(x)
    g = pool_geometry(x.shape[-2:], size, stride, padding)
    padded = pad(x, g, -np.inf)
    best = _window_max(padded, g)
    grad = np.zeros(padded.shape, dtype=dy.dtype)
    unclaimed = np.ones(best.shape, dtype=bool)  # windows whose maximum is not found yet
    for _, _, (rows, cols) in _tap_slices(g):
        hit = unclaimed & (padded[..., rows, cols] == best)
        grad[..., rows, cols] += np.where(hit, dy, 0)
        unclaimed &= ~hit
    return _unpad(grad, g, x.shape[-2:])


def _avg_divisor(x: np.ndarray, g: Geometry, count_include_pad: bool):
    if count_include_pad:
        return g.kernel[0] * g.kernel[1]
    real = pad(np.ones(x.shape[-2:]), g)
    return windows(real, g).sum(axis=(-2, -1))  # (oh, ow): real pixels in each window


def avg_pool2d(x, size, stride=None, padding=0, count_include_pad=True) -> np.ndarray:
    """Mean of each size×size window (stride defaults to ``size``). Padding counts as zeros
    in the mean unless ``count_include_pad`` is False (PyTorch's default is True)."""
    x = _float(x)
    g = pool_geometry(x.shape[-2:], size, stride, padding)
    total = windows(pad(x, g), g).sum(axis=(-2, -1))
    return total / _avg_divisor(x, g, count_include_pad)


def avg_pool2d_backward(dy, x, size, stride=None, padding=0, count_include_pad=True):
    """Gradient of ``avg_pool2d``: each window's gradient, divided by its divisor, is shared
    equally by the pixels it averaged."""
    dy, x = _float(dy), _float(x)
    g = pool_geometry(x.shape[-2:], size, stride, padding)
    share = dy / _avg_divisor(x, g, count_include_pad)
    spread = np.broadcast_to(share[..., None, None, :, :], (*share.shape[:-2], *g.kernel, *g.out))
    padded_shape = (*x.shape[:-2], x.shape[-2] + sum(g.pad[0]), x.shape[-1] + sum(g.pad[1]))
    return _unpad(_scatter_windows(spread, padded_shape, g), g, x.shape[-2:])


def global_avg_pool2d(x) -> np.ndarray:
    """Global average pooling: (N, C, H, W) → (N, C), the mean of each feature map."""
    return np.asarray(x).mean(axis=(-2, -1))


def global_avg_pool2d_backward(dy, x) -> np.ndarray:
    """Gradient of ``global_avg_pool2d``: each pixel gets 1/(H·W) of its map's gradient."""
    x = np.asarray(x)
    h, w = x.shape[-2:]
    return np.broadcast_to(np.asarray(dy)[..., None, None] / (h * w), x.shape).copy()
