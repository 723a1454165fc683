"""After training: weights saved and uploaded back (and bad uploads refused), the confusion
matrix, the worst mistakes, your own digit prepared the MNIST way, and the network seen whole,
down to a link that redoes one channel's arithmetic on the convolution page."""

import io
import urllib.parse

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from cnnviz import images, ops, train
from cnnviz.train.scratch import networks
from cnnviz.train.scratch import weights_io
from cnnviz.train.evaluation import confusion_matrix, row_normalised, worst_mistakes
from cnnviz.train.scratch.network_overview import (
    channel_source,
    convolution_patch,
    convolution_query,
    stages,
)
from cnnviz.train.scratch.networks import Recipe
from cnnviz.train.scratch.own_digit import DigitError, prepare_digit


@pytest.fixture(scope="module")
def split():
    return train.mnist_split(seed=0)


@pytest.fixture(scope="module")
def prepare(split):
    return train.Standardise.fit(split.train.images)


@pytest.fixture(scope="module")
def trained(split, prepare):
    """One short epoch of each network (the ones the page offers)."""
    torch.set_num_threads(1)
    out = {}
    for net in networks.NETS:
        recipe = Recipe(net, batch_norm=net == "numpy", seed=1)
        learner = networks.build_learner(recipe, prepare)
        train.fit(learner, split.train.images[:1500], split.train.labels[:1500], epochs=1,
                  batch_size=32)
        out[net] = (recipe, learner)
    return out


@pytest.mark.parametrize("net", list(networks.NETS))
def test_weights_round_trip_through_a_file(trained, split, prepare, net):
    recipe, learner = trained[net]
    data, name = networks.weights_file(learner, net)
    assert name.endswith(".npz" if net == "numpy" else ".pt")
    fresh = networks.learner_from_file(data, recipe, prepare)
    x = split.test.images[:50]
    np.testing.assert_array_equal(fresh.logits(x), learner.logits(x))
    assert train.evaluate(fresh, split.test.images, split.test.labels)[1] > 0.5


@pytest.mark.parametrize("net", ["numpy", "twin"])
def test_weights_load_into_the_network_the_settings_build_for_colour_photos(net):
    """A CIFAR-10 network (3 × 32 × 32 photos) with other channels and batch norm: the file
    must fit the recipe's network for that shape, and then gives the same answers."""
    recipe, shape = Recipe(net, channels=(4, 8), batch_norm=True, seed=3), (3, 32, 32)
    x = np.random.default_rng(0).integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)
    prepare = train.Standardise.fit(x)
    learner = networks.build_learner(recipe, prepare, shape=shape)
    data, _ = networks.weights_file(learner, net)
    fresh = networks.learner_from_file(data, recipe, prepare, shape=shape)
    np.testing.assert_array_equal(fresh.logits(x), learner.logits(x))
    with pytest.raises(weights_io.WeightsFileError, match="channels 4, 8, batch norm, for "
                                                          "3-channel images and 10 classes"):
        networks.learner_from_file(data, Recipe(net), prepare)


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.open(images.sample_images()["Cat (Chelsea)"]).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize("net,data,message", [
    ("numpy", b"", "not a NumPy weights file"),
    ("numpy", jpeg_bytes(), "not a NumPy weights file"),
    ("twin", jpeg_bytes(), "not a PyTorch weights file"),
    ("mnistconvnet", b"\x80\x02K\x01.", "not a PyTorch weights file"),
])
def test_a_file_that_is_not_weights_is_refused_clearly(prepare, net, data, message):
    with pytest.raises(weights_io.WeightsFileError, match=message):
        networks.learner_from_file(data, Recipe(net), prepare)


def test_weights_of_another_network_are_refused_with_the_names_and_shapes(trained, prepare):
    numpy_file, _ = networks.weights_file(trained["numpy"][1], "numpy")
    twin_file, _ = networks.weights_file(trained["twin"][1], "twin")
    convnet_file, _ = networks.weights_file(trained["mnistconvnet"][1], "mnistconvnet")
    refused = weights_io.WeightsFileError
    with pytest.raises(refused, match="does not fit the chapter's MNISTConvNet"):
        networks.learner_from_file(twin_file, Recipe("mnistconvnet"), prepare)
    with pytest.raises(refused, match=r"650,\d+ bytes, but the weights of the PyTorch twin .* "
                                      r"take at most 144,\d+: it holds a larger network"):
        networks.learner_from_file(convnet_file, Recipe("twin"), prepare)
    with pytest.raises(refused, match="PyTorch weights file .* choose a PyTorch"):
        networks.learner_from_file(twin_file, Recipe("numpy"), prepare)
    arrays = dict(np.load(io.BytesIO(numpy_file)))
    arrays["dense.W"] = arrays["dense.W"][:100]  # a damaged file: the dense layer is cut short
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with pytest.raises(weights_io.WeightsFileError, match=r"dense.W has shape 100 × 10 where"):
        networks.learner_from_file(buffer.getvalue(), trained["numpy"][0], prepare)
    buffer = io.BytesIO()
    torch.save([torch.zeros(3)], buffer)
    with pytest.raises(weights_io.WeightsFileError, match="other than a state dict"):
        networks.learner_from_file(buffer.getvalue(), Recipe("twin"), prepare)


def test_confusion_matrix_and_worst_mistakes_count_what_happened():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    probs = np.array([[.9, .05, .05], [.2, .7, .1], [.1, .8, .1], [.05, .05, .9],
                      [.1, .1, .8], [.6, .2, .2], [.3, .3, .4]])
    counts = confusion_matrix(labels, probs.argmax(1), 3)
    expected = np.zeros((3, 3), int)
    for t, p in zip(labels, probs.argmax(1)):
        expected[t, p] += 1
    np.testing.assert_array_equal(counts, expected)
    np.testing.assert_allclose(row_normalised(counts).sum(axis=1), 1)
    mistakes = worst_mistakes(probs, labels)
    assert [m["index"] for m in mistakes] == [3, 1, 5]  # wrong at 0.9, 0.7, 0.6
    assert mistakes[0] == {"index": 3, "label": 1, "predicted": 2, "p_predicted": 0.9,
                           "p_label": 0.05}


def photo_of(digit: np.ndarray, *, paper=225, ink_dark=True, at=(40, 90), side=150) -> Image.Image:
    """A synthetic 'photo': the digit enlarged, off centre, on a bigger sheet."""
    glyph = Image.fromarray(255 - digit if ink_dark else digit).resize((side, side),
                                                                      Image.Resampling.BICUBIC)
    sheet = Image.new("L", (420, 320), paper if ink_dark else 0)
    mask = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    sheet.paste(glyph, at, mask)
    return sheet.convert("RGB")


def test_own_digit_steps_give_an_mnist_like_digit():
    stroke = Image.new("L", (300, 400), 240)  # a pencil "1": a dark bar, off centre
    ImageDraw.Draw(stroke).line([(80, 60), (95, 300)], fill=30, width=18)
    prepared = prepare_digit(stroke.convert("RGB"))
    titles = [t for t, _ in prepared.steps]
    assert titles[0].startswith("Grey") and "Inverted" in titles[1]
    digit = prepared.digit
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    assert digit[0].max() == 0 and digit.max() > 200  # light on a black ground
    rows, cols = np.flatnonzero(digit.any(1)), np.flatnonzero(digit.any(0))
    assert rows[-1] - rows[0] + 1 == 20 and cols[-1] - cols[0] + 1 < 10  # tall box, aspect kept
    r, c = np.indices(digit.shape)
    centre = (r * digit).sum() / digit.sum(), (c * digit).sum() / digit.sum()
    assert np.allclose(centre, 13.5, atol=0.6)


def test_light_ink_on_dark_is_not_inverted_and_a_blank_photo_is_refused(split):
    prepared = prepare_digit(photo_of(split.test.images[0], ink_dark=False))
    assert not any("Inverted" in t for t, _ in prepared.steps)
    with pytest.raises(DigitError, match="No digit found"):
        prepare_digit(Image.new("RGB", (200, 200), (200, 200, 200)))


def test_photographed_test_digits_are_read_like_the_originals(trained, split):
    """Enlarged, off-centre, dark-on-light copies of test digits, prepared, are classified as
    the network classifies the originals (almost always)."""
    _, learner = trained["mnistconvnet"]
    originals = split.test.images[:60]
    prepared = np.stack([prepare_digit(photo_of(d)).digit for d in originals])
    same = (learner.logits(prepared).argmax(1) == learner.logits(originals).argmax(1)).mean()
    assert same >= 0.85


@pytest.mark.parametrize("net", list(networks.NETS))
def test_stages_follow_the_network_and_end_in_its_class_scores(trained, split, prepare, net):
    _, learner = trained[net]
    model = networks.model_of(learner)
    x = prepare(split.test.images[:1])
    found = stages(model, x)
    assert found[0].kind == "input" and found[0].output.shape == (1, 28, 28)
    np.testing.assert_allclose(found[-1].output, learner.logits(split.test.images[:1])[0],
                               rtol=1e-5, atol=1e-5)
    assert [s.output.shape for s in found if s.kind == "pool"][:2] == (
        [(8, 14, 14), (16, 7, 7)] if net != "mnistconvnet" else [(32, 14, 14), (64, 7, 7)])


@pytest.mark.parametrize("net", ["numpy", "mnistconvnet"])
def test_a_channel_is_its_input_channels_convolved_with_its_kernels(trained, split, prepare, net):
    _, learner = trained[net]
    found = stages(networks.model_of(learner), prepare(split.test.images[3:4]))
    index = [i for i, s in enumerate(found) if s.kind == "conv"][1]
    source = channel_source(found, index, channel=5)
    np.testing.assert_allclose(source.output, found[index].output[5], atol=1e-4)
    assert source.kernels.shape == (len(found[index - 1].output), 3, 3)
    assert len(source.strongest(3)) == 3
    with pytest.raises(ValueError, match="only a convolution"):
        channel_source(found, index + 1, 0)


def test_the_convolution_page_link_recomputes_the_trained_channel(trained, split, prepare):
    _, learner = trained["numpy"]
    found = stages(networks.model_of(learner), prepare(split.test.images[3:4]))
    source = channel_source(found, 1, channel=2)  # conv1: padding 1, patch at the corner
    query = convolution_query(source, 0, 0)
    patch, expected = convolution_patch(source, 0, 0)
    assert patch.shape == (1, 6, 6) and expected.shape == (4, 4)
    np.testing.assert_allclose(expected, found[1].output[2, :4, :4], atol=1e-5)
    # what the convolution page will compute from the link's numbers (rounded to 3 decimals)
    url = "convolution?" + urllib.parse.urlencode(query)
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    grid = np.array([[[float(v) for v in row.split()] for row in ch.split("\n")]
                     for ch in params["grid"].split("\n\n")])
    kernel = np.array([[[float(v) for v in row.split()] for row in ch.split("\n")]
                       for ch in params["kernel"].split("\n\n")])
    page = ops.conv2d(grid[None], kernel[None], np.array([float(params["bias"])]))[0, 0]
    np.testing.assert_allclose(page, expected, atol=0.05)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_is_the_chapters_plain_step_unless_momentum_is_asked_for(split, prepare, momentum):
    """The chapter's update_params: W −= lr·dW. Momentum is a separate setting (0 unless
    asked for), in the NumPy network and in PyTorch's optimiser alike."""
    learner = networks.build_learner(Recipe("numpy", "sgd", 0.01, momentum=momentum), prepare)
    dense = learner.network.layers[-1]
    steps = []
    for batch in (slice(0, 32), slice(32, 64)):
        before = dense.params["W"].copy()
        learner.train_step(split.train.images[batch], split.train.labels[batch])
        steps.append((dense.params["W"] - before, dense.grads["W"].copy()))
    (step1, g1), (step2, g2) = steps
    ulp = float(np.spacing(np.abs(dense.params["W"]).max()))  # float32 weights round by this
    np.testing.assert_allclose(step1, -0.01 * g1, rtol=1e-5, atol=ulp)
    np.testing.assert_allclose(step2, -0.01 * (momentum * g1 + g2), rtol=1e-5, atol=ulp)
    for net in ("twin", "mnistconvnet"):
        torch_learner = networks.build_learner(Recipe(net, "sgd", 0.01, momentum=momentum),
                                               prepare, device="cpu")
        assert torch_learner.optimizer.param_groups[0]["momentum"] == momentum


def test_momentum_belongs_to_sgd():
    with pytest.raises(ValueError, match="momentum is a setting of SGD"):
        Recipe("numpy", "adam", momentum=0.9)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Recipe("numpy", "sgd", momentum=1.0)


def test_colour_kernels_show_all_three_channels_each_kernel_on_its_own_scale():
    """First-layer kernels of a network for colour photos, drawn as AlexNet's Figure 3 draws
    them; torchvision's make_grid (normalize, scale_each) is the reference for the scaling."""
    from torchvision.utils import make_grid

    from cnnviz.figures.training import GAP, colour_kernels
    learner = networks.build_learner(Recipe("twin"), None, shape=(3, 32, 32), device="cpu")
    kernels = networks.first_layer_filters(learner)
    kernels[1] = kernels[0]
    kernels[1, 1] += 0.5  # the same red weights as kernel 0, more green
    assert kernels.shape == (8, 3, 3, 3)
    mosaic = colour_kernels(kernels, columns=4, scale=1)
    patches = [mosaic[r * (3 + GAP):r * (3 + GAP) + 3, c * (3 + GAP):c * (3 + GAP) + 3]
               for r in range(2) for c in range(4)]
    for patch, kernel in zip(patches, kernels):
        expected = make_grid(torch.tensor(kernel)[None], padding=0, normalize=True,
                             scale_each=True).permute(1, 2, 0).numpy() * 255
        np.testing.assert_allclose(patch, expected, atol=0.51)
    assert not np.array_equal(patches[0], patches[1])  # not the red channel alone
    assert (patches[1][..., 1].astype(int) - patches[1][..., 0]).mean() > 50  # greener
