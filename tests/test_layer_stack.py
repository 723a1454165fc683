"""The layer-stack tracer, its presets and its PyTorch export, against networks built in
PyTorch and torchvision."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnviz import arithmetic
from cnnviz.arithmetic import sliding
from cnnviz.arithmetic.export import to_pytorch
from cnnviz.arithmetic.presets import PRESETS
from cnnviz.arithmetic.stacks import LayerSpec, StackError, footprint, trace
from cnnviz.figures.stacks import (
    MAX_POSITIONS,
    footprint_animation,
    footprint_positions,
    growth_figure,
    stacked_kernels_figure,
)
from cnnviz.train.scratch.mnist_convnet import MNISTConvNet  # the chapter's network, as printed

META = torch.device("meta")  # shapes and parameter counts without allocating or initialising


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: thread start-up on 2 cores costs more than the work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def preset_trace(name: str):
    preset = PRESETS[name]
    return trace(preset.input_shape, preset.layers)


def exported(input_shape, layers) -> nn.Sequential:
    namespace = {}
    exec(to_pytorch(input_shape, layers), namespace)
    return namespace["model"]


# ---------------------------------------------------------------- presets against PyTorch


def test_cifar_example_matches_the_chapter_and_torch():
    """The chapter's Example 1: 1,792 + 73,856 + 81,930 = 157,578, output 8×8×128 before
    the classifier."""
    result = preset_trace("CIFAR-10 worked example")
    assert [row.params for row in result.rows if row.params] == [1_792, 73_856, 81_930]
    assert result.params == 157_578
    assert result.rows[5].out_shape == (128, 8, 8)
    model = nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(8 * 8 * 128, 10))
    assert count(model) == result.params
    assert model[:6](torch.zeros(1, 3, 32, 32)).shape[1:] == result.rows[5].out_shape


def test_mnist_convnet_matches_the_chapters_code():
    model = MNISTConvNet().eval()
    result = preset_trace("MNIST ConvNet")
    assert result.error is None
    assert result.params == count(model)
    features = model.features(torch.zeros(1, 1, 28, 28))
    assert features.shape[1:] == result.rows[11].out_shape == (128, 2, 2)


def test_vgg16_matches_torchvision():
    with META:
        model = torchvision.models.vgg16()
        features = model.features(torch.zeros(1, 3, 224, 224))
    result = preset_trace("VGG-16")
    assert count(model) == result.params == 138_357_544
    assert features.shape[1:] == (512, 7, 7)
    last_pool = [row for row in result.rows if row.layer.kind == "maxpool"][-1]
    assert last_pool.out_shape == (512, 7, 7)
    linears = [row.params for row in result.rows if row.layer.kind == "linear"]
    assert linears == [count(m) for m in model.classifier if isinstance(m, nn.Linear)]


def test_vgg16_macs_match_torch_flop_counter():
    with META:
        model = torchvision.models.vgg16()
        with FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, 3, 224, 224))
    assert arithmetic.flops(preset_trace("VGG-16").macs) == counter.get_total_flops()


def test_resnet50_stem_matches_torchvision():
    with META:
        resnet = torchvision.models.resnet50()
        stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool)
        out = stem(torch.zeros(1, 3, 224, 224))
    result = preset_trace("ResNet-50 stem")
    assert result.params == count(stem)
    assert result.out_shape == out.shape[1:] == (64, 56, 56)


def test_bottleneck_block_is_resnet50s_identity_block_as_its_note_says():
    """The blocks the note names take 256 channels and add an identity shortcut; the stage's
    first block, which the note sets apart, takes 64 and projects its shortcut."""
    preset = PRESETS["ResNet bottleneck block"]
    result = preset_trace("ResNet bottleneck block")
    with META:
        stage = torchvision.models.resnet50().layer1
        for i in (1, 2):
            assert f"layer1[{i}]" in preset.note
            block = stage[i]
            assert block.downsample is None and block.conv1.in_channels == 256
            out = block(torch.zeros(1, *preset.input_shape))
            assert result.params == count(block) == 70_400
            assert result.out_shape == out.shape[1:]
    first = stage[0]
    assert first.conv1.in_channels == 64 and isinstance(first.downsample[0], nn.Conv2d)
    assert "layer1[0]" in preset.note and "projection" in preset.note


def test_lenet5_matches_the_usual_pytorch_version():
    """Full C3 connections, average pooling and a linear output: 61,706 (the paper's exact
    layout has 60,000; the preset's note explains the difference)."""
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
        nn.AvgPool2d(2), nn.Conv2d(16, 120, 5), nn.Tanh(), nn.Flatten(), nn.Linear(120, 84),
        nn.Tanh(), nn.Linear(84, 10))
    result = preset_trace("LeNet-5 (1998 layout)")
    assert result.params == count(model) == 61_706
    assert model(torch.zeros(1, 1, 32, 32)).shape[1:] == result.out_shape
    assert "60,000" in PRESETS["LeNet-5 (1998 layout)"].note


class BrokenCNN(nn.Module):
    """The chapter's debugging exercise, as printed."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(16, 32, 5)
        self.fc1 = nn.Linear(32 * 5 * 5, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        return self.fc1(x.view(x.size(0), -1))


def test_broken_cnn_error_is_found_and_explained():
    with pytest.raises(RuntimeError, match="512 and 800"):
        BrokenCNN()(torch.zeros(1, 1, 28, 28))
    result = preset_trace("BrokenCNN")
    assert isinstance(result.error, StackError) and result.error.index == 8
    assert str(result.error) == ("Layer 8 (Linear 800 → 10): Linear expects 800 inputs but "
                                 "receives 512 = 32 × 4 × 4")
    assert result.out_shape == (512,)  # the rows before the error stay
    fixed = [*PRESETS["BrokenCNN"].layers[:-1], LayerSpec("linear", 10, n_in=32 * 4 * 4)]
    assert trace((1, 28, 28), fixed).error is None


def test_exported_broken_cnn_fails_in_torch_as_the_chapter_says():
    preset = PRESETS["BrokenCNN"]
    model = exported(preset.input_shape, preset.layers)
    assert count(model) == count(BrokenCNN())
    with pytest.raises(RuntimeError, match="512 and 800"):
        model(torch.zeros(1, *preset.input_shape))


@pytest.mark.parametrize("name", [n for n in PRESETS if n != "BrokenCNN"])
def test_every_preset_exports_to_equivalent_pytorch(name):
    preset = PRESETS[name]
    result = trace(preset.input_shape, preset.layers)
    with META:
        model = exported(preset.input_shape, preset.layers)
        out = model(torch.zeros(1, *preset.input_shape))
    assert count(model) == result.params
    assert out.shape[1:] == result.out_shape


# ---------------------------------------------------------------- random stacks


def random_stack(rng: np.random.Generator):
    """A random stack the tracer accepts, drawn a layer at a time from what fits."""
    c, size = int(rng.integers(1, 5)), int(rng.integers(8, 33))
    shape, layers = (c, size, size), []
    for _ in range(int(rng.integers(1, 9))):
        spatial = len(shape) == 3
        kind = str(rng.choice(["conv", "dwconv", "maxpool", "avgpool", "batchnorm", "relu",
                           "dropout", "gap", "flatten"] if spatial else
                          ["linear", "relu", "batchnorm", "dropout"]))
        f, d = int(rng.integers(1, 6)), int(rng.integers(1, 3))
        padding = rng.choice([0, 1, 2, "valid", "same", "full"])
        padding = int(padding) if str(padding).isdigit() else str(padding)
        layer = {
            "conv": LayerSpec("conv", int(rng.integers(1, 9)), f, int(rng.integers(1, 4)), padding,
                          d, bool(rng.integers(2))),
            "dwconv": LayerSpec("dwconv", shape[0] * int(rng.integers(1, 3)), f,
                            int(rng.integers(1, 3)), padding, d, bool(rng.integers(2))),
            "maxpool": LayerSpec("maxpool", f=f, p=int(rng.integers(0, f // 2 + 1)), d=d),
            "avgpool": LayerSpec("avgpool", f=f, s=int(rng.integers(1, 4)),
                             p=int(rng.integers(0, f // 2 + 1))),
            "linear": LayerSpec("linear", int(rng.integers(1, 40)), bias=bool(rng.integers(2))),
            "dropout": LayerSpec("dropout", rate=0.25),
        }.get(kind, LayerSpec(kind))
        attempt = trace((c, size, size), [*layers, layer])
        if attempt.error is None:
            layers.append(layer)
            shape = attempt.out_shape
    return (c, size, size), layers


def test_random_stacks_match_torch_layer_by_layer():
    """500 random stacks: the exported nn.Sequential, run on zeros, has every traced shape,
    parameter count and multiply-accumulate."""
    rng = np.random.default_rng(4)
    with FlopCounterMode(display=False) as counter:
        for _ in range(500):
            input_shape, layers = random_stack(rng)
            result = trace(input_shape, layers)
            assert result.error is None
            model = exported(input_shape, layers).eval()
            x = torch.zeros(1, *input_shape)
            modules = iter(model)
            for row in result.rows:
                params, flops = 0, counter.get_total_flops()
                while True:  # a layer is one module, or a ZeroPad2d and then its module
                    module = next(modules)
                    x, params = module(x), params + count(module)
                    if not isinstance(module, nn.ZeroPad2d):
                        break
                assert x.shape[1:] == row.out_shape, (input_shape, layers, row)
                assert params == row.params, row
                assert counter.get_total_flops() - flops == arithmetic.flops(row.macs), row


def test_receptive_fields_of_a_trace_follow_the_formula():
    result = preset_trace("VGG-16")
    windows = [(row.layer.f, row.layer.stride) for row in result.rows if row.pads is not None]
    expected = arithmetic.receptive_field(windows)
    assert [(row.rf, row.jump) for row in result.rows if row.pads is not None] == expected
    assert expected[-1] == (212, 32)  # VGG-16's last pool sees 212×212 input pixels


def test_footprint_matches_autograd():
    """Ones kernels and average pools: the input pixels with a non-zero gradient for one
    output are exactly the footprint's rows × columns (max pooling has the same windows)."""
    rng = np.random.default_rng(7)
    for _ in range(500):
        layers = []
        for _ in range(int(rng.integers(1, 5))):
            f, s, p, d = (int(v) for v in rng.integers([1, 1, 0, 1], [6, 3, 3, 3]))
            layers.append(LayerSpec("conv", 1, f, s, p, d, bias=False) if rng.integers(2) else
                          LayerSpec("avgpool", f=f, s=s, p=min(p, f // 2)))
        size = int(rng.integers(4, 40))
        result = trace((1, size, size), layers)
        if result.error is not None:
            continue
        x = torch.ones(1, 1, size, size, requires_grad=True)
        y = x
        for layer in layers:
            y = (F.conv2d(y, torch.ones(1, 1, layer.f, layer.f), stride=layer.stride,
                          padding=layer.p, dilation=layer.d) if layer.kind == "conv" else
                 F.avg_pool2d(y, layer.f, layer.stride, layer.p))
        _, h, w = result.out_shape
        i, j = int(rng.integers(h)), int(rng.integers(w))
        seen = footprint(result, len(layers), i, j)[0]
        grad = torch.autograd.grad(y[0, 0, i, j], x)[0][0, 0]
        expected = torch.zeros(size, size, dtype=torch.bool)
        if seen is not None:
            expected[np.ix_(seen[0], seen[1])] = True
        assert torch.equal(grad != 0, expected), (layers, size, i, j)


def test_footprint_of_the_cifar_example():
    """The last pool's output (3, 5): receptive field 10, jump 4, so input rows 3·4 − 3 = 9
    to 18 and columns 5·4 − 3 = 17 to 26."""
    result = preset_trace("CIFAR-10 worked example")
    seen = footprint(result, 6, 3, 5)
    assert seen[0] == (tuple(range(9, 19)), tuple(range(17, 27)))
    assert seen[-1] == ((3,), (5,))
    with pytest.raises(ValueError, match="no spatial positions"):
        footprint(result, 7, 0, 0)
    with pytest.raises(ValueError, match="outside layer 6's 8×8 output"):
        footprint(result, 6, 8, 0)


# ---------------------------------------------------------------- errors and round trips


@pytest.mark.parametrize("input_shape, layers, message, torch_model", [
    ((3, 4, 4), [LayerSpec("conv", 8, 5)],
     "Layer 1 (Conv 5×5, 8): a kernel of 5 does not fit in the padded input of 4 + 0 + 0 = 4 "
     "pixels (height)", nn.Conv2d(3, 8, 5)),
    ((3, 8, 8), [LayerSpec("conv", 8, 3, n_in=1)],
     "Layer 1 (Conv 3×3, 8): Conv expects 1 input channels but receives 3", nn.Conv2d(1, 8, 3)),
    ((3, 8, 8), [LayerSpec("batchnorm", n_in=4)],
     "Layer 1 (BatchNorm): BatchNorm expects 4 channels but receives 3", nn.BatchNorm2d(4)),
    ((3, 8, 8), [LayerSpec("maxpool", f=2, p=2)],
     "Layer 1 (Max pool 2×2, pad 2): pooling padding 2 is more than half the pool size 2",
     nn.MaxPool2d(2, padding=2)),
])
def test_errors_name_the_layer_and_the_numbers_where_torch_fails(input_shape, layers, message,
                                                                 torch_model):
    with pytest.raises((RuntimeError, ValueError)):
        torch_model.eval()(torch.zeros(1, *input_shape))
    assert str(trace(input_shape, layers).error).startswith(message)


@pytest.mark.parametrize("layers, message", [
    ([LayerSpec("linear", 10)], "Linear needs a flat input but receives 3 × 8 × 8: add a Flatten"),
    ([LayerSpec("flatten"), LayerSpec("conv", 4, 3)],
     "Conv needs a (C, H, W) input but receives the flat 192"),
    ([LayerSpec("dwconv", 4, 3)],
     "output channels (4) must be a multiple of its input channels (3)"),
    ([LayerSpec("avgpool", f=2, d=2)], "average pooling has no dilation"),
    ([LayerSpec("maxpool", f=3, p="same")], "pooling takes a number of pixels for padding"),
    ([LayerSpec("flatten"), LayerSpec("linear")],
     "a linear layer needs its number of output features"),
])
def test_stacks_pytorch_would_misread_are_refused(layers, message):
    assert message in str(trace((3, 8, 8), layers).error)


def test_layers_round_trip_through_dicts():
    for preset in PRESETS.values():
        for layer in preset.layers:
            assert LayerSpec.from_dict(layer.to_dict()) == layer
    assert LayerSpec("conv", 64, 3, p=1).to_dict() == {"kind": "conv", "out": 64, "f": 3, "p": 1}
    with pytest.raises(ValueError, match="unknown layer kind"):
        LayerSpec("attention")
    with pytest.raises(ValueError, match="takes only"):
        LayerSpec.from_dict({"kind": "conv", "heads": 8})


def test_same_padding_at_stride_2_exports_an_explicit_pad():
    """TensorFlow's "same" at stride 2 pads one more pixel at the bottom / right than at the
    top / left, which nn.Conv2d cannot say; the export writes a ZeroPad2d, and the windows
    then sit where sliding.conv_layout draws them."""
    layers = [LayerSpec("conv", 1, 3, 2, "same", bias=False)]
    code = to_pytorch((1, 8, 8), layers)
    assert "nn.ZeroPad2d((0, 1, 0, 1))" in code
    model = exported((1, 8, 8), layers)
    assert model(torch.zeros(1, 1, 8, 8)).shape[-1] == 4
    grid = sliding.conv_layout(8, 3, "same", 2)
    assert grid.cells.shape == (9, 9) and (grid.cells[-1] == sliding.PADDING).all()


def test_export_refuses_layers_after_an_error():
    with pytest.raises(ValueError, match="cannot write layer 2"):
        to_pytorch((3, 4, 4), [LayerSpec("conv", 8, 5), LayerSpec("relu")])


# ---------------------------------------------------------------- figures


def test_footprint_animation_fills_exactly_the_footprint():
    result = preset_trace("CIFAR-10 worked example")
    maps = [1, 3, 4, 6]  # the convolutions and pools
    positions = [(3, 5), (0, 0)]
    seen = [[part for k, part in enumerate(footprint(result, 6, *p)) if k in [0, *maps]]
            for p in positions]
    animation = footprint_animation(result, maps, seen, positions, ["", ""], start=1)

    def cells(mark):
        return {(r, c) for a, b in mark[2] for r in range(a, b + 1)
                for e, f in mark[3] for c in range(e, f + 1)}

    marks = animation.frames[0].marks
    assert [len(cells(m)) for m in marks] == [100, 64, 16, 4, 1]
    assert cells(marks[0]) == {(r, c) for r in range(9, 19) for c in range(17, 27)}
    assert [m[1] for m in marks] == ["area"] * 4 + ["target"]  # the output itself stands out
    assert cells(animation.frames[1].marks[-1]) == {(0, 0)} and animation.start == 1
    assert animation.grids[0].title == "input · 32 × 32"
    assert animation.frames[0].params == {"rf_row": 3, "rf_col": 5}


def test_footprint_positions_step_through_a_large_layer():
    every, step = footprint_positions(8, 8)
    assert step == 1 and every == [(r, c) for r in range(8) for c in range(8)]
    some, step = footprint_positions(224, 224)
    assert step == 7 and len(some) == 32 * 32 <= MAX_POSITIONS and some[1] == (0, 7)


def test_growth_figure_plots_the_traced_fields():
    result = preset_trace("ResNet-50 stem")
    fig = growth_figure(result)
    assert list(fig.data[0].y) == [7, 7, 7, 11] and list(fig.data[1].y) == [2, 2, 2, 4]


def test_stacked_kernels_figure_counts_weights_like_torch():
    """n stacked 3×3 convolutions against one (2n + 1)×(2n + 1), 16 channels, no bias."""
    fig = stacked_kernels_figure(16, depth=3)
    with META:
        stacked = [count(nn.Sequential(*(nn.Conv2d(16, 16, 3, bias=False) for _ in range(n))))
                   for n in (1, 2, 3)]
        single = [count(nn.Conv2d(16, 16, k, bias=False)) for k in (3, 5, 7)]
    assert list(fig.data[0].y) == stacked and list(fig.data[1].y) == single
    assert list(fig.data[0].text) == ["9C²", "18C²", "27C²"]
