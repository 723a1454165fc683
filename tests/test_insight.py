"""cnnviz.insight against independent references: parameter counts against torch's own
modules, equivariance of convolution and pooling under shifts (NumPy engine and torch),
cv2.filter2D against cnnviz.ops.conv2d, receptive fields against the gradient's reach, and
feature visualisation that really excites its channel."""

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnviz import activations, images, insight, ops
from cnnviz.insight import feature_vis, hierarchy, receptive, shifts

PHOTOS = images.sample_images()


# ---------------------------------------------------------------- the parameter problem

@settings(max_examples=25, deadline=None)
@given(size=st.integers(1, 40), channels=st.integers(1, 4), outputs=st.integers(1, 12),
       kernel=st.integers(1, 7))
def test_counts_are_those_of_the_torch_layers_they_describe(size, channels, outputs, kernel):
    if kernel > size:
        with pytest.raises(ValueError, match="does not fit"):
            insight.parameter_problem(size, channels, outputs, kernel)
        return
    problem = insight.parameter_problem(size, channels, outputs, kernel)
    dense = nn.Linear(size * size * channels, outputs)
    conv = nn.Conv2d(channels, outputs, kernel)
    assert problem.fully_connected.params == sum(p.numel() for p in dense.parameters())
    assert problem.convolution.params == sum(p.numel() for p in conv.parameters())
    assert problem.fully_connected.weights_per_neuron == dense.weight[0].numel()
    assert problem.convolution.weights_per_neuron == conv.weight[0].numel()
    # Locally connected: a convolution's weights and bias at every one of size² positions.
    assert problem.locally_connected.params == problem.convolution.params * size * size
    assert problem.fully_connected.megabytes == pytest.approx(
        sum(p.numel() * p.element_size() for p in dense.parameters()) / 1e6)


def test_the_chapter_claims_hold_except_its_rounding_of_5376():
    claims = {claim.text: claim for claim in insight.chapter_claims()}
    dense = nn.Linear(224 * 224 * 3, 64)
    conv = nn.Conv2d(3, 64, 3)
    ratio = sum(p.numel() for p in dense.parameters()) / sum(p.numel() for p in conv.parameters())
    assert ratio == pytest.approx(5376.04, abs=0.01)  # not the 5,375 the chapter prints
    wrong = [text for text, claim in claims.items() if not claim.holds]
    assert wrong == ["reduction: 5,375×"]
    two_thousand = next(c for c in claims.values() if "2000×" in c.text)
    assert two_thousand.computed == pytest.approx(224 * 224 * 3 / (5 * 5 * 3))


# ---------------------------------------------------------------- equivariance, invariance

def circular_conv_numpy(x, w):
    k = w.shape[-1] // 2
    return ops.conv2d(np.pad(x, ((0, 0), (0, 0), (k, k), (k, k)), mode="wrap"), w)


@pytest.mark.parametrize("shift", [(1, 0), (0, 3), (-2, 5), (7, -4)])
def test_a_circularly_padded_convolution_is_exactly_shift_equivariant(shift):
    rng = np.random.default_rng(sum(shift) + 10)
    x = rng.normal(size=(1, 2, 12, 12))
    w = rng.normal(size=(3, 2, 3, 3))
    moved = np.roll(x, shift, axis=(2, 3))
    np.testing.assert_allclose(circular_conv_numpy(moved, w),
                               np.roll(circular_conv_numpy(x, w), shift, axis=(2, 3)),
                               atol=1e-12)
    conv = nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular", bias=False).double()
    conv.weight.data = torch.from_numpy(w)
    with torch.no_grad():
        torch_moved = conv(torch.from_numpy(moved)).numpy()
        torch_rolled = np.roll(conv(torch.from_numpy(x)).numpy(), shift, axis=(2, 3))
    np.testing.assert_allclose(torch_moved, torch_rolled, atol=1e-12)
    np.testing.assert_allclose(torch_moved, circular_conv_numpy(moved, w), atol=1e-12)


@pytest.mark.parametrize("stride", [2, 3])
def test_max_pooling_commutes_with_shifts_by_its_stride_only(stride):
    rng = np.random.default_rng(stride)
    x = rng.normal(size=(2, 12, 12))
    pooled = ops.max_pool2d(x, stride)
    for k in (1, 2):  # shifts by multiples of the stride move the pooled map by k cells
        moved = np.roll(x, (k * stride, -k * stride), axis=(1, 2))
        np.testing.assert_array_equal(ops.max_pool2d(moved, stride),
                                      np.roll(pooled, (k, -k), axis=(1, 2)))
    one = ops.max_pool2d(np.roll(x, 1, axis=2), stride)  # a one-pixel shift
    assert not np.array_equal(one, pooled)  # not invariant
    assert all(not np.array_equal(one, np.roll(pooled, c, axis=2)) for c in range(4))
    torch_pooled = F.max_pool2d(torch.from_numpy(np.roll(x, stride, axis=2))[None], stride)
    np.testing.assert_array_equal(torch_pooled[0].numpy(), np.roll(pooled, 1, axis=2))


@pytest.mark.parametrize("kernel", [3, 4, 5, 6])
def test_ops_conv2d_is_cv2_filter2d_with_a_constant_border(kernel):
    rng = np.random.default_rng(kernel)
    for _ in range(3):
        image = rng.normal(size=(rng.integers(kernel, 30), rng.integers(kernel, 30)))
        w = rng.normal(size=(kernel, kernel))
        reference = cv2.filter2D(image, cv2.CV_64F, w, borderType=cv2.BORDER_CONSTANT)
        before = kernel // 2  # OpenCV's anchor: the kernel's centre, rounded down
        padded = np.pad(image, ((before, kernel - 1 - before),) * 2)
        ours = ops.conv2d(padded[None, None], w[None, None])[0, 0]
        np.testing.assert_allclose(ours, reference, atol=1e-10)


# ---------------------------------------------------------------- receptive fields

@pytest.mark.parametrize("model", ["lite0", "resnet18"])
@pytest.mark.parametrize("stage", [1, 2, 3])
def test_the_receptive_field_is_where_the_gradient_reaches(model, stage, request):
    """The recurrence's window of a position in the middle equals the input pixels whose
    gradient is not zero (a random photo, so no ReLU is silent across a whole border)."""
    bundle = request.getfixturevalue(model)
    _, end = activations.stage_ends(bundle)[stage]
    rows, cols = receptive.receptive_fields(bundle)[end.name]
    torch.manual_seed(0)
    x = torch.randn(1, 3, 224, 224, requires_grad=True)
    h, w = end.shape[1:]
    row, col = h // 2, w // 2
    with bundle.lock:
        captured = {}
        module = dict(bundle.model.named_modules())[end.name]
        handle = module.register_forward_hook(lambda m, a, o: captured.setdefault("o", o))
        try:
            bundle.model(x)
        finally:
            handle.remove()
    captured["o"][0, :, row, col].sum().backward()
    reach = x.grad[0].abs().sum(0).numpy() > 0
    ys, xs = np.nonzero(reach)
    top, bottom = rows.window(row)
    left, right = cols.window(col)
    assert (ys.min(), ys.max() + 1) == (max(top, 0), min(bottom, 224))
    assert (xs.min(), xs.max() + 1) == (max(left, 0), min(right, 224))


def test_receptive_fields_of_vgg16_are_the_published_ones():
    from cnnviz import models

    bundle = models.load_model("vgg16", pretrained=False)
    fields = receptive.receptive_fields(bundle)
    # conv5_3 sees 196 pixels with a jump of 16, pool5 212 with 32 (Araujo et al., Distill
    # 2019, "Computing Receptive Fields of Convolutional Neural Networks", table 1: VGG-16).
    assert (fields["features.29"][0].size, fields["features.29"][0].jump) == (196, 16)
    assert (fields["features"][0].size, fields["features"][0].jump) == (212, 32)


# ---------------------------------------------------------------- shifts on a real network

def test_stage_maps_follow_a_shift_exactly_inside_when_it_is_a_multiple_of_the_stride(lite0):
    img = images.load_image(PHOTOS["Cat (Chelsea)"])
    for dx, dy in ((8, 0), (0, -8)):
        for result in shifts.stage_shifts(lite0, img, dx, dy):
            if result.multiple and result.interior:
                assert result.interior_difference < 1e-4, result.stage
    odd = {r.stage: r for r in shifts.stage_shifts(lite0, img, 3, 0)}
    assert not odd["stage 2"].multiple and odd["stage 2"].interior > 0
    assert odd["stage 2"].interior_difference > 0.05  # strided layers break it


def test_the_diagonal_crop_in_the_middle_is_the_models_own_view(lite0):
    """Offset 16 of the 256 canvas is the 224 centre crop the model's preprocessing takes."""
    for title in ("Cat (Chelsea)", "Espresso cup", "Rocket launch"):
        img = images.load_image(PHOTOS[title])
        middle = shifts.diagonal_predictions(lite0, img, shifts=[16])[0]
        index, _, probability = lite0.classify(img, k=1)[0]
        assert middle.index == index
        assert middle.probability == pytest.approx(probability, abs=0.05)
    with pytest.raises(ValueError):
        shifts.diagonal_predictions(lite0, img, shifts=[33])


def test_consistency_counts_agreeing_pairs(resnet18):
    photos = {t: images.load_image(PHOTOS[t]) for t in ("Cat (Chelsea)", "Brick wall")}
    result = shifts.consistency(resnet18, photos, pairs=4)
    assert result.pairs == 8
    assert result.agree == round(sum(result.per_photo.values()) * 4)
    low, high = result.interval()
    assert 0 <= low <= result.rate <= high <= 1
    with pytest.raises(ValueError):
        shifts.consistency(resnet18, {})


# ---------------------------------------------------------------- feature visualisation

def test_the_colour_matrix_reproduces_the_photos_colour_correlations():
    pixels = np.concatenate([np.asarray(images.load_image(p), dtype=np.float64).reshape(-1, 3)
                             for p in PHOTOS.values()]) / 255
    covariance = np.cov(pixels, rowvar=False)
    m = feature_vis.colour_sqrt().double().numpy()
    product = m @ m.T
    np.testing.assert_allclose(product / product[0, 0], covariance / covariance[0, 0],
                               rtol=1e-4)


def test_stop_and_progress(lite0):
    heard = []
    result = feature_vis.optimise(
        lite0, "_blocks.2", 3, feature_vis.Settings(size=64, steps=50),
        on_step=lambda step, total, value, preview: heard.append((step, total, preview)),
        should_stop=lambda: len(heard) >= 5, preview_every=2)
    assert result.steps == 5 and [s for s, _, _ in heard] == [1, 2, 3, 4, 5]
    assert heard[1][2].shape == (64, 64, 3) and heard[0][2] is None
    with pytest.raises(activations.LayerError):
        feature_vis.optimise(lite0, "no_such_layer", 0, feature_vis.Settings(steps=1))
    with pytest.raises(ValueError, match="channels 0 to"):
        feature_vis.optimise(lite0, "_blocks.2", 999, feature_vis.Settings(steps=1))


def test_a_relu_that_is_silent_on_noise_still_starts(lite0):
    """Lite0's head (ReLU6) is zero everywhere on the starting noise: with its output alone
    the ascent has no gradient and stays at zero."""
    settings = feature_vis.Settings(size=64, steps=32)
    start = feature_vis.FourierImage(64, torch.Generator().manual_seed(0))
    with torch.no_grad(), lite0.lock:
        assert float(feature_vis.channel_mean(lite0, start(), "_head_act")[0, 320]) == 0
    assert feature_vis.optimise(lite0, "_head_act", 320, settings).activation > 1


def sample_best(bundle, layer, channel) -> float:
    return float(hierarchy.photo_means(bundle, layer)[:, channel].max())


# The first channel chosen for the hierarchy (index C/4, see hierarchy.stage_channels) in three
# stages, early, middle and late.
STAGES = ("stage 2", "stage 4", "stage 6")


@pytest.mark.parametrize("stage", STAGES)
def test_the_optimised_image_excites_its_channel_three_times_more_than_any_photo(lite0, stage):
    layer, channel = next((name, channels[1]) for s, name, channels
                          in hierarchy.stage_channels(lite0) if s == stage)
    image = insight.feature_visualization(lite0, layer, channel)
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    pixels = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad(), lite0.lock:
        reached = float(feature_vis.channel_mean(lite0, pixels, layer)[0, channel])
    assert reached >= 3 * sample_best(lite0, layer, channel)


# ---------------------------------------------------------------- examples and filters

def test_the_best_example_is_the_strongest_position_of_any_photo(lite0):
    photos = {t: images.load_image(p) for t, p in list(PHOTOS.items())[:4]}
    layer, channel = "_blocks.4", 1
    examples = insight.top_examples(lite0, layer, channel, photos, count=4)
    peaks = {t: float(activations.to_float32(activations.capture(lite0, img, layer)[layer])
                      [channel].max()) for t, img in photos.items()}
    best = max(peaks, key=peaks.get)
    assert (examples[0].photo, examples[0].value) == (best, pytest.approx(peaks[best]))
    rows, cols = receptive.receptive_fields(lite0)[layer]
    top, _ = rows.window(examples[0].position[0])
    assert examples[0].window[0] == max(top, 0)
    assert examples[0].patch.shape[:2] == (examples[0].window[2] - examples[0].window[0],
                                           examples[0].window[3] - examples[0].window[1])


@pytest.mark.parametrize("orientation", [30, 120])
def test_a_gabor_filter_is_matched_to_itself(orientation):
    size = 7
    wavelength = insight.filters.wavelengths(size)[3]
    kernel = cv2.getGaborKernel((size, size), 0.56 * wavelength, np.deg2rad(orientation),
                                wavelength, 1.0, np.pi / 2, ktype=cv2.CV_64F)
    match = insight.best_gabor(np.stack([kernel] * 3))
    assert (match.orientation, match.wavelength) == (orientation, wavelength)
    assert match.correlation == pytest.approx(1.0, abs=1e-9)


def test_classic_kernels_are_what_opencv_applies():
    photo = np.asarray(images.load_image(PHOTOS["Cameraman with tripod"]).convert("L"),
                       dtype=np.float64)
    kernels = insight.classic_kernels(3)
    sobel = cv2.Sobel(photo, cv2.CV_64F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT_101)
    np.testing.assert_allclose(insight.filter_photo(photo, kernels["Sobel x (vertical edges)"]),
                               sobel, atol=1e-9)
    laplacian = cv2.Laplacian(photo, cv2.CV_64F, ksize=3, borderType=cv2.BORDER_REFLECT_101)
    np.testing.assert_allclose(insight.filter_photo(photo, kernels["Laplacian (spots)"]),
                               laplacian, atol=1e-9)


# ---------------------------------------------------------------- the precomputed hierarchy

def test_the_shipped_hierarchy_is_the_default_models_with_its_settings(lite0):
    index = hierarchy.load()
    assert index["model"] == lite0.name and index["weights"] == lite0.weights
    assert index["settings"] == feature_vis.Settings().__dict__
    expected = hierarchy.stage_channels(lite0)
    assert [(r["stage"], r["layer"], [c["channel"] for c in r["channels"]])
            for r in index["stages"]] == expected
    size = index["settings"]["size"]
    for row in index["stages"]:
        for entry in row["channels"]:
            assert entry["image"].shape == (size, size, 3)
