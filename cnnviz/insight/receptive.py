"""The receptive field of every feature layer of a real network, by the chapter's recurrence
(``arithmetic.receptive_step``: r_k = r_{k−1} + (f − 1)·j_{k−1}, j_k = j_{k−1}·s), followed
through the network as it runs rather than typed in as a stack.

One forward pass under a ``TorchFunctionMode`` sees every convolution, pooling and padding
call with its real kernel, stride, dilation and padding, and gives each tensor a field:
where the window of its first position starts in the input, how wide it is, and how far apart
neighbouring positions are. Element-wise operations (a residual sum, a concatenation, an
activation) take the union of their inputs' fields. A global pooling's result has no
position; multiplying a map by it (squeeze-and-excitation) is not counted, so the field is the
local one that a convolution path sees.
"""

from dataclasses import dataclass

import torch
from PIL import Image
from torch.overrides import TorchFunctionMode

from cnnviz import activations, arithmetic
from cnnviz.models import ModelBundle
from cnnviz.models.memo import per_bundle


@dataclass(frozen=True)
class Axis:
    size: int  # receptive field r, in input pixels
    jump: int  # input pixels between neighbouring positions
    start: int  # input pixel where position 0's window starts (negative: in the padding)

    def window(self, position: int) -> tuple[int, int]:
        """[first, last + 1) input pixels that ``position`` sees, unclipped."""
        first = self.start + position * self.jump
        return first, first + self.size


INPUT = Axis(1, 1, 0)
GLOBAL = None  # a tensor without positions (global pooling)


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[-1]))


def _strided(axes, kernel, stride, padding, dilation):
    """The fields after a sliding window (convolution or pooling) along (rows, columns)."""
    result = []
    for axis, f, s, p, d in zip(axes, _pair(kernel), _pair(stride), padding, _pair(dilation)):
        size, jump = arithmetic.receptive_step(axis.size, axis.jump, f, s, d)
        result.append(Axis(size, jump, axis.start - p * axis.jump))
    return tuple(result)


def _union(fields):
    fields = [f for f in fields if f is not GLOBAL]
    if not fields:
        return GLOBAL
    merged = []
    for axes in zip(*fields):
        start = min(a.start for a in axes)
        end = max(a.start + a.size for a in axes)
        merged.append(Axis(end - start, max(a.jump for a in axes), start))
    return tuple(merged)


def _argument(args, kwargs, index, name, default):
    return args[index] if len(args) > index else kwargs.get(name, default)


class _Tracer(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.fields: dict[int, tuple] = {}  # id(tensor) -> its field (rows, columns)
        self.alive: list[torch.Tensor] = []  # holds the tensors so that ids stay unique

    def field(self, tensor):
        return self.fields.get(id(tensor), "unknown")

    def set(self, tensor, field):
        self.fields[id(tensor)] = field
        self.alive.append(tensor)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        first = args[0] if args else None
        known = [self.field(t) for t in _tensors(args, kwargs) if id(t) in self.fields]
        if not known:
            return out
        source = self.field(first) if isinstance(first, torch.Tensor) else "unknown"
        field = self._through(name, source, first, args, kwargs) if source not in (
            "unknown", GLOBAL) else "unknown"
        if field == "unknown":
            field = _union(known)
        for tensor in (out if isinstance(out, (tuple, list)) else (out,)):
            if isinstance(tensor, torch.Tensor):
                self.set(tensor, field)
        return out

    def _through(self, name, source, first, args, kwargs):
        """The field of a sliding window's or padding's output, or "unknown"."""
        if name == "conv2d":
            weight = _argument(args, kwargs, 1, "weight", None)
            stride = _argument(args, kwargs, 3, "stride", 1)
            padding = _argument(args, kwargs, 4, "padding", 0)
            dilation = _argument(args, kwargs, 5, "dilation", 1)
            kernel = tuple(weight.shape[-2:])
            if isinstance(padding, str):  # torch's "same" (stride 1): the odd pixel after
                padding = [0, 0] if padding == "valid" else [
                    (_pair(dilation)[k] * (kernel[k] - 1)) // 2 for k in (0, 1)]
            return _strided(source, kernel, stride, _pair(padding), dilation)
        if name in ("max_pool2d", "avg_pool2d", "max_pool2d_with_indices"):
            kernel = _argument(args, kwargs, 1, "kernel_size", None)
            stride = _argument(args, kwargs, 2, "stride", None) or kernel
            padding = _argument(args, kwargs, 3, "padding", 0)
            dilation = _argument(args, kwargs, 4, "dilation", 1) if "max" in name else 1
            return _strided(source, kernel, stride, _pair(padding), dilation)
        if name == "pad":
            left, _, top, _ = (list(_argument(args, kwargs, 1, "pad", ())) + [0] * 4)[:4]
            rows, cols = source
            return (Axis(rows.size, rows.jump, rows.start - top * rows.jump),
                    Axis(cols.size, cols.jump, cols.start - left * cols.jump))
        if name.startswith("adaptive_"):
            size = _argument(args, kwargs, 1, "output_size", None)
            return source if tuple(first.shape[-2:]) == _pair(size) else GLOBAL
        if name in ("interpolate", "upsample", "grid_sample"):
            return GLOBAL
        return "unknown"


def _tensors(args, kwargs):
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, (tuple, list)):
            yield from (v for v in value if isinstance(v, torch.Tensor))


@per_bundle
def receptive_fields(bundle: ModelBundle) -> dict[str, tuple[Axis, Axis] | None]:
    """(rows, columns) field of every layer of ``activations.layer_names(bundle)``, None for
    a layer without one (after a global pooling or an interpolation)."""
    modules = dict(bundle.model.named_modules())
    tracer, found = _Tracer(), {}

    def record(name):
        def hook(module, args, output):
            field = tracer.field(output)
            found[name] = None if field in ("unknown", GLOBAL) else field
        return hook

    grey = bundle.batch(Image.new("RGB", (256, 256), (128, 128, 128)))
    names = activations.layer_names(bundle)
    with bundle.lock, torch.inference_mode():
        handles = [modules[name].register_forward_hook(activations.this_thread_only(record(name)))
                   for name in names]
        try:
            with tracer:
                tracer.set(grey, (INPUT, INPUT))
                bundle.model(grey)
        finally:
            for handle in handles:
                handle.remove()
    return {name: found.get(name) for name in names}
