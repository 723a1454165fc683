"""The architecture comparison against independent references: torchvision's models and weight
metadata, torch's FLOP counter, autograd, and the papers' own numbers."""

import json

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import get_model, get_model_weights
from torchvision.ops import SqueezeExcitation

from cnnviz import architectures, models
from cnnviz.architectures import published, table
from cnnviz.architectures.profile import profile
from cnnviz.figures.architectures import (
    accuracy_vs_latency,
    accuracy_vs_macs,
    block_diagram,
)
from cnnviz.models.efficientnet_lite import efficientnet_lite0
from cnnviz.models.lenet5 import C3_TABLE, LeNet5
from cnnviz.models.registry import OWN_MODELS

TORCHVISION_MODELS = [n for n in architectures.DEFAULT_MODELS
                      if n not in OWN_MODELS]
# Built as their pretrained weights define them: GoogLeNet's weights drop the auxiliary heads.
AS_PRETRAINED = {"googlenet": dict(aux_logits=False, init_weights=False)}


@pytest.fixture(scope="module")
def fresh() -> dict[str, dict]:
    """Every chapter model measured once for this module (about half a minute)."""
    return {name: architectures.measure(name) for name in architectures.DEFAULT_MODELS}


@pytest.fixture(scope="module")  # freed after this module: VGG-16 alone holds 0.5 GB
def reference_models() -> dict[str, nn.Module]:
    """The same models built independently of cnnviz, straight from torchvision."""
    return {name: get_model(name, weights=None, **AS_PRETRAINED.get(name, {})).eval()
            for name in TORCHVISION_MODELS}


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---- LeNet-5 ------------------------------------------------------------------------------------

def test_lenet5_has_the_papers_60000_parameters_layer_by_layer():
    model = LeNet5()
    per_layer = {name: numel(child) for name, child in model.named_children() if numel(child)}
    # LeCun et al. (1998), section II-B
    assert per_layer == {"C1": 156, "S2": 12, "C3": 1516, "S4": 32, "C5": 48120, "F6": 10164}
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 60_000
    assert numel(model.output) == 0  # the RBF centres are fixed


def test_lenet5_c3_connects_exactly_the_maps_of_table_1():
    # Table I of the paper, transcribed as printed: row = S2 map, column = C3 map
    table_1 = ["X   XXX  XXXX XX",
               "XX   XXX  XXXX X",
               "XXX   XXX  X XXX",
               " XXX  XXXX  X XX",
               "  XXX  XXXX XX X",
               "   XXX  XXXX XXX"]
    expected = [{i for i in range(6) if table_1[i][j] == "X"} for j in range(16)]
    assert [set(inputs) for inputs in C3_TABLE] == expected
    c3 = LeNet5().C3
    for j in range(16):  # autograd: which input maps does output map j depend on?
        x = torch.randn(1, 6, 14, 14, requires_grad=True)
        c3(x)[0, j].sum().backward()
        reached = {i for i in range(6) if x.grad[0, i].abs().sum() > 0}
        assert reached == expected[j], j


def test_the_tutorial_lenet5_has_61706_parameters_as_the_block_arithmetic_says(fresh):
    tutorial = nn.Sequential(  # the common PyTorch version: full C3, pooling, linear output
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84),
        nn.Tanh(), nn.Linear(84, 10))
    assert numel(tutorial) == 61_706
    block = fresh["lenet5"]["block"]
    assert block["compare"][-1]["alternative"]["value"] == numel(tutorial)
    assert block["compare"][0]["alternative"]["value"] == numel(nn.Conv2d(6, 16, 5))


def test_lenet5_subsampling_is_the_papers_sum_times_a_coefficient_plus_a_bias():
    s2 = LeNet5().S2
    with torch.no_grad():
        s2.weight.copy_(torch.randn(6))
        s2.bias.copy_(torch.randn(6))
    x = torch.randn(2, 6, 28, 28)
    block_sums = x.reshape(2, 6, 14, 2, 14, 2).sum(dim=(3, 5))
    expected = block_sums * s2.weight[:, None, None] + s2.bias[:, None, None]
    torch.testing.assert_close(s2(x), expected)


def test_lenet5_depth_counts_its_trained_layers_not_the_fixed_output(fresh):
    """By the page's rule (layers with trained weights), the paper's seven layers less its
    RBF output, whose centres are fixed: C1, S2, C3, S4, C5, F6 form one chain."""
    model = LeNet5()
    trained = [name for name, child in model.named_children() if numel(child)]
    assert trained == ["C1", "S2", "C3", "S4", "C5", "F6"]
    assert fresh["lenet5"]["depth"] == len(trained) == 6
    depth = next(f for f in fresh["lenet5"]["flags"] if f["column"] == "Depth")
    assert depth["chapter"] == "5" and depth["flagged"] and depth["verdict"] == "wrong"
    assert "not counting the input, all of which contain trainable parameters" in depth["why"]
    assert depth["found"] == "6 (measured here); 7 (the paper)"
    assert "section II-B" in depth["source"]


def test_lenet5_scores_ten_classes_and_refuses_other_sizes():
    model = LeNet5().eval()
    assert model(torch.randn(3, 1, 32, 32)).shape == (3, 10)
    with pytest.raises(ValueError, match="32, 32"):
        model(torch.randn(1, 1, 28, 28))


# ---- measured numbers against torchvision and torch ---------------------------------------------

@pytest.mark.parametrize("name", TORCHVISION_MODELS)
def test_parameters_equal_torchvisions_model_and_metadata(name, fresh, reference_models):
    assert fresh[name]["params"] == numel(reference_models[name])
    assert fresh[name]["params"] == get_model_weights(name).DEFAULT.meta["num_params"]


def test_parameter_counts_named_in_the_issue(fresh):
    assert fresh["resnet50"]["params"] == 25_557_032
    assert fresh["vgg16"]["params"] == 138_357_544
    assert fresh["googlenet"]["params"] == 6_624_904  # without the auxiliary heads
    assert fresh["efficientnet_lite0"]["params"] == numel(efficientnet_lite0()) == 4_652_008


@pytest.mark.parametrize("name", TORCHVISION_MODELS)
def test_flops_equal_torchs_flop_counter(name, fresh, reference_models):
    size = get_model_weights(name).DEFAULT.transforms().crop_size[0]
    with FlopCounterMode(display=False) as counter:
        reference_models[name](torch.randn(1, 3, size, size))
    assert fresh[name]["flops"] == counter.get_total_flops()
    assert fresh[name]["flops"] == 2 * fresh[name]["macs"]
    # torchvision's field named GFLOPS holds GMACs, rounded to 3 decimals
    assert round(fresh[name]["macs"] / 1e9, 3) == get_model_weights(name).DEFAULT.meta["_ops"]


def test_flops_of_our_own_models_equal_torchs_flop_counter(fresh):
    for name, build, shape in (("lenet5", LeNet5, (1, 32, 32)),
                               ("efficientnet_lite0", efficientnet_lite0, (3, 224, 224))):
        with FlopCounterMode(display=False) as counter:
            build().eval()(torch.randn(1, *shape))
        assert fresh[name]["flops"] == counter.get_total_flops(), name


def test_lenet5_macs_are_the_connections_that_exist():
    # C1 6·25·28², S2 6·4·14² (a 2×2 sum times a coefficient, as a convolution), C3
    # (6·3 + 9·4 + 6)·25·10², S4 16·4·5², C5 120·400, F6 84·120, RBF 10·84 (as x·w)
    expected = (6 * 25 * 28 * 28 + 6 * 4 * 14 * 14 + 60 * 25 * 100 + 16 * 4 * 5 * 5
                + 120 * 400 + 84 * 120 + 10 * 84)
    assert profile(LeNet5(), (1, 32, 32)).macs == expected


@pytest.mark.parametrize("name, depth", [
    ("alexnet", 8), ("vgg16", 16), ("googlenet", 22), ("resnet18", 18),
    ("resnet50", 50),
])
def test_depth_is_the_papers_count_of_weight_layers(name, depth, fresh):
    assert fresh[name]["depth"] == depth


class _Branches(nn.Module):
    """Input → (a: 3 convs) and (b: 1 conv) → concat → linear, plus a skip to the concat."""

    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(*[nn.Conv2d(2, 2, 3, padding=1) for _ in range(3)])
        self.b = nn.Conv2d(2, 2, 1)
        self.fc = nn.Linear(6 * 4 * 4, 3)

    def forward(self, x):
        y = torch.cat([self.a(x), self.b(x), x], dim=1)
        return self.fc(torch.relu_(y).flatten(1))


def test_depth_follows_the_longest_branch_and_activation_bytes_count_fresh_tensors():
    stats = profile(_Branches(), (2, 4, 4))
    assert stats.depth == 3 + 1
    fresh_tensors = 3 * 2 * 16 + 2 * 16 + 6 * 16 + 3  # a's three convs, b, cat, fc (relu_ in place)
    assert stats.activation_bytes == 4 * fresh_tensors


def test_layer_table_matches_hooks_and_arithmetic(fresh, reference_models):
    layers = {row["name"]: row for row in fresh["resnet18"]["layers"]}
    assert layers["conv1"]["output_shape"] == [64, 112, 112]
    assert layers["conv1"]["macs"] == 64 * 3 * 7 * 7 * 112 * 112
    assert layers["layer4"]["params"] == numel(reference_models["resnet18"].layer4)
    top = [row for row in fresh["resnet18"]["layers"] if row["level"] == 1]
    assert sum(row["macs"] for row in top) == fresh["resnet18"]["macs"]


def test_file_size_is_the_float32_weights(fresh):
    for name in TORCHVISION_MODELS:
        if name == "googlenet":  # its weight file also stores the auxiliary classifiers
            continue
        published_mib = get_model_weights(name).DEFAULT.meta["_file_size"]
        # a saved file adds some hundred bytes of pickle and zip records per tensor
        assert fresh[name]["file_bytes"] / 2 ** 20 == pytest.approx(published_mib, abs=0.2), name


def test_precomputed_file_matches_a_fresh_computation(fresh):
    table = {row["name"]: row for row in architectures.load_table()}
    assert list(table) == list(architectures.DEFAULT_MODELS), "run --rebuild"
    for name, record in fresh.items():
        assert json.loads(json.dumps(record)) == table[name], f"{name}: run --rebuild"


# ---- published numbers and the chapter ---------------------------------------------------------

# How torchvision's documentation of each weight set (meta["_docs"]) says it was trained:
# (DEFAULT, IMAGENET1K_V1). DEFAULT is V2, a newer recipe, for ResNet-50 and the MobileNets.
SIMPLE, NEW, PORTED = table.SIMPLE_RECIPE, table.NEW_RECIPE, table.PORTED
RECIPES = {
    "alexnet": (SIMPLE, SIMPLE), "vgg16": (SIMPLE, SIMPLE), "googlenet": (PORTED, PORTED),
    "resnet18": (SIMPLE, SIMPLE), "resnet50": (NEW, SIMPLE), "mobilenet_v2": (NEW, SIMPLE),
    "mobilenet_v3_large": (NEW, SIMPLE), "efficientnet_b0": (PORTED, PORTED),
    "convnext_tiny": (NEW, NEW),
}


@pytest.mark.parametrize("name", TORCHVISION_MODELS)
def test_accuracy_is_torchvisions_metadata(name, fresh):
    """top1 / top5 stay the DEFAULT weights' numbers; top1_v1 / top5_v1 are the first
    weights', each named with its recipe."""
    weights = get_model_weights(name)
    metrics = weights.DEFAULT.meta["_metrics"]["ImageNet-1K"]
    first = weights.IMAGENET1K_V1.meta["_metrics"]["ImageNet-1K"]
    record = fresh[name]
    assert (record["top1"], record["top5"]) == (metrics["acc@1"], metrics["acc@5"])
    assert (record["top1_v1"], record["top5_v1"]) == (first["acc@1"], first["acc@5"])
    assert record["weights_v1"] == str(weights.IMAGENET1K_V1)
    assert (record["recipe"], record["recipe_v1"]) == RECIPES[name]


def test_default_weights_mix_recipes_and_v1_does_not_credit_them(fresh):
    """ResNet-50's DEFAULT (V2) gains 4.7 points over V1 by training alone (80.86 vs 76.13)."""
    resnet = fresh["resnet50"]
    assert resnet["weights"].endswith("IMAGENET1K_V2") and resnet["top1"] == 80.858
    assert resnet["top1_v1"] == 76.13
    for name, (default, first) in RECIPES.items():
        same = fresh[name]["weights"] == fresh[name]["weights_v1"]
        assert same == (fresh[name]["top1"] == fresh[name]["top1_v1"]), name
        assert same or default == NEW, name


def test_our_own_models_cite_their_accuracy(fresh):
    lite = fresh["efficientnet_lite0"]
    assert (lite["top1"], lite["top5"]) == (75.1, None) == (lite["top1_v1"], lite["top5_v1"])
    assert "tensorflow/tpu" in lite["accuracy_source"]
    assert "model card" in lite["accuracy_source"] and "TensorFlow" in lite["recipe"]
    assert "not torchvision" in lite["recipe"]
    assert fresh["lenet5"]["top1"] is None and "MNIST" in fresh["lenet5"]["accuracy_dataset"]


def test_every_chapter_cell_is_checked_with_a_source(fresh):
    for name, cells in published.CHAPTER.items():
        flags = {f["column"]: f for f in fresh[name]["flags"]}
        assert set(flags) == set(cells), name
        for flag in flags.values():
            assert flag["source"].strip(), (name, flag)
            assert flag["verdict"] in published.VERDICTS
            assert flag["flagged"] == (flag["verdict"] != "agrees")
            assert not flag["flagged"] or flag["why"], (name, flag)


def test_the_known_discrepancies_are_flagged(fresh):
    def flag(name, column):
        return next(f for f in fresh[name]["flags"] if f["column"] == column)

    resnet = flag("resnet50", "Top-5 Error")
    assert resnet["flagged"] and "3.57" in resnet["chapter"] and "6.71" in resnet["found"]
    assert "He" in resnet["source"]
    assert flag("efficientnet_b0", "Top-5 Error")["verdict"] == "wrong"
    assert "6.7" in flag("efficientnet_b0", "Top-5 Error")["found"]
    assert flag("googlenet", "Params")["flagged"]  # 6.8M in the chapter, 6.6 M measured
    assert not flag("alexnet", "Params")["flagged"]  # 61M, 61,100,840 measured
    assert not flag("resnet50", "Params")["flagged"]


def test_a_measured_discrepancy_without_an_explanation_is_an_error(fresh):
    record = dict(fresh["resnet50"], params=11_689_512)
    with pytest.raises(ValueError, match="lacks a note"):
        architectures.chapter_flags("resnet50", record)


@pytest.mark.parametrize("cell, value, agrees", [
    ("60K", 60_000, True), ("61M", 61_100_840, True), ("6.8M", 6_624_904, False),
    ("25.6M", 25_557_032, True), ("~18", 82, False), ("2014", 2014, True),
])
def test_chapter_cells_are_read_at_their_own_precision(cell, value, agrees):
    assert table._matches(cell, value) == agrees


# ---- building blocks ---------------------------------------------------------------------------

def _evaluate(formula: str) -> int:
    return eval(formula.replace("·", "*").replace("−", "-"), {"__builtins__": {}})


def test_block_arithmetic_is_the_real_layers(fresh, reference_models):
    models = {**reference_models, "lenet5": LeNet5(), "efficientnet_lite0": efficientnet_lite0()}
    for name, record in fresh.items():
        block = record["block"]
        assert block is not None, name
        for line in block["arithmetic"]:
            if line["module"]:
                assert line["value"] == numel(models[name].get_submodule(line["module"])), line
            assert _evaluate(line["formula"]) == line["value"], line
        for pair in block["compare"]:
            for side in (pair["ours"], pair["alternative"]):
                if not any(c.isalpha() for c in side["formula"]):
                    assert _evaluate(side["formula"]) == side["value"], side


def test_the_chapters_worked_examples_against_torch_layers(fresh):
    def convs(*layers):
        return sum(numel(layer) for layer in layers)

    bottleneck = fresh["resnet50"]["block"]
    assert bottleneck["total"] == convs(nn.Conv2d(256, 64, 1, bias=False),
                                        nn.Conv2d(64, 64, 3, bias=False),
                                        nn.Conv2d(64, 256, 1, bias=False)) == 69_632
    plain = convs(nn.Conv2d(256, 256, 3, bias=False), nn.Conv2d(256, 256, 3, bias=False))
    assert bottleneck["compare"][0]["alternative"]["value"] == plain == 1_179_648
    separable = fresh["mobilenet_v2"]["block"]["compare"][1]
    assert separable["ours"]["value"] == convs(nn.Conv2d(64, 64, 3, groups=64, bias=False),
                                               nn.Conv2d(64, 128, 1, bias=False)) == 8_768
    vgg = fresh["vgg16"]["block"]["compare"]
    assert vgg[0]["alternative"]["value"] == numel(nn.Conv2d(256, 256, 5, bias=False))
    assert [vgg[0]["saving"], vgg[1]["saving"]] == ["28 % fewer weights", "45 % fewer weights"]


def test_the_chapters_1x1_example_is_shown_as_it_is_and_fairly(fresh):
    """The chapter compares a 1×1 256→64 with a 3×3 256→256: different outputs, and a 3×3
    still follows the 1×1. The fair pair maps 256 channels to 256 on both sides."""
    unfair, fair = fresh["googlenet"]["block"]["compare"][1:3]
    reduce, plain = nn.Conv2d(256, 64, 1), nn.Conv2d(256, 256, 3, padding=1)
    assert unfair["ours"]["value"] == numel(reduce) == 16_448
    assert unfair["alternative"]["value"] == numel(plain) == 590_080
    assert unfair["saving"].startswith("36× fewer") and "chapter's comparison" in \
        unfair["saving"] and "unfair" in unfair["saving"]
    bottleneck = nn.Sequential(reduce, nn.Conv2d(64, 256, 3, padding=1))
    x = torch.randn(1, 256, 8, 8)
    assert bottleneck(x).shape == plain(x).shape  # the same job on both sides
    assert fair["ours"]["value"] == numel(bottleneck) == 164_160
    assert fair["alternative"]["value"] == numel(plain)
    assert fair["saving"].startswith("3.6× fewer") and "fair comparison" in fair["saving"]


def test_the_squeeze_and_excitation_sentence_says_what_the_gate_reads(fresh):
    """Hu et al. (2018): each channel's gate comes from every channel's mean through two fully
    connected layers. Checked on torchvision's own SE module by autograd: the gate of channel
    0 changes with channel 1's input."""
    caption = fresh["efficientnet_b0"]["block"]["caption"]
    assert "means of all channels" in caption and "two fully connected layers" in caption
    torch.manual_seed(0)
    unit = SqueezeExcitation(8, 2)  # output = gate(means of x) · x, channel by channel
    x = torch.randn(1, 8, 4, 4, requires_grad=True)
    unit(x)[0, 0].sum().backward()  # channel 0's output reads channel 1 only through its gate
    assert x.grad[0, 1].abs().sum() > 0
    assert sum(isinstance(m, nn.Conv2d) for m in unit.modules()) == 2


# ---- the public function, other models, latency ------------------------------------------------

def test_compare_gives_the_documented_fields_for_every_chapter_model():
    records = architectures.compare()
    assert [r["name"] for r in records] == list(architectures.DEFAULT_MODELS)
    for record in records:
        for key in ("name", "params", "macs", "flops", "depth", "top1", "top5", "top1_v1",
                    "top5_v1", "recipe", "recipe_v1", "year"):
            assert key in record, (record["name"], key)


@pytest.mark.parametrize("name, year", [("squeezenet1_1", 2016), ("vit_b_16", 2020)])
def test_any_other_torchvision_model_is_measured_on_demand(name, year):
    (record,) = architectures.compare([name])
    weights = get_model_weights(name).DEFAULT
    assert record["params"] == weights.meta["num_params"]
    # the ViT's attention runs in a fused CPU kernel that torch's counter misses by default
    assert round(record["macs"] / 1e9, 3) == weights.meta["_ops"]
    assert record["year"] == year and record["block"] is None


def test_an_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown model 'resnet51'"):
        models.build("resnet51")


def test_latency_is_measured_with_progress():
    calls = []
    result = architectures.latencies(["lenet5"], repeats=2,
                                     progress=lambda done, total, name: calls.append(done))
    assert result["lenet5"] > 0
    assert calls == [1, 2, 3]  # one warm-up pass, two timed
    with pytest.raises(ValueError, match="repeats"):
        architectures.latencies(["lenet5"], repeats=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_latency_on_a_missing_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA"):
        architectures.latencies(["lenet5"], device="cuda")


# ---- figures -----------------------------------------------------------------------------------

def test_bubble_charts_plot_accuracy_against_cost(fresh):
    records = [r for r in fresh.values() if r["top1"] is not None]
    figure = accuracy_vs_macs(records)
    assert list(figure.data[0].x) == [r["macs"] / 1e9 for r in records]
    assert list(figure.data[0].y) == [r["top1"] for r in records]
    assert list(figure.data[0].marker.color) == [r["year"] for r in records]
    sizes = figure.data[0].marker.size
    vgg = [r["name"] for r in records].index("vgg16")
    assert max(sizes) == sizes[vgg]  # the most parameters, the largest bubble
    assert "DEFAULT weights" in figure.layout.yaxis.title.text
    v1 = accuracy_vs_macs(records, "top1_v1")
    assert list(v1.data[0].y) == [r["top1_v1"] for r in records]
    assert "V1 weights" in v1.layout.yaxis.title.text
    assert "recipe: " + table.SIMPLE_RECIPE in v1.data[0].hovertext[
        [r["name"] for r in records].index("resnet50")]
    latency = accuracy_vs_latency(records, {"resnet50": 30.0, "vgg16": 90.0}, "CPU")
    assert list(latency.data[0].x) == [90.0, 30.0]


def test_block_diagram_draws_every_layer_and_the_shortcut(fresh):
    block = fresh["resnet50"]["block"]
    figure = block_diagram(block)
    boxes = [s for s in figure.layout.shapes if s.type == "rect"]
    assert len(boxes) == len(block["nodes"])
    assert any(s.type == "path" for s in figure.layout.shapes)  # input → add, around the boxes
    assert len(figure.layout.annotations) == len(block["nodes"]) + len(block["edges"])
