"""The key building block of each architecture, read from the instantiated model: a small
diagram (nodes and edges) and the chapter's parameter arithmetic, worked out with the block's
own channel counts.

Every formula is built from a layer's weight shape, and its value is that layer's real
parameter count, so a diagram can never show a number the model does not have. The result is
plain data (JSON-ready dicts) for the precomputed table and the figure.
"""

from torch import nn
from torchvision.models import (
    VGG,
    AlexNet,
    ConvNeXt,
    EfficientNet,
    GoogLeNet,
    MobileNetV2,
    MobileNetV3,
    ResNet,
)
from torchvision.models.resnet import BasicBlock

from cnnviz.models.efficientnet_lite import EfficientNetLite
from cnnviz.models.lenet5 import (
    TUTORIAL_PARAMETERS,
    EuclideanRBF,
    LeNet5,
    PartialConv2d,
    Subsampling,
)
from cnnviz.models.words import conv_words

WEIGHTED = (nn.Conv2d, nn.Linear, Subsampling, PartialConv2d, EuclideanRBF)


def _n(x: int) -> str:
    return f"{x:,}"


def term(what: str, formula: str, value: int, module: str = "") -> dict:
    """One line of arithmetic: what is counted, the formula, its value (and the layer's name
    in the model, when it is one layer)."""
    return {"what": what, "formula": formula, "value": int(value), "module": module}


def _versus(ours: dict, alternative: dict) -> dict:
    ratio = alternative["value"] / ours["value"]
    if ratio >= 2:
        saving = f"{ratio:.{0 if ratio >= 10 else 1}f}× fewer weights"
    else:
        saving = f"{(1 - 1 / ratio) * 100:.0f} % fewer weights"
    return {"ours": ours, "alternative": alternative, "saving": saving}


def _conv_formula(conv: nn.Conv2d) -> str:
    out, in_per_group, kh, kw = conv.weight.shape
    text = f"{kh}·{kw}·{in_per_group}·{out}"
    return f"{text} + {out}" if conv.bias is not None else text


def weight_line(module: nn.Module) -> tuple[str, str, str]:
    """(label, channels, formula) of one layer with weights."""
    if isinstance(module, nn.Conv2d):
        return (conv_words(module), f"{module.in_channels}→{module.out_channels}",
                _conv_formula(module))
    if isinstance(module, nn.Linear):
        formula = f"{module.in_features}·{module.out_features}"
        if module.bias is not None:
            formula += f" + {module.out_features}"
        return "fully connected", f"{module.in_features}→{module.out_features}", formula
    if isinstance(module, Subsampling):
        c = module.weight.numel()
        return "2×2 subsampling (a coefficient and a bias per map)", f"{c}→{c}", f"{c}·(1 + 1)"
    if isinstance(module, PartialConv2d):
        parts = [f"{conv.out_channels}·({fan_in}·{conv.kernel_size[0]}·{conv.kernel_size[1]} + 1)"
                 for fan_in, conv in zip(module.fan_ins, module.groups)]
        maps = sum(conv.out_channels for conv in module.groups)
        return "conv 5×5, partial table", f"6→{maps}", " + ".join(parts)
    if isinstance(module, EuclideanRBF):
        classes, features = module.centres.shape
        return "RBF output, fixed centres", f"{features}→{classes}", "0"
    raise TypeError(f"no description for {type(module).__name__}")


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _weighted_layers(model: nn.Module, path: str = "") -> list[tuple[str, nn.Module]]:
    """The layers with weights under ``path``, in definition order, with their full names; not
    descending into one (C3's grouped convolutions belong to C3)."""
    block = model.get_submodule(path)
    found: list[tuple[str, nn.Module]] = []
    for name, module in block.named_modules():
        if isinstance(module, WEIGHTED) and not any(name.startswith(f"{p}.") for p, _ in found):
            found.append((name, module))
    return [(f"{path}.{name}" if path else name, module) for name, module in found]


def _in_se(model: nn.Module, name: str) -> bool:
    return "SqueezeExcitation" in type(model.get_submodule(name.rpartition(".")[0])).__name__


def _chain(model: nn.Module, layers: list[tuple[str, nn.Module]], title: str, residual: bool,
           *, input_label: str, caption: str, module: str) -> dict:
    """A block whose layers with weights run one after another, optionally with a shortcut
    from its input to a final addition; squeeze-and-excitation layers sit in a side column,
    and their gate multiplies the main path."""
    nodes = [{"id": "input", "label": "input", "detail": input_label, "params": 0, "row": 0,
              "col": 0}]
    edges, arithmetic = [], []
    last_main = "input"
    for row, (name, layer) in enumerate(layers, start=1):
        label, channels, formula = weight_line(layer)
        in_se = _in_se(model, name)
        if in_se:
            label = "SE " + ("squeeze" if layer.out_channels < layer.in_channels else "excite")
        nodes.append({"id": name, "label": label, "detail": channels, "params": _params(layer),
                      "row": row, "col": 1 if in_se else 0})
        edges.append([nodes[-2]["id"], name])
        if not in_se:
            if nodes[-2]["col"] == 1:  # back from the gate, which multiplies the main path
                edges.append([last_main, name])
            last_main = name
        arithmetic.append(term(f"{label}, {channels}", formula, _params(layer), name))
    if residual:
        nodes.append({"id": "add", "label": "+", "detail": "add the input", "params": 0,
                      "row": len(layers) + 1, "col": 0})
        edges += [[last_main, "add"], ["input", "add"]]
    return {"title": title, "module": module, "caption": caption, "nodes": nodes,
            "edges": edges, "arithmetic": arithmetic,
            "total": sum(t["value"] for t in arithmetic), "compare": []}


def _lenet(model: LeNet5) -> dict:
    block = _chain(model, _weighted_layers(model), "LeNet-5, layer by layer", False,
                   input_label="1×32×32 image", module="(whole network)",
                   caption="Every layer up to F6 is followed by the scaled tanh "
                           "1.7159·tanh(2a/3).")
    c3 = model.C3
    full = term("C3 connected to all 6 S2 maps", "16·(6·5·5 + 1)", 16 * (6 * 25 + 1))
    ours = term("C3 with the paper's table", weight_line(c3)[2], _params(c3))
    block["compare"].append(_versus(ours, full))
    extra_c3 = full["value"] - ours["value"]
    subsampling = _params(model.S2) + _params(model.S4)
    linear_out = (model.F6.out_features + 1) * 10
    block["compare"].append({
        "ours": term("this LeNet-5", "sum of the layers above", block["total"]),
        "alternative": term("the common PyTorch LeNet-5",
                            f"{_n(block['total'])} + {extra_c3} (full C3) − {subsampling} "
                            f"(pooling) + {linear_out} (trainable 84→10 output)",
                            block["total"] + extra_c3 - subsampling + linear_out),
        "saving": f"the tutorial version has {TUTORIAL_PARAMETERS:,}"})
    return block


def _alexnet(model: AlexNet) -> dict:
    block = _chain(model, _weighted_layers(model), "AlexNet, layer by layer", False,
                   input_label="3×224×224 image", module="(whole network)",
                   caption="Each layer is followed by ReLU; max pooling after conv 1, 2 and 5; "
                           "dropout before the first two fully connected layers.")
    fc = sum(_params(m) for m in model.classifier if isinstance(m, nn.Linear))
    block["compare"].append({
        "ours": term("fully connected layers", "classifier", fc),
        "alternative": term("whole network", "all layers", block["total"]),
        "saving": f"{fc / block['total'] * 100:.0f} % of the weights are in the fully "
                  f"connected layers"})
    return block


def _vgg(model: VGG) -> dict:
    """The third stage: three 3×3 convolutions before a max pool."""
    pools = [i for i, m in enumerate(model.features) if isinstance(m, nn.MaxPool2d)]
    layers = [(f"features.{i}", model.features[i]) for i in range(pools[1] + 1, pools[2])
              if isinstance(model.features[i], nn.Conv2d)]
    block = _chain(model, layers, "VGG stage: a stack of 3×3 convolutions", False,
                   input_label=f"{layers[0][1].in_channels} channels",
                   module=f"features.{pools[1] + 1}–{pools[2]}",
                   caption="Each 3×3 convolution is followed by ReLU; the stage ends with a "
                           "2×2 max pool.")
    c = layers[-1][1].out_channels
    for n, k in ((2, 5), (3, 7)):
        block["compare"].append(_versus(
            term(f"{n} stacked 3×3 on {c} channels (receptive field {k}×{k})",
                 f"{n}·3·3·{c}·{c}", n * 9 * c * c),
            term(f"one {k}×{k} on {c} channels", f"{k}·{k}·{c}·{c}", k * k * c * c)))
    return block


def _inception(model: GoogLeNet) -> dict:
    module = model.inception3a
    branches = [module.branch1, module.branch2, module.branch3, module.branch4]
    c_in = module.branch1.conv.in_channels
    nodes = [{"id": "input", "label": "input", "detail": f"{c_in} channels", "params": 0,
              "row": 0, "col": 1.5}]
    edges, arithmetic, outputs = [], [], []
    for col, (name, branch) in enumerate(zip(("branch1", "branch2", "branch3", "branch4"),
                                             branches)):
        previous = "input"
        steps = [(f"inception3a.{name}.{sub}", m) for sub, m in branch.named_modules()
                 if isinstance(m, (nn.Conv2d, nn.MaxPool2d))]
        for row, (module_name, step) in enumerate(steps, start=1):
            node_id = f"{name}.{row}"
            if isinstance(step, nn.MaxPool2d):
                nodes.append({"id": node_id, "label": "3×3 max pool", "detail": "stride 1",
                              "params": 0, "row": row, "col": col})
            else:
                label, channels, formula = weight_line(step)
                nodes.append({"id": node_id, "label": label, "detail": channels,
                              "params": _params(step), "row": row, "col": col})
                arithmetic.append(term(f"{label}, {channels}", formula, _params(step),
                                       module_name))
            edges.append([previous, node_id])
            previous = node_id
        outputs.append((previous, steps[-1][1]))
    c_out = sum(step.out_channels for _, step in outputs)
    nodes.append({"id": "concat", "label": "concatenate", "detail": f"{c_out} channels",
                  "params": 0, "row": 3, "col": 1.5})
    edges += [[node_id, "concat"] for node_id, _ in outputs]
    reduce, conv3 = [m for m in module.branch2.modules() if isinstance(m, nn.Conv2d)]
    mid, c3 = reduce.out_channels, conv3.out_channels
    five = [m for m in module.branch3.modules() if isinstance(m, nn.Conv2d)][1]
    five_in, five_out = five.in_channels, five.out_channels
    compare = [
        _versus(term(f"1×1 reduce to {mid}, then 3×3 to {c3}", f"{c_in}·{mid} + 3·3·{mid}·{c3}",
                     c_in * mid + 9 * mid * c3),
                term(f"3×3 straight from {c_in} to {c3}", f"3·3·{c_in}·{c3}", 9 * c_in * c3)),
        *_chapter_bottleneck(),
        {"ours": term("torchvision's '5×5' branch (a 3×3 kernel)",
                      f"3·3·{five_in}·{five_out}", 9 * five_in * five_out),
         "alternative": term("the paper's 5×5 kernel", f"5·5·{five_in}·{five_out}",
                             25 * five_in * five_out),
         "saving": "torchvision keeps this known difference (pytorch/vision issue 906)"},
    ]
    return {"title": "Inception module (3a)", "module": "inception3a",
            "caption": "Four branches see the same input at different scales; 1×1 "
                       "convolutions shrink the channels before the expensive ones. Every "
                       "convolution is followed by batch norm and ReLU (torchvision).",
            "nodes": nodes, "edges": edges, "arithmetic": arithmetic,
            "total": sum(t["value"] for t in arithmetic), "compare": compare}


def _chapter_bottleneck() -> list[dict]:
    """The chapter's 1×1 example, as it compares it and as a fair comparison. The chapter sets
    a 1×1 256→64 (16,448 weights) against a 3×3 256→256 (590,080), "36× fewer": layers with
    different outputs, and the 3×3 it saves still follows the 1×1. The fair pair gives both
    sides the same input and output: 1×1 256→64 then 3×3 64→256 against one 3×3 256→256."""
    reduce = term("1×1, 256→64, with bias", "(256 + 1)·64", 257 * 64)
    plain = term("3×3, 256→256, with bias", "(3·3·256 + 1)·256", (9 * 256 + 1) * 256)
    unfair = _versus(dict(reduce, what=f"the chapter's {reduce['what']}, alone"), plain)
    unfair["saving"] += (" in the chapter's comparison, which is unfair: the 1×1 outputs 64 "
                         "channels, the 3×3 256, and a 3×3 still follows the 1×1")
    fair = _versus(term("1×1, 256→64, then 3×3, 64→256, with biases",
                        "(256 + 1)·64 + (3·3·64 + 1)·256", 257 * 64 + (9 * 64 + 1) * 256),
                   plain)
    fair["saving"] += ": the fair comparison, same input and output on both sides"
    return [unfair, fair]


def _resnet(model: ResNet) -> dict:
    if isinstance(model.layer1[0], BasicBlock):
        block = _chain(model, _weighted_layers(model, "layer1.0"), "Residual basic block", True,
                       input_label=f"{model.layer1[0].conv1.in_channels} channels",
                       module="layer1.0",
                       caption="Conv → BN → ReLU → conv → BN, plus the input, then ReLU. The "
                               "identity shortcut has no parameters.")
        c = model.layer1[0].conv1.out_channels
        block["compare"].append({
            "ours": term("the identity shortcut", "0", 0),
            "alternative": term(f"two 3×3 on {c} channels", f"2·3·3·{c}·{c}", 2 * 9 * c * c),
            "saving": "the gradient highway costs no weights"})
        return block
    unit = model.layer1[1]  # layer1[0] has a projection shortcut; layer1[1] the identity
    c, mid = unit.conv1.in_channels, unit.conv1.out_channels
    block = _chain(model, _weighted_layers(model, "layer1.1"), "Residual bottleneck block",
                   True, input_label=f"{c} channels", module="layer1.1",
                   caption=f"1×1 reduces {c}→{mid}, 3×3 works on {mid}, 1×1 restores {c}; "
                           f"BN after each, ReLU after the first two and after the addition.")
    block["compare"].append(_versus(
        term(f"bottleneck {c}→{mid}→{c}", "sum of the three layers above", block["total"]),
        term(f"two 3×3 on {c} channels", f"2·3·3·{c}·{c}", 2 * 9 * c * c)))
    return block


def _depthwise_comparisons(depthwise: nn.Conv2d) -> list[dict]:
    k, c = depthwise.kernel_size[0], depthwise.in_channels
    return [
        _versus(term(f"{k}×{k} depthwise on {c} channels", f"{k}·{k}·{c}", k * k * c),
                term(f"a standard {k}×{k} conv, {c}→{c}", f"{k}·{k}·{c}·{c}", k * k * c * c)),
        _versus(term("the chapter's depthwise-separable 64→128", "3·3·64 + 64·128",
                     9 * 64 + 64 * 128),
                term("the chapter's standard 3×3, 64→128", "3·3·64·128", 9 * 64 * 128)),
    ]


def _first(model: nn.Module, wanted) -> tuple[str, nn.Module]:
    return next((n, m) for n, m in model.named_modules() if wanted(m))


def _inverted_residual(model: nn.Module) -> dict:
    """MobileNetV2/V3, EfficientNet and EfficientNet-Lite: the first block that expands and
    keeps its shape (so it has the shortcut)."""
    def wanted(m):
        has_se = any("SqueezeExcitation" in type(c).__name__ for c in m.modules())
        expands = any(isinstance(c, nn.Conv2d) and c.kernel_size == (1, 1)
                      and c.out_channels > c.in_channels for c in m.modules())
        shortcut = getattr(m, "use_res_connect", getattr(m, "use_shortcut", False))
        return shortcut and expands and (has_se or not isinstance(model, MobileNetV3))

    path, unit = _first(model, wanted)
    has_se = any("SqueezeExcitation" in type(c).__name__ for c in unit.modules())
    depthwise = next(m for m in unit.modules() if isinstance(m, nn.Conv2d) and m.groups > 1)
    c_in = next(m for m in unit.modules() if isinstance(m, nn.Conv2d)).in_channels
    title = "Inverted residual (MBConv)" + (" with squeeze-and-excitation" if has_se else "")
    block = _chain(model, _weighted_layers(model, path), title, True,
                   input_label=f"{c_in} channels", module=path,
                   caption="1×1 expands the channels, a depthwise convolution filters each "
                           "channel alone, a linear 1×1 projects back; the shortcut joins the "
                           "narrow ends." + (" Squeeze-and-excitation (Hu et al., 2018) "
                                             "gates each channel by a weight computed from "
                                             "the means of all channels, through two fully "
                                             "connected layers (1×1 convolutions here), so "
                                             "channels recalibrate one another."
                                             if has_se else ""))
    block["compare"] = _depthwise_comparisons(depthwise)
    return block


def _convnext(model: ConvNeXt) -> dict:
    unit = model.features[1][0]
    depthwise = unit.block[0]
    c = depthwise.in_channels
    block = _chain(model, _weighted_layers(model, "features.1.0"), "ConvNeXt block", True,
                   input_label=f"{c} channels", module="features.1.0",
                   caption="7×7 depthwise → LayerNorm → 1×1 (as Linear) expands 4× → GELU → 1×1 "
                           "back, scaled by a learned per-channel layer scale, plus the input.")
    for item in block["nodes"] + block["arithmetic"]:  # a Linear on channels-last is a 1×1 conv
        for key in ("label", "what"):
            if key in item:
                item[key] = item[key].replace("fully connected", "1×1 conv (as Linear)")
    block["arithmetic"].append(term("layer scale", f"{c}", unit.layer_scale.numel()))
    block["total"] += unit.layer_scale.numel()
    block["compare"] = [_versus(
        term(f"7×7 depthwise on {c} channels", f"7·7·{c}", 49 * c),
        term(f"a standard 7×7 conv, {c}→{c}", f"7·7·{c}·{c}", 49 * c * c))]
    return block


BUILDERS = (
    (LeNet5, _lenet), (AlexNet, _alexnet), (VGG, _vgg), (GoogLeNet, _inception),
    (ResNet, _resnet), (MobileNetV2, _inverted_residual), (MobileNetV3, _inverted_residual),
    (EfficientNet, _inverted_residual), (EfficientNetLite, _inverted_residual),
    (ConvNeXt, _convnext),
)


def key_block(model: nn.Module) -> dict | None:
    """The architecture's key building block, or None for a family without one here."""
    for cls, build in BUILDERS:
        if type(model) is cls:
            return build(model)
    return None
