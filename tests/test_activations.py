"""Capturing activations: equal to a plain forward pass computed module by module, safe when
sessions capture from one shared model at once, immune to in-place operations, cached by
image content within the cache's budget; plus the layer list, its readable names and the
helpers the feature-map page uses."""

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image
from torch import nn
from torchvision.ops.misc import Permute

from cnnviz import activations, images, models
from cnnviz.activations import LayerError, capture
from cnnviz.activations.cache import ActivationCache

# float16 keeps 11 significant bits: a relative error of at most 2^-11 (plus a tiny absolute
# one below float16's normal range).
FLOAT16 = dict(rtol=2**-10, atol=1e-6)


@pytest.fixture(scope="module")
def mobilenet_v2():
    return models.load_model("mobilenet_v2", pretrained=False)


@pytest.fixture(scope="module")
def photos():
    return [images.load_image(path) for path in images.sample_images().values()]


def tiny_bundle(model: nn.Module, name: str) -> models.ModelBundle:
    """A hand-made bundle around a small model: pixels scaled to [−1, 1] at 32 × 32."""
    def preprocess(img):
        pixels = np.asarray(img.convert("RGB").resize((32, 32)), dtype=np.float32)
        return torch.from_numpy(pixels).permute(2, 0, 1) / 127.5 - 1.0

    model.eval().requires_grad_(False)
    return models.ModelBundle(name, model, preprocess, [], torch.device("cpu"), False, "test")


# ------------------------------------------------- equal to an independent forward pass


def lite0_reference(model, x) -> dict[str, torch.Tensor]:
    """EfficientNet-Lite0's intermediate outputs, computed by calling its layers one by one
    as the architecture prescribes (Tan & Le, 2019: expand, depthwise, project, residual)."""
    out = {}
    h = out["_conv_stem"] = model._conv_stem(x)
    h = out["_bn0"] = model._bn0(h)
    h = out["_stem_act"] = F.relu6(h)
    for i, block in enumerate(model._blocks):
        name, inp = f"_blocks.{i}", h
        if hasattr(block, "_expand_conv"):
            h = out[f"{name}._expand_conv"] = block._expand_conv(h)
            h = out[f"{name}._bn0"] = block._bn0(h)
            h = F.relu6(h)
        h = out[f"{name}._depthwise_conv"] = block._depthwise_conv(h)
        h = out[f"{name}._bn1"] = block._bn1(h)
        h = F.relu6(h)
        h = out[f"{name}._project_conv"] = block._project_conv(h)
        h = out[f"{name}._bn2"] = block._bn2(h)
        h = out[name] = h + inp if h.shape == inp.shape else h
    out["_blocks"] = h
    h = out["_conv_head"] = model._conv_head(h)
    h = out["_bn1"] = model._bn1(h)
    out["_head_act"] = F.relu6(h)
    return out


def resnet_reference(model, x) -> dict[str, torch.Tensor]:
    """ResNet's intermediate outputs with out-of-place ReLUs (He et al., 2016, Fig. 2)."""
    out = {}
    h = out["conv1"] = model.conv1(x)
    h = out["bn1"] = model.bn1(h)
    h = out["relu"] = F.relu(h)
    h = out["maxpool"] = model.maxpool(h)
    for s in range(1, 5):
        for b, block in enumerate(getattr(model, f"layer{s}")):
            name, identity = f"layer{s}.{b}", h
            o = out[f"{name}.conv1"] = block.conv1(h)
            o = out[f"{name}.bn1"] = block.bn1(o)
            o = out[f"{name}.conv2"] = block.conv2(F.relu(o))
            o = out[f"{name}.bn2"] = block.bn2(o)
            if block.downsample is not None:
                d = out[f"{name}.downsample.0"] = block.downsample[0](h)
                identity = out[f"{name}.downsample.1"] = out[f"{name}.downsample"] = \
                    block.downsample[1](d)
            h = out[name] = F.relu(o + identity)
        out[f"layer{s}"] = h
    return out


def mobilenet_reference(model, x) -> dict[str, torch.Tensor]:
    """MobileNetV2's block outputs, block after block, and the layers inside the stem and the
    second block (whose batch norms feed in-place ReLU6s) one by one."""
    features, out, h = model.features, {}, x
    for k, block in enumerate(features):
        h = out[f"features.{k}"] = block(h)
    stem = features[0]
    out["features.0.0"] = stem[0](x)
    out["features.0.1"] = stem[1](out["features.0.0"])
    unit = features[2].conv[0]
    out["features.2.conv.0.0"] = unit[0](out["features.1"])
    out["features.2.conv.0.1"] = unit[1](out["features.2.conv.0.0"])
    return out


@pytest.mark.parametrize("fixture, reference", [
    ("lite0", lite0_reference), ("resnet18", resnet_reference),
    ("mobilenet_v2", mobilenet_reference)])
def test_captured_activations_equal_a_plain_forward_pass(request, fixture, reference, photos):
    bundle = request.getfixturevalue(fixture)
    img = photos[0]
    with torch.inference_mode():
        expected = reference(bundle.model, bundle.batch(img))
    names = [name for name in activations.layer_names(bundle) if name in expected]
    assert len(names) >= min(len(expected), 20)
    got = capture(bundle, img, names, cache=None)
    assert list(got) == names
    for name in names:
        assert got[name].shape == tuple(expected[name].shape[1:]), name
        assert got[name].dtype == np.float16, name
        np.testing.assert_allclose(got[name].astype(np.float32), expected[name][0].cpu().numpy(),
                                   **FLOAT16, err_msg=name)
    # Batch norms whose output an in-place ReLU overwrites: the capture kept the negatives.
    signed = "bn1" if fixture == "resnet18" else "_bn0" if fixture == "lite0" else \
        "features.0.1"
    assert got[signed].min() < 0


def test_in_place_operations_after_a_layer_do_not_change_its_capture():
    class ConvReluResidual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            out = self.relu(self.conv(x))  # overwrites conv's output
            residual = self.conv2(out)
            residual += out  # overwrites conv2's output, as ResNet's `out += identity` does
            return residual

    torch.manual_seed(0)
    bundle = tiny_bundle(ConvReluResidual(), "conv-relu-inplace")
    img = images.load_image(images.sample_images()["Astronaut"])
    x = bundle.batch(img)
    m = bundle.model
    conv = F.conv2d(x, m.conv.weight, m.conv.bias, padding=1)
    conv2 = F.conv2d(conv.clamp(min=0), m.conv2.weight, m.conv2.bias, padding=1)
    got = capture(bundle, img, ["conv", "conv2"], cache=None)
    assert got["conv"].min() < 0  # not ReLU'd after the fact
    np.testing.assert_allclose(got["conv"].astype(np.float32), conv[0].numpy(), **FLOAT16)
    np.testing.assert_allclose(got["conv2"].astype(np.float32), conv2[0].numpy(), **FLOAT16)


def test_values_beyond_float16_stay_float32():
    torch.manual_seed(0)
    bundle = tiny_bundle(nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU()), "huge-values")
    with torch.no_grad():
        bundle.model[0].weight.mul_(1e6)
    img = images.load_image(images.sample_images()["Brick wall"])
    got = capture(bundle, img, "0", cache=None)["0"]
    x = bundle.batch(img)
    expected = F.conv2d(x, bundle.model[0].weight, bundle.model[0].bias)[0].numpy()
    assert np.abs(expected).max() > 65504 and got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


# ------------------------------------------------------------------------- concurrency


def pristine(model: nn.Module) -> bool:
    """No hooks anywhere, eval mode, frozen parameters without gradients."""
    return all(not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks)
               and not m.training for m in model.modules()) and all(
        not p.requires_grad and p.grad is None for p in model.parameters())


@pytest.mark.parametrize("fixture", ["lite0", "resnet18"])
def test_eight_threads_capture_exactly_what_sequential_capture_gives(request, fixture, photos):
    bundle = request.getfixturevalue(fixture)
    names = activations.layer_names(bundle)
    jobs = [(photos[i], names[i::8][::4]) for i in range(8)]  # different photos and layers
    expected = [capture(bundle, img, layers, cache=None) for img, layers in jobs]
    shared = ActivationCache(budget_bytes=512 * 2**20)  # room for every layer of 8 photos
    results, start = {}, threading.Barrier(8)

    def work(i):
        img, layers = jobs[i]
        start.wait()
        results[i] = [capture(bundle, img, layers, cache=None),
                      capture(bundle, img, layers, cache=shared)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == list(range(8))
    for i, runs in results.items():
        for got in runs:
            assert list(got) == list(expected[i])
            for name, array in got.items():
                np.testing.assert_array_equal(array, expected[i][name], err_msg=f"{i} {name}")
    assert len(shared) == 8 * len(names)  # each photo's pass stored all its layers
    assert shared.hits + shared.misses == sum(len(layers) for _, layers in jobs)
    assert pristine(bundle.model)


class Pause(nn.Module):
    """Holds the tapping thread's pass after the tapped layer until another thread has run a
    whole plain pass through the same modules: the interleaving that a busy server makes."""

    def __init__(self):
        super().__init__()
        self.tapper, self.reached, self.resume = None, threading.Event(), threading.Event()

    def forward(self, x):
        if threading.get_ident() == self.tapper:
            self.reached.set()
            assert self.resume.wait(timeout=30)
        return x


def test_taps_ignore_plain_forward_passes_running_in_other_threads():
    """classify() runs the shared model without the lock; a tap registered meanwhile must not
    record that pass's tensors nor splice its leaf into that pass's graph."""
    torch.manual_seed(0)
    pause = Pause()
    bundle = tiny_bundle(nn.Sequential(nn.Conv2d(3, 4, 3), pause, nn.Flatten(),
                                       nn.Linear(4 * 6 * 6, 2)), "paused")
    mine, theirs = torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8)
    with torch.inference_mode():
        expected_theirs = bundle.model(theirs)
    got_theirs = {}

    def plain_pass():
        assert pause.reached.wait(timeout=30)
        with torch.inference_mode():
            got_theirs["logits"] = bundle.model(theirs)
        pause.resume.set()

    other = threading.Thread(target=plain_pass)
    other.start()
    pause.tapper = threading.get_ident()
    logits, taps = activations.forward_with_taps(bundle, mine, ["0"], differentiable="0")
    other.join()
    torch.testing.assert_close(taps["0"].detach(), bundle.model[0](mine))
    grad, = torch.autograd.grad(logits[0, 1], taps["0"])  # the leaf is in this pass's graph
    assert grad.abs().sum() > 0
    torch.testing.assert_close(got_theirs["logits"], expected_theirs)
    assert pristine(bundle.model)


# ------------------------------------------------------------------------------ caching


class ForwardCounter:
    """Counts the model's forward passes (a test's own hook, removed on exit)."""

    def __init__(self, model):
        self.model, self.count = model, 0

    def __enter__(self):
        self.handle = self.model.register_forward_hook(lambda *_: self.bump())
        return self

    def bump(self):
        self.count += 1

    def __exit__(self, *exc):
        self.handle.remove()


def test_one_forward_pass_serves_every_layer_of_a_photo(lite0, photos):
    cache = ActivationCache(budget_bytes=256 * 2**20)
    names = activations.layer_names(lite0)
    with ForwardCounter(lite0.model) as passes:
        first = capture(lite0, photos[1], names[3], cache=cache)
        assert (passes.count, cache.misses, cache.hits, len(cache)) == (1, 1, 0, len(names))
        later = capture(lite0, photos[1], [names[-1], names[3]], cache=cache)
        assert passes.count == 1 and cache.hits == 2
        again = capture(lite0, photos[1].copy(), names[3], cache=cache)  # same pixels
        assert passes.count == 1 and again[names[3]] is first[names[3]] is later[names[3]]
        changed = photos[1].copy()
        changed.putpixel((0, 0), (0, 0, 0) if changed.getpixel((0, 0)) != (0, 0, 0) else (9, 9, 9))
        capture(lite0, changed, names[3], cache=cache)
        assert passes.count == 2
    with pytest.raises(ValueError, match="read-only"):
        first[names[3]][0, 0, 0] = 1


def test_the_cache_key_separates_models_and_preprocessing(lite0, resnet18, photos):
    keys = {activations.cache_key(bundle, photos[0], "x") for bundle in (lite0, resnet18)}
    assert len(keys) == 2
    assert activations.cache_key(lite0, photos[0], "x") == activations.cache_key(
        lite0, photos[0].copy(), "x")
    assert "resize_size=[256]" in activations.cache_key(resnet18, photos[0], "x")[4]


def test_a_small_budget_is_never_exceeded_and_evicts_the_least_recent(lite0, photos):
    budget = 2**20  # a photo's 118 layers need 28 MiB: no prefetching
    cache = ActivationCache(budget_bytes=budget)
    medium = [layer.name for layer in activations.layers(lite0)
              if 2**18 < np.prod(layer.shape) * 2 < 2**19][:8]  # 256 to 512 KiB each
    calls = [(photos[i % 2], medium[2 * i:2 * i + 2]) for i in range(4)]
    for img, names in calls:
        capture(lite0, img, names, cache=cache)
        assert cache.nbytes <= budget
    assert cache.evictions >= 4
    first, last = calls[0], calls[-1]
    assert activations.cache_key(lite0, first[0], first[1][0]) not in cache
    assert all(activations.cache_key(lite0, last[0], name) in cache for name in last[1])


def test_wrong_layer_names_raise_layer_error(lite0, photos):
    with pytest.raises(LayerError, match="'nope'"):
        capture(lite0, photos[0], ["_conv_stem", "nope"])
    with pytest.raises(LayerError, match="'_fc'"):  # a real module, but its output is flat
        capture(lite0, photos[0], "_fc")


# ------------------------------------------------------------------ the list of layers


def test_channels_last_outputs_are_not_listed():
    """ConvNeXt's LayerNorm and Linear run on (N, H, W, C) tensors between two Permutes."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), Permute([0, 2, 3, 1]), nn.LayerNorm(8),
                          Permute([0, 3, 1, 2]), nn.ReLU())
    bundle = tiny_bundle(model, "channels-last")
    listed = {layer.name: layer.shape for layer in activations.layers(bundle)}
    assert listed == {"0": (8, 32, 32), "3": (8, 32, 32), "4": (8, 32, 32)}


# Table 1 of Tan & Le (2019) for the MBConv stages: (repeats, depthwise kernel, stride of the
# first block), the stride read off the table's resolutions 112, 112, 56, 28, 14, 14, 7, 7.
EFFICIENTNET_B0_STAGES = [(1, 3, 1), (2, 3, 2), (2, 5, 2), (3, 3, 2), (3, 5, 1), (4, 5, 2),
                          (1, 3, 1)]


def test_lite0_layers_are_named_by_stage_and_block(lite0):
    titles = activations.layer_titles(lite0)
    index = 0
    for stage, (repeats, kernel, stride) in enumerate(EFFICIENTNET_B0_STAGES, start=1):
        for block in range(1, repeats + 1):
            name = f"_blocks.{index}._depthwise_conv"
            conv = lite0.model.get_submodule(name)
            assert conv.kernel_size == (kernel, kernel) and conv.groups == conv.in_channels
            strided = ", stride 2" if block == 1 and stride == 2 else ""
            assert titles[name] == f"stage {stage} · block {block} · depthwise conv " \
                                   f"{kernel}×{kernel}{strided}"
            index += 1
    assert titles["_blocks.4._depthwise_conv"].startswith("stage 3 · block 2 · depthwise conv")
    assert titles["_conv_stem"] == "stem · conv 3×3, stride 2"
    assert titles["_stem_act"] == "stem · ReLU6" and titles["_head_act"] == "head · ReLU6"


def test_torchvision_layers_have_readable_unique_names(resnet18, mobilenet_v2, lite0):
    titles = activations.layer_titles(resnet18)
    assert titles["layer3.1.conv2"] == "stage 3 · block 2 · conv 2 (3×3)"
    assert titles["layer2.0.downsample.0"] == "stage 2 · block 1 · shortcut · conv 1 (1×1, " \
                                              "stride 2)"
    assert titles["layer4"] == "stage 4 · output"
    mobile = activations.layer_titles(mobilenet_v2)
    assert mobile["features.2.conv.1.0"] == "block 2 · conv 2 (depthwise 3×3, stride 2)"
    assert mobile["features.0"] == "stem · output" and mobile["features.18"] == "head · output"
    for bundle in (resnet18, mobilenet_v2, lite0):
        names = activations.layer_titles(bundle)
        assert list(names) == activations.layer_names(bundle)
        assert len(set(names.values())) == len(names)
        assert all(title and "." not in title for title in names.values())


@pytest.mark.parametrize("fixture", ["lite0", "resnet18"])
def test_stage_outputs_show_resolution_falling_and_channels_rising(request, fixture):
    bundle = request.getfixturevalue(fixture)
    stages = activations.stage_outputs(bundle)
    sizes = [layer.shape[1] for layer in stages]
    channels = [layer.shape[0] for layer in stages]
    assert sizes == sorted(set(sizes), reverse=True)
    assert {layer.shape[1:] for layer in activations.layers(bundle)} == {
        layer.shape[1:] for layer in stages}
    assert channels == sorted(channels) and channels[-1] > channels[0]
    assert stages[-1].name == {"lite0": "_blocks", "resnet18": "layer4"}[fixture]


def test_stage_ends_show_every_stage_from_stem_to_head(lite0, resnet18):
    ends = activations.stage_ends(lite0)
    assert [name for name, _ in ends] == ["stem", *(f"stage {k}" for k in range(1, 8)), "head"]
    # Stages 4 and 5 share a resolution (14 × 14): both are there, with their own channels.
    stage = dict(ends)
    assert stage["stage 4"].shape == (80, 14, 14) and stage["stage 5"].shape == (112, 14, 14)
    assert [layer.name for _, layer in ends][1:-1] == [
        "_blocks.0", "_blocks.2", "_blocks.4", "_blocks.7", "_blocks.10", "_blocks.14",
        "_blocks.15"]  # each stage's last block, as EfficientNet-B0's table groups them
    names = [name for name, _ in activations.stage_ends(resnet18)]
    assert names == ["stem", "stage 1", "stage 2", "stage 3", "stage 4"]
    assert activations.stage_ends(resnet18)[-1][1].name == "layer4"


# ----------------------------------------------------------------- helpers for the page


def test_network_input_is_the_photo_as_cropped_and_resized(lite0, resnet18, photos):
    img = photos[0]  # 451 × 300
    side = 300 * 224 / 256
    left, top = (451 - side) / 2, (300 - side) / 2
    lite = np.asarray(img.resize((224, 224), Image.BICUBIC,
                                 box=(left, top, left + side, top + side)), dtype=int)
    assert np.abs(activations.network_input(lite0, img).astype(int) - lite).max() <= 1
    resized = TF.center_crop(TF.resize(img, 256), 224)
    torchvision_view = np.asarray(resized, dtype=int)
    assert np.abs(activations.network_input(resnet18, img).astype(int)
                  - torchvision_view).max() <= 1


def test_first_filters_are_the_first_convolutions_weights(lite0, resnet18):
    for bundle, name in ((lite0, "_conv_stem"), (resnet18, "conv1")):
        found, weights = activations.first_filters(bundle)
        assert found == name
        np.testing.assert_array_equal(weights,
                                      bundle.model.get_submodule(name).weight.cpu().numpy())


def test_channel_ranking_and_statistics_match_torch():
    rng = np.random.default_rng(0)
    fmap = rng.normal(size=(12, 5, 7)).astype(np.float16)
    t = torch.from_numpy(fmap.astype(np.float32))
    by_mean = torch.argsort(t.mean((1, 2)), descending=True, stable=True).numpy()
    by_max = torch.argsort(t.amax((1, 2)), descending=True, stable=True).numpy()
    np.testing.assert_array_equal(activations.rank_channels(fmap, "mean"), by_mean)
    np.testing.assert_array_equal(activations.rank_channels(fmap, "max"), by_max)
    np.testing.assert_array_equal(activations.rank_channels(fmap, "index"), np.arange(12))
    with pytest.raises(ValueError, match="order"):
        activations.rank_channels(fmap, "loudest")
    channel = t[3].clamp(min=0)
    stats = activations.channel_stats(channel.numpy())
    assert stats["max"] == pytest.approx(float(channel.max()))
    assert stats["mean"] == pytest.approx(float(channel.mean()), rel=1e-6)
    assert stats["std"] == pytest.approx(float(channel.std(unbiased=False)), rel=1e-5)
    assert stats["zeros"] == pytest.approx(float((channel == 0).float().mean()))
    row, col = divmod(int(channel.argmax()), 7)
    assert stats["argmax"] == (row, col)
