"""A layer stack written out as the PyTorch ``nn.Sequential`` a student would type, with the
traced output shape of every layer as a comment."""

from cnnviz.arithmetic import formulas
from cnnviz.arithmetic.stacks import CONVS, POOLS, LayerSpec, trace
from cnnviz.formatting import shape_text


def _args(*positional, **keywords) -> str:
    shown = [str(v) for v in positional]
    shown += [f"{k}={v!r}" for k, v in keywords.items() if v is not None]
    return ", ".join(shown)


def _padding(layer: LayerSpec, shape) -> tuple[str | None, int | tuple | None]:
    """(a ZeroPad2d line or None, the ``padding=`` argument) reproducing the layer's padding
    on an input of ``shape``.

    TensorFlow-style "same" padding puts the odd pixel at the bottom / right, which
    ``nn.Conv2d``'s single number per axis cannot say, so it becomes an explicit ZeroPad2d.
    """
    (top, bottom), (left, right) = (
        formulas.padding_amounts(n, layer.f, layer.p, layer.stride, layer.d) for n in shape[1:])
    if top != bottom or left != right:
        return f"nn.ZeroPad2d({(left, right, top, bottom)})", None
    if top == left:
        return None, top or None
    return None, (top, left)


def _modules(layer: LayerSpec, shape) -> list[str]:
    """The nn module(s) for one layer receiving ``shape``; declared input sizes win, so the
    code keeps a student's mistake."""
    kind = layer.kind
    size = shape[0] if layer.n_in is None else layer.n_in
    if kind in CONVS:
        pad_line, padding = _padding(layer, shape)
        conv = "nn.Conv2d(" + _args(
            size, size if layer.out is None else layer.out, kernel_size=layer.f,
            stride=layer.s if layer.stride != 1 else None, padding=padding,
            dilation=layer.d if layer.d != 1 else None,
            groups=size if kind == "dwconv" else None,
            bias=None if layer.bias else False) + ")"
        return [pad_line, conv] if pad_line else [conv]
    if kind in POOLS:
        name = "nn.MaxPool2d" if kind == "maxpool" else "nn.AvgPool2d"
        return [f"{name}(" + _args(
            kernel_size=layer.f, stride=layer.s if layer.stride != layer.f else None,
            padding=_padding(layer, shape)[1], dilation=layer.d if layer.d != 1 else None) + ")"]
    if kind == "linear":
        return ["nn.Linear(" + _args(size, layer.out, bias=None if layer.bias else False) + ")"]
    if kind == "batchnorm":
        return [f"nn.BatchNorm{2 if len(shape) == 3 else 1}d({size})"]
    return [{"gap": "nn.AdaptiveAvgPool2d(1)", "relu": "nn.ReLU()", "tanh": "nn.Tanh()",
             "dropout": f"nn.Dropout({layer.rate:g})", "flatten": "nn.Flatten()"}[kind]]


def _lines(layer: LayerSpec, shape, comment: str) -> list[str]:
    modules = _modules(layer, shape)
    return [f"    {m}," for m in modules[:-1]] + [f"    {modules[-1]},  # {comment}"]


def to_pytorch(input_shape, layers) -> str:
    """Python source defining ``model = nn.Sequential(...)`` for the stack.

    A stack whose last layer fails (the chapter's BrokenCNN) is written as declared, so
    running the code reproduces PyTorch's own complaint; a layer after a failing one cannot
    be written (its input is unknown) and raises ``ValueError``.
    """
    result = trace(input_shape, layers)
    body = []
    for row in result.rows:
        body += _lines(row.layer, row.in_shape, shape_text(row.out_shape))
    if result.error is not None:
        if result.error.index < len(layers):
            raise ValueError(f"cannot write layer {result.error.index + 1}: the error at layer "
                             f"{result.error.index} leaves its input unknown")
        try:
            body += _lines(result.error.layer, result.out_shape, f"✗ {result.error.reason}")
        except ValueError:
            raise ValueError(f"cannot write {result.error}") from None
    return "\n".join([
        "import torch.nn as nn",
        "",
        f"# input: {shape_text(input_shape)} (channels × height × width)",
        "model = nn.Sequential(",
        *body,
        ")",
        "",
    ])
