"""Names a student can read for module paths such as ``_blocks.5._depthwise_conv`` or
``layer2.1.conv2``: "stage 3 · block 2 · depthwise conv 5×5" and "stage 2 · block 2 ·
conv 2 (3×3)".

EfficientNet-Lite0 gets its stage and block numbers from the architecture table (stages 1 to
7 are the seven MBConv rows of ``efficientnet_lite.STAGES``; the 3×3 convolution before them is
the stem, the 1×1 convolution after them the head). torchvision's models are named by a few
rules that cover its families: ``layerN`` is ResNet's stage N; ``features.i`` is the stem (i = 0),
a stage (a plain Sequential of blocks), a block, or the head (the last entry); wrapper
attributes (``features``, ``block``, ``conv`` holding a Sequential) are dropped; inside a plain
stack of layers (VGG, AlexNet, a block's conv-norm-activation units) convolutions are counted,
so each layer reads as "conv 7 (3×3)" or "ReLU after conv 7".
"""

import re
from collections import Counter

from torch import nn

from cnnviz.efficientnet_lite import STAGES

SEP = " · "
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid,
               nn.LeakyReLU, nn.Tanh)
WRAPPERS = {"features", "block", "conv", "layers"}  # containers whose name adds nothing
# Name stems torchvision uses, before a number: "layer3", "bn2", "maxpool1", "inception4a".
STEM_WORDS = {"layer": "stage", "bn": "batch norm", "conv": "conv", "maxpool": "max pool",
              "branch": "branch", "inception": "inception"}
LITE0_PARTS = {"_expand_conv": "expand conv", "_depthwise_conv": "depthwise conv",
               "_project_conv": "project conv", "_bn0": "batch norm after expand",
               "_bn1": "batch norm after depthwise", "_bn2": "batch norm after project"}


def titles(model_name: str, model: nn.Module, names) -> dict[str, str]:
    """A readable, unique title for each module name in ``names``."""
    namer = _lite0_title if model_name == "efficientnet_lite0" else _torchvision_title
    result = {name: namer(model, name) for name in names}
    seen = Counter(result.values())
    return {name: f"{title} ({name})" if seen[title] > 1 else title
            for name, title in result.items()}


def describe(module: nn.Module) -> str:
    """What a single layer does, in words: "depthwise conv 5×5, stride 2", "batch norm"."""
    if isinstance(module, nn.Conv2d):
        return f"{'depthwise ' if _is_depthwise(module) else ''}conv {_kernel(module)}"
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
    if not _is_leaf(module):
        return "output"
    return _words(type(module).__name__)


def conv_detail(conv: nn.Conv2d) -> str:
    """Kernel, stride and grouping of a convolution: "3×3, stride 2", "depthwise 5×5"."""
    return f"{'depthwise ' if _is_depthwise(conv) else ''}{_kernel(conv)}"


def _kernel(conv: nn.Conv2d) -> str:
    kh, kw = conv.kernel_size
    return f"{kh}×{kw}" + (f", stride {conv.stride[0]}" if conv.stride[0] > 1 else "")


def _is_depthwise(conv: nn.Conv2d) -> bool:
    return conv.groups > 1 and conv.groups == conv.in_channels


def _words(identifier: str) -> str:
    """'SqueezeExcitation' -> 'squeeze excitation', 'stochastic_depth' -> 'stochastic depth'."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", identifier).replace("_", " ").lower()


def _lite0_title(model: nn.Module, name: str) -> str:
    parts = name.split(".")
    module = model.get_submodule(name)
    if parts[0] == "_blocks" and len(parts) > 1:
        stage, block = _lite0_stage_block(int(parts[1]))
        where = [f"stage {stage}", f"block {block}"]
        if len(parts) == 2:
            return SEP.join(where + ["output"])
        leaf = LITE0_PARTS.get(parts[2], describe(module))
        if isinstance(module, nn.Conv2d):
            leaf = f"{leaf} {_kernel(module)}"
        return SEP.join(where + [leaf])
    if name == "_blocks":
        return SEP.join(["all blocks", "output"])
    place = "stem" if name in ("_conv_stem", "_bn0") else "head"
    return SEP.join([place, describe(module)])


def _lite0_stage_block(index: int) -> tuple[int, int]:
    """Stage (1–7) and block within it (1-based) of ``_blocks.index``."""
    first = 0
    for stage, (repeats, *_rest) in enumerate(STAGES, start=1):
        if index < first + repeats:
            return stage, index - first + 1
        first += repeats
    raise ValueError(f"EfficientNet-Lite0 has {first} blocks; there is no block {index}.")


def _torchvision_title(model: nn.Module, name: str) -> str:
    parts = name.split(".")
    words, parent = [], model
    for depth, part in enumerate(parts):
        module = parent.get_submodule(part)
        is_leaf = _is_leaf(module)
        if _is_unit(parent) and words and words[-1].startswith("conv "):
            # Inside a unit named by its convolution: the conv is already named.
            if module is not _unit_conv(parent):
                words.append(describe(module))
        elif part.isdigit():
            words.append(_index_word(parts[:depth], int(part), module, parent))
        elif part in WRAPPERS and not is_leaf and depth < len(parts) - 1:
            pass
        else:
            words.append(_part_word(part, module, is_leaf))
        parent = module
    if not _is_leaf(parent):
        words.append("output")
    return SEP.join(words)


def _part_word(part: str, module: nn.Module, is_leaf: bool) -> str:
    """An attribute name in words: "layer3" -> "stage 3", "conv2" -> "conv 2 (3×3)"."""
    if part == "downsample":
        return "shortcut"
    match = re.fullmatch(r"([a-z]+?)(\d+[a-z]?)", part)
    if match and match[1] in STEM_WORDS:
        word = f"{STEM_WORDS[match[1]]} {match[2]}"
        conv = module if isinstance(module, nn.Conv2d) else _unit_conv(module)
        return word + (f" ({conv_detail(conv)})" if match[1] == "conv" and conv else "")
    return describe(module) if is_leaf else _words(part)


def _index_word(path: list[str], index: int, module: nn.Module, parent: nn.Module) -> str:
    """An entry of a Sequential in words: stem, stage, block, downsample, head, or a layer
    counted in its stack."""
    siblings = list(parent.children())
    if path == ["features"] and not _is_leaf(module):
        stages = sum(_is_stage(s) for s in siblings[:index + 1])
        if index == 0:
            return "stem"
        if _is_stage(module):
            return f"stage {stages}"
        if not _is_unit(module):
            return f"block {index}"
        return "head" if index == len(siblings) - 1 else f"downsample to stage {stages + 1}"
    if _is_leaf(module) or _is_unit(module):
        return _counted(siblings, index)
    if all(type(s) is type(module) for s in siblings):
        return f"block {index + 1}"
    return _words(type(module).__name__)


def _is_leaf(module: nn.Module) -> bool:
    return next(module.children(), None) is None


def _is_stage(module: nn.Module) -> bool:
    """A plain Sequential whose entries are blocks (modules with children of their own)."""
    return type(module) is nn.Sequential and not any(map(_is_leaf, module.children()))


def _unit_conv(module: nn.Module) -> nn.Conv2d | None:
    """The convolution of a unit: a container of plain layers with exactly one convolution
    (conv → norm → activation, GoogLeNet's BasicConv2d, ResNet's shortcut); else None."""
    children = list(module.children())
    convs = [c for c in children if isinstance(c, nn.Conv2d)]
    if children and len(convs) == 1 and all(map(_is_leaf, children)):
        return convs[0]
    return None


def _is_unit(module: nn.Module) -> bool:
    return _unit_conv(module) is not None


def _counted(siblings: list[nn.Module], index: int) -> str:
    """A layer in a stack named by the convolutions before it: "conv 2 (3×3)", "ReLU after
    conv 2", "max pool 1"; a unit by its convolution."""
    module = siblings[index]
    convs = [s for s in siblings[:index + 1] if _first_conv(s) is not None]
    if _first_conv(module) is not None:
        return f"conv {len(convs)} ({conv_detail(_first_conv(module))})"
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        pools = [s for s in siblings[:index + 1] if type(s) is type(module)]
        return f"{describe(module).split(' pool')[0]} pool {len(pools)}"
    return f"{describe(module)} after conv {len(convs)}" if convs else describe(module)


def _first_conv(module: nn.Module) -> nn.Conv2d | None:
    """``module`` itself when it is a convolution, the convolution of a unit, else None."""
    return module if isinstance(module, nn.Conv2d) else _unit_conv(module)
