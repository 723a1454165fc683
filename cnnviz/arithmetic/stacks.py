"""Tracing a stack of layers by hand, as the chapter asks a student to: shape, parameters,
multiply-accumulates and receptive field after every layer, and a clear sentence at the first
layer that cannot apply (the chapter's "BrokenCNN" bug).

A stack is an input shape (C, H, W) and a list of ``LayerSpec``; ``trace`` walks it and
``footprint`` finds the pixels one output depends on. ``presets`` holds the chapter's
networks, ``export`` writes a stack as PyTorch code, ``layers_from_rows`` reads a stack back
from the rows of the page's editable table.
"""

from dataclasses import asdict, dataclass, fields

from cnnviz.arithmetic import formulas
from cnnviz.formatting import shape_text

KINDS = {
    "conv": "Conv",
    "dwconv": "Depthwise conv",
    "maxpool": "Max pool",
    "avgpool": "Avg pool",
    "gap": "Global avg pool",
    "batchnorm": "BatchNorm",
    "relu": "ReLU",
    "tanh": "Tanh",
    "dropout": "Dropout",
    "flatten": "Flatten",
    "linear": "Linear",
}
CONVS = ("conv", "dwconv")
POOLS = ("maxpool", "avgpool")
ELEMENTWISE = ("relu", "tanh", "dropout")


@dataclass(frozen=True)
class LayerSpec:
    """One layer, described by the numbers PyTorch code states.

    ``out`` is the output channels of a convolution (a depthwise one defaults to its input
    channels) or the features of a linear layer; ``f``, ``s``, ``p``, ``d`` are kernel (pool)
    size, stride, padding and dilation; ``s=None`` takes PyTorch's default (1 for a
    convolution, the pool size for pooling). ``n_in`` is the input size the code declares
    (``in_channels`` / ``in_features``): left as None it is taken from the incoming shape;
    when given, a mismatch is an error, as it is in PyTorch.
    """

    kind: str
    out: int | None = None
    f: int = 1
    s: int | None = None
    p: int | str = 0
    d: int = 1
    bias: bool = True
    n_in: int | None = None
    rate: float = 0.5

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown layer kind {self.kind!r}; use one of {', '.join(KINDS)}")

    @property
    def stride(self) -> int:
        if self.s is not None:
            return self.s
        return self.f if self.kind in POOLS else 1

    def label(self) -> str:
        """A short name such as "Conv 3×3, 64, stride 2, pad 1"."""
        name = KINDS[self.kind]
        if self.kind in CONVS + POOLS:
            parts = [f"{name} {self.f}×{self.f}"]
            if self.kind in CONVS and self.out is not None:
                parts.append(str(self.out))
            if self.stride != (self.f if self.kind in POOLS else 1):
                parts.append(f"stride {self.stride}")
            if self.p not in (0, "valid"):
                parts.append(f"pad {self.p}")
            if self.d != 1:
                parts.append(f"dilation {self.d}")
            if self.kind in CONVS and not self.bias:
                parts.append("no bias")
            return ", ".join(parts)
        if self.kind == "linear" and self.out is not None:
            inputs = "" if self.n_in is None else f"{self.n_in} "
            return f"{name} {inputs}→ {self.out}"
        if self.kind == "dropout":
            return f"{name} {self.rate:g}"
        return name

    def to_dict(self) -> dict:
        """The fields that differ from the defaults: a compact form for URLs and tables."""
        defaults = LayerSpec(self.kind)
        return {k: v for k, v in asdict(self).items() if k == "kind" or v != getattr(defaults, k)}

    @classmethod
    def from_dict(cls, data: dict) -> "LayerSpec":
        """The inverse of ``to_dict``; ``ValueError`` on unknown fields or kinds."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown or "kind" not in data:
            raise ValueError(f"a layer needs 'kind' and takes only {sorted(names)}, got "
                             f"{sorted(data)}")
        return cls(**data)


class StackError(ValueError):
    """The first layer of a stack that cannot apply to what it receives."""

    def __init__(self, index: int, layer: LayerSpec, reason: str):
        self.index, self.layer, self.reason = index, layer, reason
        super().__init__(f"Layer {index} ({layer.label()}): {reason}")


@dataclass(frozen=True)
class StackRow:
    """What one layer does. ``rf`` and ``jump`` (input pixels) are None once every output
    sees the whole input; ``pads`` is ((top, bottom), (left, right)) for layers that slide a
    window, None for the others."""

    index: int  # 1-based position in the stack
    layer: LayerSpec
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    params: int
    macs: int
    rf: int | None
    jump: int | None
    pads: tuple[tuple[int, int], tuple[int, int]] | None = None


@dataclass(frozen=True)
class StackTrace:
    """The walk through a stack: one row per layer that applied, and the error that stopped
    it, if any."""

    input_shape: tuple[int, int, int]
    rows: tuple[StackRow, ...]
    error: StackError | None

    @property
    def params(self) -> int:
        return sum(row.params for row in self.rows)

    @property
    def macs(self) -> int:
        return sum(row.macs for row in self.rows)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.rows[-1].out_shape if self.rows else self.input_shape


def _check_declared(layer: LayerSpec, received: int, what: str, detail: str = "") -> str | None:
    if layer.n_in is not None and layer.n_in != received:
        return (f"{KINDS[layer.kind]} expects {layer.n_in} {what} but receives "
                f"{received}{detail}")
    return None


def _window(layer: LayerSpec, shape, rf, jump):
    """Output shape, padding, receptive field and jump of a layer that slides a window."""
    _, h, w = shape
    f, s, d = layer.f, layer.stride, layer.d
    if layer.kind in POOLS:
        if layer.kind == "avgpool" and d != 1:
            raise ValueError(f"average pooling has no dilation (got {d})")
        if isinstance(layer.p, str) and layer.p != "valid":
            raise ValueError(f"pooling takes a number of pixels for padding, not {layer.p!r}")
        if 2 * formulas.padding_amounts(h, f, layer.p, s, d)[0] > f:
            raise ValueError(f"pooling padding {layer.p} is more than half the pool size {f} "
                             f"(PyTorch refuses: the window would see only padding)")
    sizes, pads = [], []
    for axis, n in (("height", h), ("width", w)):
        try:
            work = formulas.size_work(n, f, layer.p, s, d)
        except ValueError as error:
            raise ValueError(f"{error} ({axis})") from None
        sizes.append(work.out)
        pads.append((work.before, work.after))
    if rf is not None:
        rf, jump = formulas.receptive_step(rf, jump, f, s, d)
    return sizes, tuple(pads), rf, jump


def _apply(layer: LayerSpec, shape, rf, jump, flat_from):
    """(out_shape, params, macs, rf, jump, pads) of one layer; ValueError with the reason."""
    kind = layer.kind
    spatial = len(shape) == 3
    if kind in ELEMENTWISE:
        return shape, 0, 0, rf, jump, None
    if kind == "linear":
        if spatial:
            raise ValueError(f"Linear needs a flat input but receives {shape_text(shape)}: "
                             f"add a Flatten layer before it")
        if layer.out is None:
            raise ValueError("a linear layer needs its number of output features")
        detail = f" = {shape_text(flat_from)}" if flat_from else ""
        if problem := _check_declared(layer, shape[0], "inputs", detail):
            raise ValueError(problem)
        return ((layer.out,), formulas.linear_params(shape[0], layer.out, layer.bias),
                formulas.linear_macs(shape[0], layer.out), None, None, None)
    if kind == "batchnorm":
        if problem := _check_declared(layer, shape[0], "channels" if spatial else "features"):
            raise ValueError(problem)
        return shape, 2 * shape[0], 0, rf, jump, None  # a scale and a shift per channel
    if kind == "flatten":
        return (shape if not spatial else (shape[0] * shape[1] * shape[2],)), 0, 0, None, None, None
    if not spatial:
        raise ValueError(f"{KINDS[kind]} needs a (C, H, W) input but receives the flat "
                         f"{shape_text(shape)}")
    c = shape[0]
    if kind == "gap":
        return (c, 1, 1), 0, 0, None, None, None
    if problem := _check_declared(layer, c, "input channels"):
        raise ValueError(problem)
    (h_out, w_out), pads, rf, jump = _window(layer, shape, rf, jump)
    if kind in POOLS:
        return (c, h_out, w_out), 0, 0, rf, jump, pads
    groups = c if kind == "dwconv" else 1
    c_out = layer.out if layer.out is not None or kind == "conv" else c
    if c_out is None:
        raise ValueError("a convolution needs its number of output channels")
    if kind == "dwconv" and c_out % c:
        raise ValueError(f"a depthwise convolution's output channels ({c_out}) must be a "
                         f"multiple of its input channels ({c})")
    params = formulas.conv_params(c, c_out, layer.f, layer.bias, groups)
    macs = formulas.conv_macs(c, c_out, layer.f, h_out, w_out, groups)
    return (c_out, h_out, w_out), params, macs, rf, jump, pads


def trace(input_shape, layers) -> StackTrace:
    """Walk ``layers`` from ``input_shape`` (C, H, W); stop at the first layer that cannot
    apply and keep its ``StackError`` (the rows before it stay valid)."""
    if len(input_shape) != 3 or any(not isinstance(n, int) or n < 1 for n in input_shape):
        raise ValueError(f"the input shape must be three positive integers (C, H, W), "
                         f"got {input_shape!r}")
    shape, rf, jump, flat_from = tuple(input_shape), 1, 1, None
    rows = []
    for index, layer in enumerate(layers, start=1):
        try:
            out, params, macs, rf, jump, pads = _apply(layer, shape, rf, jump, flat_from)
        except ValueError as error:
            return StackTrace(tuple(input_shape), tuple(rows),
                              StackError(index, layer, str(error)))
        if layer.kind == "flatten" and len(shape) == 3:
            flat_from = shape
        elif len(out) == 3 or layer.kind == "linear":
            flat_from = None
        rows.append(StackRow(index, layer, shape, out, params, macs, rf, jump, pads))
        shape = out
    return StackTrace(tuple(input_shape), tuple(rows), None)


# The columns of the page's editable table, one row per layer; a cell is None where the
# column does not apply to the layer's kind.
TABLE_COLUMNS = ("layer", "out", "kernel", "stride", "padding", "dilation", "bias", "in",
                 "dropout")
_NUMBER_COLUMNS = (("out", "out"), ("kernel", "f"), ("stride", "s"), ("dilation", "d"),
                   ("in", "n_in"))
_KIND_OF = {label: kind for kind, label in KINDS.items()}


def layer_rows(layers) -> list[dict]:
    """The stack as table rows (keys ``TABLE_COLUMNS``, the kind by its label), with the
    stride a layer actually uses where the code leaves it out (a pool's is its size), so no
    cell that matters is blank."""
    rows = []
    for layer in layers:
        windowed = layer.kind in CONVS + POOLS
        rows.append({
            "layer": KINDS[layer.kind],
            "out": layer.out,
            "kernel": layer.f if windowed else None,
            "stride": layer.stride if windowed else None,
            "padding": str(layer.p) if windowed else None,
            "dilation": layer.d if windowed else None,
            "bias": layer.bias if layer.kind in CONVS + ("linear",) else None,
            "in": layer.n_in,
            "dropout": layer.rate if layer.kind == "dropout" else None,
        })
    return rows


def layers_from_rows(rows) -> list[LayerSpec]:
    """Table rows back into layers: rows without a kind are skipped, a cell that cannot be
    read raises ``ValueError`` naming its row (1-based)."""
    layers = []
    for number, row in enumerate(rows, start=1):
        if row.get("layer") is None:
            continue
        if row["layer"] not in _KIND_OF:
            raise ValueError(f"row {number}: unknown layer {row['layer']!r}")
        spec = {"kind": _KIND_OF[row["layer"]]}
        for column, name in _NUMBER_COLUMNS:
            if row.get(column) is not None:
                spec[name] = int(row[column])
        padding = str(row.get("padding") or "").strip()
        if padding:
            try:
                spec["p"] = formulas.parse_padding(padding)
            except ValueError as error:
                raise ValueError(f"row {number}: {error}") from None
        if row.get("bias") is not None:
            spec["bias"] = bool(row["bias"])
        if row.get("dropout") is not None:
            spec["rate"] = float(row["dropout"])
        layers.append(LayerSpec(**spec))
    return layers


Footprint = tuple[tuple[int, ...], tuple[int, ...]]  # the rows and the columns it covers


def footprint(result: StackTrace, index: int, row: int, col: int) -> list[Footprint | None]:
    """The positions of each feature map that output (row, col) of layer ``index`` (1-based)
    depends on, from the input (first) to that layer's output (last).

    Kernels are square and slide the same way along both axes, so the positions are all
    (r, c) with r in the rows and c in the columns; strides larger than the kernel and
    dilation leave gaps, padding is not counted. None where every window lies wholly in
    padding. Only for layers whose outputs still have a position (before any flatten or
    global pooling).
    """
    target = result.rows[index - 1]
    if target.rf is None or len(target.out_shape) != 3:
        raise ValueError(f"layer {index} ({target.layer.label()}) has no spatial positions: "
                         f"each of its outputs sees the whole input")
    _, h, w = target.out_shape
    if not (0 <= row < h and 0 <= col < w):
        raise ValueError(f"position ({row}, {col}) is outside layer {index}'s {h}×{w} output")
    seen: Footprint | None = ((row,), (col,))
    maps = [seen]
    for current in reversed(result.rows[:index]):
        if seen is not None and current.pads is not None:
            (top, _), (left, _) = current.pads
            _, h_in, w_in = current.in_shape
            rows = _reads(seen[0], current.layer, top, h_in)
            cols = _reads(seen[1], current.layer, left, w_in)
            seen = (rows, cols) if rows and cols else None
        maps.append(seen)
    return maps[::-1]


def _reads(positions, layer: LayerSpec, before: int, size: int) -> tuple[int, ...]:
    """Input positions along one axis that the windows at output ``positions`` read."""
    taps = {x for o in positions
            for x in formulas.window_taps(o, layer.f, layer.stride, layer.d, before)}
    return tuple(sorted(x for x in taps if 0 <= x < size))
