"""Names a student can read for module paths such as ``_blocks.5._depthwise_conv`` or
``layer2.1.conv2``: "stage 3 · block 2 · depthwise conv 5×5" and "stage 2 · block 2 ·
conv 2 (3×3)".

EfficientNet-Lite0 gets its stage and block numbers from the architecture table (stages 1 to
7 are the seven MBConv rows of ``cnnviz.models.efficientnet_lite.STAGES``; the 3×3
convolution before them is the stem, the 1×1 convolution after them the head). torchvision's
models are named by a few rules that cover its families: ``layerN`` is ResNet's stage N;
``features.i`` is the stem (i = 0), a stage (a plain Sequential of blocks), a block, or the
head (the last entry); wrapper attributes (``features``, ``block``, ``conv`` holding a
Sequential) are dropped; inside a plain stack of layers (VGG, AlexNet, a block's conv-norm-activation units) convolutions are counted,
so each layer reads as "conv 7 (3×3)" or "ReLU after conv 7".
"""

import re
from collections import Counter

from torch import nn

from cnnviz.models.efficientnet_lite import STAGES
from cnnviz.models.words import (
    conv_detail,
    identifier_words,
    is_leaf,
    kernel_text,
    module_words,
)

SEP = " · "
WRAPPERS = {"features", "block", "conv", "layers"}  # containers whose name adds nothing
# Name stems torchvision uses, before a number: "layer3", "bn2", "maxpool1", "inception4a".
STEM_WORDS = {"layer": "stage", "bn": "batch norm", "conv": "conv", "maxpool": "max pool",
              "branch": "branch", "inception": "inception"}
LITE0_PARTS = {"_expand_conv": "expand conv", "_depthwise_conv": "depthwise conv",
               "_project_conv": "project conv", "_bn0": "batch norm after expand",
               "_bn1": "batch norm after depthwise", "_bn2": "batch norm after project"}


def title_parts(model_name: str, model: nn.Module, name: str) -> list[str]:
    """The words of one module's title, from the outside in: ["stage 3", "block 2",
    "depthwise conv 5×5"]; the first says where in the network the module sits."""
    namer = _lite0_parts if model_name == "efficientnet_lite0" else _torchvision_parts
    return namer(model, name)


def titles(model_name: str, model: nn.Module, names) -> dict[str, str]:
    """A readable, unique title for each module name in ``names``."""
    result = {name: SEP.join(title_parts(model_name, model, name)) for name in names}
    seen = Counter(result.values())
    return {name: f"{title} ({name})" if seen[title] > 1 else title
            for name, title in result.items()}


def _lite0_parts(model: nn.Module, name: str) -> list[str]:
    parts = name.split(".")
    module = model.get_submodule(name)
    if parts[0] == "_blocks" and len(parts) > 1:
        stage, block = _lite0_stage_block(int(parts[1]))
        where = [f"stage {stage}", f"block {block}"]
        if len(parts) == 2:
            return where + ["output"]
        leaf = LITE0_PARTS.get(parts[2], module_words(module))
        if isinstance(module, nn.Conv2d):
            leaf = f"{leaf} {kernel_text(module)}"
        return where + [leaf]
    if name == "_blocks":
        return ["all blocks", "output"]
    place = "stem" if name in ("_conv_stem", "_bn0", "_stem_act") else "head"
    return [place, module_words(module)]


def _lite0_stage_block(index: int) -> tuple[int, int]:
    """Stage (1–7) and block within it (1-based) of ``_blocks.index``."""
    first = 0
    for stage, (repeats, *_rest) in enumerate(STAGES, start=1):
        if index < first + repeats:
            return stage, index - first + 1
        first += repeats
    raise ValueError(f"EfficientNet-Lite0 has {first} blocks; there is no block {index}.")


def _torchvision_parts(model: nn.Module, name: str) -> list[str]:
    parts = name.split(".")
    words, parent = [], model
    for depth, part in enumerate(parts):
        module = parent.get_submodule(part)
        leaf = is_leaf(module)
        if _is_unit(parent) and words and words[-1].startswith("conv "):
            # Inside a unit named by its convolution: the conv is already named.
            if module is not _unit_conv(parent):
                words.append(module_words(module))
        elif part.isdigit():
            words.append(_index_word(parts[:depth], int(part), module, parent))
        elif part in WRAPPERS and not leaf and depth < len(parts) - 1:
            pass
        else:
            words.append(_part_word(part, module, leaf))
        parent = module
    if not is_leaf(parent):
        words.append("output")
    return words


def _part_word(part: str, module: nn.Module, leaf: bool) -> str:
    """An attribute name in words: "layer3" -> "stage 3", "conv2" -> "conv 2 (3×3)"."""
    if part == "downsample":
        return "shortcut"
    match = re.fullmatch(r"([a-z]+?)(\d+[a-z]?)", part)
    if match and match[1] in STEM_WORDS:
        word = f"{STEM_WORDS[match[1]]} {match[2]}"
        conv = module if isinstance(module, nn.Conv2d) else _unit_conv(module)
        return word + (f" ({conv_detail(conv)})" if match[1] == "conv" and conv else "")
    return module_words(module) if leaf else identifier_words(part)


def _index_word(path: list[str], index: int, module: nn.Module, parent: nn.Module) -> str:
    """An entry of a Sequential in words: stem, stage, block, downsample, head, or a layer
    counted in its stack."""
    siblings = list(parent.children())
    if path == ["features"] and not is_leaf(module):
        stages = sum(_is_stage(s) for s in siblings[:index + 1])
        if index == 0:
            return "stem"
        if _is_stage(module):
            return f"stage {stages}"
        if not _is_unit(module):
            return f"block {index}"
        return "head" if index == len(siblings) - 1 else f"downsample to stage {stages + 1}"
    if is_leaf(module) or _is_unit(module):
        return _counted(siblings, index)
    if all(type(s) is type(module) for s in siblings):
        return f"block {index + 1}"
    return identifier_words(type(module).__name__)



def _is_stage(module: nn.Module) -> bool:
    """A plain Sequential whose entries are blocks (modules with children of their own)."""
    return type(module) is nn.Sequential and not any(map(is_leaf, module.children()))


def _unit_conv(module: nn.Module) -> nn.Conv2d | None:
    """The convolution of a unit: a container of plain layers with exactly one convolution
    (conv → norm → activation, GoogLeNet's BasicConv2d, ResNet's shortcut); else None."""
    children = list(module.children())
    convs = [c for c in children if isinstance(c, nn.Conv2d)]
    if children and len(convs) == 1 and all(map(is_leaf, children)):
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
        return f"{module_words(module).split(' pool')[0]} pool {len(pools)}"
    return f"{module_words(module)} after conv {len(convs)}" if convs else module_words(module)


def _first_conv(module: nn.Module) -> nn.Conv2d | None:
    """``module`` itself when it is a convolution, the convolution of a unit, else None."""
    return module if isinstance(module, nn.Conv2d) else _unit_conv(module)
