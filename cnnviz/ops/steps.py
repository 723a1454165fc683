"""Step traces for the animation: for every output cell, where its window lies in the padded
input and how its value comes about (the products, the per-channel sums, the bias), and the
sum written out with the real numbers, as a student would write it on paper."""

from dataclasses import dataclass

import numpy as np

from cnnviz.arithmetic import window_taps
from cnnviz.formatting import MINUS, fmt_number
from cnnviz.ops import engine

POOLING_KINDS = ("max", "average")


@dataclass(frozen=True)
class Step:
    """One output cell of a trace."""

    cell: tuple[int, int]  # (row, col) in the output
    rows: np.ndarray  # the padded-input rows under the window, (kh,)
    cols: np.ndarray  # the padded-input columns under the window, (kw,)
    values: np.ndarray  # the input under the window, (C, kh, kw)
    products: np.ndarray | None  # values · kernel, (C, kh, kw); None for pooling
    channel_sums: np.ndarray | None  # Σ of each channel's products, (C,); None for pooling
    bias: float
    result: float
    chosen: tuple[int, int] | None  # max pooling: the maximum's place in the window


@dataclass(frozen=True)
class StepTrace:
    """Everything needed to replay an op one output cell at a time (row by row)."""

    op: str  # "convolution", "max pooling" or "average pooling"
    padded: np.ndarray  # (C, Hp, Wp), padding included (−∞ for max pooling)
    is_padding: np.ndarray  # (Hp, Wp), True where a pixel is padding
    kernel: np.ndarray | None  # (C, kh, kw); None for pooling
    bias: float
    output: np.ndarray  # (out_h, out_w), computed by the vectorised op
    geometry: engine.Geometry

    def __len__(self) -> int:
        return self.output.size

    def step(self, index: int) -> Step:
        """The ``index``-th output cell, counting row by row from 0."""
        if not 0 <= index < len(self):
            raise IndexError(f"step {index} is outside 0 … {len(self) - 1}")
        g = self.geometry
        i, j = divmod(index, g.out[1])
        rows = np.array(window_taps(i, g.kernel[0], g.stride[0], g.dilation[0]))
        cols = np.array(window_taps(j, g.kernel[1], g.stride[1], g.dilation[1]))
        values = self.padded[:, rows[:, None], cols[None, :]]
        if self.kernel is not None:
            products = values * self.kernel
            sums = products.sum(axis=(1, 2))
            return Step((i, j), rows, cols, values, products, sums, self.bias,
                        float(sums.sum() + self.bias), None)
        chosen = None
        if self.op == "max pooling":
            chosen = np.unravel_index(int(values[0].argmax()), values.shape[1:])
            chosen = (int(chosen[0]), int(chosen[1]))
        return Step((i, j), rows, cols, values, None, None, 0.0, float(self.output[i, j]),
                    chosen)


def _padding_mask(shape_hw, g: engine.Geometry) -> np.ndarray:
    return engine.pad(np.zeros(shape_hw, dtype=bool), g, True)


def conv_trace(x, kernel, bias: float = 0.0, stride=1, padding=0, dilation=1) -> StepTrace:
    """Trace one filter over x: x (C, H, W) or (H, W), kernel of the same number of channels."""
    x = np.asarray(x, dtype=float)
    x = x[None] if x.ndim == 2 else x
    kernel = np.asarray(kernel, dtype=float)
    kernel = kernel[None] if kernel.ndim == 2 else kernel
    output = engine.conv2d(x[None], kernel[None], np.array([bias]), stride, padding, dilation)
    g = engine.geometry(x.shape[1:], kernel.shape[1:], stride, padding, dilation)
    return StepTrace("convolution", engine.pad(x, g), _padding_mask(x.shape[1:], g), kernel,
                     float(bias), output[0, 0], g)


def pool_trace(x, size, kind: str = "max", stride=None, padding=0) -> StepTrace:
    """Trace max or average pooling of one map x (H, W) (padding counted as zeros in a mean,
    as PyTorch does by default)."""
    if kind not in POOLING_KINDS:
        raise ValueError(f"pooling kind must be one of {POOLING_KINDS}, got {kind!r}")
    x = np.asarray(x, dtype=float)
    pool = engine.max_pool2d if kind == "max" else engine.avg_pool2d
    output = pool(x, size, stride, padding)
    g = engine.pool_geometry(x.shape, size, stride, padding)
    fill = -np.inf if kind == "max" else 0.0
    return StepTrace(f"{kind} pooling", engine.pad(x, g, fill)[None], _padding_mask(x.shape, g),
                     None, 0.0, output, g)


def _plain(x: float) -> str:
    return "−∞" if x == -np.inf else fmt_number(x)


def _factor(x: float) -> str:
    """A number as a factor in a product: negatives in brackets, 1·(−1) not 1·−1."""
    text = _plain(x)
    return f"({text})" if text.startswith(MINUS) else text


def _terms(values, weights) -> str:
    return " + ".join(f"{_factor(v)}·{_factor(w)}" for v, w in zip(values.ravel(), weights.ravel()))


def channel_names(channels: int) -> list[str]:
    return ["R", "G", "B"] if channels == 3 else [f"channel {c + 1}" for c in range(channels)]


def written_sum(trace: StepTrace, step: Step) -> list[str]:
    """The arithmetic of one step as lines of text with the real numbers, e.g.
    '1·1 + 2·0 + 3·(−1) + … = −2'; one line per channel and a total for several channels."""
    result = fmt_number(step.result)
    if trace.kernel is None:
        values = ", ".join(_plain(v) for v in step.values.ravel())
        if trace.op == "max pooling":
            return [f"max({values}) = {result}"]
        terms = " + ".join(_factor(v) for v in step.values.ravel())
        return [f"({terms}) / {step.values.size} = {result}"]
    bias = f" + {_factor(step.bias)}" if step.bias else ""
    if len(step.values) == 1:
        return [f"{_terms(step.values, trace.kernel)}{bias} = {result}"]
    lines = [f"{name}: {_terms(v, k)} = {fmt_number(s)}" for name, v, k, s in
             zip(channel_names(len(step.values)), step.values, trace.kernel, step.channel_sums)]
    total = " + ".join(_factor(s) for s in step.channel_sums)
    return lines + [f"total: {total}{bias} = {result}"]
