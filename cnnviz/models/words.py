"""What a layer does, in words, one wording everywhere: the feature-map titles ("stage 3 ·
block 2 · depthwise conv 5×5"), the building-block diagrams and their arithmetic all describe
a convolution the same way."""

import re

from torch import nn

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid,
               nn.LeakyReLU, nn.Tanh)


def is_depthwise(conv: nn.Conv2d) -> bool:
    """One filter per input channel (groups = input channels > 1)."""
    return conv.groups > 1 and conv.groups == conv.in_channels


def kernel_text(conv: nn.Conv2d) -> str:
    """"3×3", "1×1, 4 groups", "5×5, stride 2": the kernel without the kind of convolution."""
    kh, kw = conv.kernel_size
    text = f"{kh}×{kw}"
    if conv.groups > 1 and not is_depthwise(conv):
        text += f", {conv.groups} groups"
    return text + (f", stride {conv.stride[0]}" if conv.stride[0] > 1 else "")


def conv_detail(conv: nn.Conv2d) -> str:
    """Kernel, grouping and stride of a convolution: "3×3, stride 2", "depthwise 5×5"."""
    return f"{'depthwise ' if is_depthwise(conv) else ''}{kernel_text(conv)}"


def conv_words(conv: nn.Conv2d) -> str:
    """A convolution named in full: "conv 3×3", "depthwise conv 5×5, stride 2"."""
    return f"{'depthwise ' if is_depthwise(conv) else ''}conv {kernel_text(conv)}"


def identifier_words(identifier: str) -> str:
    """'SqueezeExcitation' -> 'squeeze excitation', 'stochastic_depth' -> 'stochastic depth'."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", identifier).replace("_", " ").lower()


def is_leaf(module: nn.Module) -> bool:
    return next(module.children(), None) is None


def module_words(module: nn.Module) -> str:
    """What a single layer does: "depthwise conv 5×5, stride 2", "batch norm", "ReLU6"; a
    container is the "output" of what it holds."""
    if isinstance(module, nn.Conv2d):
        return conv_words(module)
    if isinstance(module, nn.BatchNorm2d):
        return "batch norm"
    if isinstance(module, nn.LayerNorm):
        return "layer norm"
    if isinstance(module, ACTIVATIONS):
        return type(module).__name__
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        kind = "max" if isinstance(module, nn.MaxPool2d) else "average"
        size = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
        return f"{kind} pool {size}×{size}"
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return "adaptive pool"
    if not is_leaf(module):
        return "output"
    return identifier_words(type(module).__name__)
