"""Grad-CAM, Grad-CAM++ and Layer-CAM: agreement with pytorch-grad-cam and with the papers'
formulas computed independently (plain autograd on a copy of the model, float64 NumPy), CAM
equivalence, invariances, flat maps, batches, the Adebayo sanity check, MC dropout, the
overlay, no side effects on the shared model, flat memory and thread safety."""

import copy
import dataclasses
import gc
import io
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, LayerCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from scipy.stats import spearmanr
from torch import nn

from cnnviz import activations, cam, images, models
from cnnviz.activations import LayerError
from cnnviz.cam import sanity, uncertainty
from cnnviz.figures import colours

REFERENCE = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "layercam": LayerCAM}


@pytest.fixture(scope="module")
def photos():
    return {title: images.load_image(path) for title, path in images.sample_images().items()}


def pearson(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def trainable_copy(bundle):
    """The model as pytorch-grad-cam and a plain autograd reference need it: a private copy
    whose parameters require grad."""
    with bundle.lock:
        return copy.deepcopy(bundle.model).requires_grad_(True)


def private_bundle(bundle, model):
    return dataclasses.replace(bundle, model=model.to(bundle.device), lock=threading.Lock())


def autograd_reference(model, layer, x, targets):
    """The layer's activation A and ∂y_c/∂A by plain autograd through the whole model (float64
    NumPy). The hook keeps the module's own output and hands a clone on, so a later in-place
    operation (ResNet's ``out += identity``) cannot alter A."""
    kept = {}

    def hook(module, args, output):
        kept["A"] = output
        output.retain_grad()
        return output.clone()

    handle = dict(model.named_modules())[layer].register_forward_hook(hook)
    try:
        logits = model(x)
    finally:
        handle.remove()
    logits.gather(1, torch.as_tensor(targets, device=logits.device)[:, None]).sum().backward()
    return kept["A"].detach().double().cpu().numpy(), kept["A"].grad.double().cpu().numpy()


def reference_heatmaps(acts, grads, method, size, eps=0.0):
    """The papers' formulas in float64, upsampled by OpenCV's bilinear resize (half-pixel
    centres, as ``align_corners=False``) and min-max scaled."""
    if method == "gradcam":  # Selvaraju et al. (2017), eq. 1-2
        weights = grads.mean(axis=(2, 3), keepdims=True)
    elif method == "gradcam++":  # Chattopadhyay et al. (2018), eq. 19 and eq. 7
        g2 = grads ** 2
        denominator = 2 * g2 + acts.sum(axis=(2, 3), keepdims=True) * grads ** 3 + eps
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.where(grads != 0, g2 / denominator, 0.0)
        weights = (alpha * np.maximum(grads, 0)).sum(axis=(2, 3), keepdims=True)
    else:  # Jiang et al. (2021), eq. 5
        weights = np.maximum(grads, 0)
    maps = np.maximum((weights * acts).sum(axis=1), 0)
    result = []
    for m in maps:
        up = cv2.resize(m, size[::-1], interpolation=cv2.INTER_LINEAR)
        span = up.max() - up.min()
        result.append((up - up.min()) / span if span > 0 else np.zeros_like(up))
    return np.stack(result)


def pytorch_grad_cam(model, layer, x, targets, method):
    with REFERENCE[method](model, [dict(model.named_modules())[layer]]) as reference:
        return reference(x, [ClassifierOutputTarget(int(t)) for t in targets])


# --------------------------------------------------------- agreement with pytorch-grad-cam


@pytest.mark.parametrize("method", list(cam.METHODS))
def test_agrees_with_pytorch_grad_cam_on_the_pretrained_model(lite0, photos, method):
    """The default model at its default layer, every bundled photo, their predicted classes.
    Measured Pearson: Grad-CAM and Layer-CAM 1.0000 on all eight, Grad-CAM++ 0.998–0.9999
    (pytorch-grad-cam's epsilon, see below)."""
    batch = torch.stack([lite0.preprocess(img) for img in photos.values()])
    ours = cam.grad_cam(lite0, batch, method=method)
    assert all(r.layer == cam.default_layer(lite0) == "_head_act" for r in ours)
    theirs = pytorch_grad_cam(trainable_copy(lite0), ours[0].layer, batch,
                              [r.target for r in ours], method)
    for title, result, reference in zip(photos, ours, theirs):
        assert pearson(result.heatmap, reference) >= 0.99, (title, method)


@pytest.mark.parametrize("name", ["vgg16", "alexnet"])
def test_every_bundled_photo_agrees_with_pytorch_grad_cam_at_the_default_layer(photos, name):
    """VGG-16 and AlexNet (random weights: no download) at their last convolution's ReLU.
    Measured Pearson 1.0000 on all eight photos for both."""
    bundle = models.load_model(name, pretrained=False)
    batch = torch.stack([bundle.preprocess(img) for img in photos.values()])
    ours = cam.grad_cam(bundle, batch)
    theirs = pytorch_grad_cam(trainable_copy(bundle), cam.default_layer(bundle), batch,
                              [r.target for r in ours], "gradcam")
    for title, result, reference in zip(photos, ours, theirs):
        assert pearson(result.heatmap, reference) >= 0.99, title


@pytest.mark.parametrize("name", ["resnet18", "alexnet"])
@pytest.mark.parametrize("method", list(cam.METHODS))
def test_agrees_with_pytorch_grad_cam_on_random_torchvision_models(photos, name, method):
    """Two architectures whose random-weight gradients are large enough for pytorch-grad-cam's
    epsilon not to matter (see the next test). Measured Pearson with it on these photos:
    Grad-CAM and Layer-CAM 1.0000 on all seven torchvision models tried; Grad-CAM++ ≥ 0.999 on
    these two, but 0.90–0.99 on MobileNet-V3, EfficientNet-B0, GoogLeNet and ConvNeXt-T (and
    on MobileNet-V2 for some classes), whose last-stage gradients are small enough for g² to
    be of the order of that epsilon."""
    bundle = models.load_model(name, pretrained=False)
    titles = ("Cat (Chelsea)", "Espresso cup")
    batch = torch.stack([bundle.preprocess(photos[t]) for t in titles])
    ours = cam.grad_cam(bundle, batch, method=method)
    theirs = pytorch_grad_cam(trainable_copy(bundle), ours[0].layer, batch,
                              [r.target for r in ours], method)
    for result, reference in zip(ours, theirs):
        assert pearson(result.heatmap, reference) >= 0.99


def test_grad_cam_plus_plus_follows_eq_19_and_the_reference_differs_only_by_its_epsilon(
        lite0, photos):
    """pytorch-grad-cam adds 1e-6 to eq. 19's denominator. The gradients of EfficientNet-Lite0
    at its last stage are about 1e-3, so g² is of the order of that epsilon and the reference
    drifts from eq. 19 on some photos (Pearson 0.986 with us on this one). Ours equals eq. 19
    computed independently; theirs equals eq. 19 plus their epsilon."""
    img = photos["Cameraman with tripod"]
    x = lite0.batch(img)
    ours = cam.grad_cam(lite0, img, method="gradcam++")
    model = trainable_copy(lite0)
    acts, grads = autograd_reference(model, ours.layer, x, [ours.target])
    exact = reference_heatmaps(acts, grads, "gradcam++", x.shape[-2:])[0]
    with_eps = reference_heatmaps(acts, grads, "gradcam++", x.shape[-2:], eps=1e-6)[0]
    theirs = pytorch_grad_cam(model, ours.layer, x, [ours.target], "gradcam++")[0]
    assert pearson(ours.heatmap, exact) > 0.9999
    assert np.abs(ours.heatmap - exact).max() < 1e-3
    assert pearson(theirs, with_eps) > 0.9999


@pytest.mark.parametrize("method", list(cam.METHODS))
def test_equals_the_formulas_computed_independently(lite0, photos, method):
    img = photos["Astronaut"]
    x = lite0.batch(img)
    target = 817  # sports car: a wrong class, so the map is not just the top class's
    ours = cam.grad_cam(lite0, img, target=target, method=method)
    acts, grads = autograd_reference(trainable_copy(lite0), ours.layer, x, [target])
    reference = reference_heatmaps(acts, grads, method, x.shape[-2:])[0]
    assert np.abs(ours.heatmap - reference).max() < 1e-3
    assert ours.feature_map.shape == acts.shape[2:]


def test_an_activation_changed_in_place_later_still_gives_the_right_map(resnet18, photos):
    """ResNet's ``out += identity`` overwrites ``bn2``'s output after its hook ran; a
    library that keeps a view of it (pytorch-grad-cam's ``.cpu().detach()`` on the CPU) gets
    the sum instead."""
    x = resnet18.batch(photos["Rocket launch"])
    layer = "layer4.1.bn2"
    ours = cam.grad_cam(resnet18, x[0], target=5, layer=layer)
    acts, grads = autograd_reference(trainable_copy(resnet18), layer, x, [5])
    assert np.abs(ours.heatmap - reference_heatmaps(acts, grads, "gradcam",
                                                    x.shape[-2:])[0]).max() < 1e-3


# ---------------------------------------------------------------------- the formula itself


def test_grad_cam_equals_cam_from_the_linear_layer(resnet18, photos):
    """ResNet ends in global average pooling and a linear layer, so α_k = w_ck / (h·w) and
    Grad-CAM is CAM (Zhou et al., 2016) up to scale: ReLU(Σ_k w_ck A_k)."""
    x = resnet18.batch(photos["Espresso cup"])
    features = {}
    model = copy.deepcopy(resnet18.model)
    model.layer4.register_forward_hook(lambda m, a, out: features.setdefault("A", out.clone()))
    with torch.no_grad():
        model(x)
    acts = features["A"][0].double().cpu().numpy()
    weights = resnet18.model.fc.weight.detach().double().cpu().numpy()
    for target in (0, 281, 999):
        cam_map = np.maximum(np.tensordot(weights[target], acts, axes=1), 0)
        up = cv2.resize(cam_map, (224, 224), interpolation=cv2.INTER_LINEAR)
        spread = up.max() - up.min()  # a class no location supports has a flat, zero map
        expected = (up - up.min()) / spread if spread > 0 else np.zeros_like(up)
        ours = cam.grad_cam(resnet18, x[0], target=target, layer="layer4")
        assert np.abs(ours.heatmap - expected).max() < 1e-4


class Affine(nn.Module):
    def __init__(self, scale, shift):
        super().__init__()
        self.scale, self.shift = scale, shift

    def forward(self, x):
        return x * self.scale + self.shift


@pytest.mark.parametrize("method,scale", [("gradcam", 3.7), ("layercam", 3.7),
                                          ("gradcam++", 1.0)])
def test_shifting_and_scaling_the_score_leaves_the_map_unchanged(lite0, photos, method, scale):
    """A constant added to the score leaves its gradient alone; a positive factor scales
    Grad-CAM's and Layer-CAM's maps, which the normalisation removes. Grad-CAM++ is not
    scale-invariant by design (eq. 19 mixes g² and g³), so it gets the shift only."""
    x = lite0.batch(photos["Cat (Chelsea)"])
    with lite0.lock:
        wrapped = nn.Sequential(copy.deepcopy(lite0.model), Affine(scale, 5.0))
    layer = "0." + cam.default_layer(lite0)
    original = cam.grad_cam(lite0, x[0], target=281, method=method)
    changed = cam.grad_cam(private_bundle(lite0, wrapped), x[0], target=281, layer=layer,
                           method=method)
    assert changed.score == pytest.approx(original.score * scale + 5.0, rel=1e-5)
    np.testing.assert_allclose(changed.heatmap, original.heatmap, atol=1e-5)


def test_a_flat_map_comes_back_as_zeros_not_nan(lite0, photos):
    """On Grace Hopper, Grad-CAM++ at the head's batch norm (before its ReLU6, so 91 % of its
    values are negative) finds no positive evidence for "academic gown": every weighted sum is
    ≤ 0. pytorch-grad-cam gives zeros too."""
    img = photos["Grace Hopper"]
    result = cam.grad_cam(lite0, img, layer="_bn1", method="gradcam++")
    assert np.isfinite(result.heatmap).all() and not result.heatmap.any()
    assert np.isfinite(result.feature_map).all() and not result.feature_map.any()
    theirs = pytorch_grad_cam(trainable_copy(lite0), result.layer, lite0.batch(img),
                              [result.target], "gradcam++")
    assert not theirs.any()


def test_results_are_scaled_and_sized_and_say_what_they_are(lite0, photos):
    img = photos["Espresso cup"]
    result = cam.grad_cam(lite0, img)
    probabilities = torch.inference_mode()(lite0.model)(lite0.batch(img)).softmax(1)[0]
    assert result.target == int(probabilities.argmax())
    assert result.category == lite0.categories[result.target] == "espresso"
    assert result.probability == pytest.approx(float(probabilities.max()), abs=1e-5)
    assert result.layer == "_head_act" and result.method == "gradcam"
    assert result.heatmap.shape == (224, 224) and result.feature_map.shape == (7, 7)
    assert result.heatmap.min() == 0 and result.heatmap.max() == 1


def test_a_batch_equals_single_calls(resnet18, photos):
    """At ResNet's last stage, which global average pooling and a linear layer follow, the
    gradient is smooth in the activations. At a layer with a ReLU6 after it (EfficientNet-
    Lite0's head batch norm), the ~1e-5 by which float32 batched and single convolutions differ
    can flip a gradient mask and move the weak map of an unlikely class by a per cent or two,
    which says nothing about batching."""
    titles = ("Cat (Chelsea)", "Brick wall", "Rocket launch")
    imgs = [photos[t] for t in titles]
    targets = [281, 404, 999]
    for method in cam.METHODS:
        batch = cam.grad_cam(resnet18, imgs, target=targets, method=method)
        for img, target, result in zip(imgs, targets, batch):
            single = cam.grad_cam(resnet18, img, target=target, method=method)
            assert result.target == single.target == target
            # On a GPU, cuDNN picks kernels by batch size, and a map scaled by its own minimum
            # and maximum magnifies their rounding where it is nearly flat.
            tolerance = 1e-5 if resnet18.device.type == "cpu" else 1e-3
            np.testing.assert_allclose(result.heatmap, single.heatmap, atol=tolerance)
            assert result.score == pytest.approx(single.score, rel=1e-5)


# The last convolution's activated output of every zoo model (Selvaraju et al., 2017, read
# VGG-16's conv5_3 after its ReLU). ResNet's stage ends in ReLU(residual sum); MobileNet's and
# EfficientNet-B0's ``features`` end in a conv-norm-activation unit; GoogLeNet's inception
# concatenates activated branches; ConvNeXt's stage output, a residual sum, is what its head
# reads. Not ``features`` for VGG and AlexNet: that is the max pool after the ReLU.
DEFAULT_LAYERS = {
    "efficientnet_lite0": "_head_act", "resnet18": "layer4", "resnet50": "layer4",
    "vgg16": "features.29", "alexnet": "features.11", "googlenet": "inception5b",
    "mobilenet_v2": "features", "mobilenet_v3_large": "features",
    "efficientnet_b0": "features", "convnext_tiny": "features",
}


def test_every_zoo_model_defaults_to_its_last_convolution_activated():
    assert set(DEFAULT_LAYERS) == set(models.available_models())
    for name, layer in DEFAULT_LAYERS.items():
        assert cam.default_layer(models.load_model(name, pretrained=False)) == layer, name


def taps(bundle, img, names):
    with torch.inference_mode():
        return activations.forward_with_taps(bundle, bundle.batch(img), names)[1]


def test_lite0s_default_is_the_head_activated_and_what_the_classifier_reads(lite0, photos):
    """Not the head's batch norm (88–94 % negative on the bundled photos): its ReLU6, whose
    average over positions is the vector the linear classifier reads."""
    img = photos["Cat (Chelsea)"]
    layer = cam.default_layer(lite0)
    out = taps(lite0, img, ["_bn1", layer])
    torch.testing.assert_close(out[layer], out["_bn1"].clamp(0, 6))
    assert (out["_bn1"] < 0).float().mean() > 0.5
    with torch.inference_mode():
        logits = lite0.model(lite0.batch(img))
        from_map = lite0.model._fc(out[layer].mean(dim=(2, 3)))
    torch.testing.assert_close(from_map, logits, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name, conv, size", [("vgg16", 28, 14), ("alexnet", 10, 13)])
def test_vgg_and_alexnet_default_to_the_last_conv_after_its_relu(photos, name, conv, size):
    """VGG-16's conv5_3 (``features.28``) and AlexNet's conv5 (``features.10``), after their
    ReLU, at full resolution: the max pool after them halves the map."""
    bundle = models.load_model(name, pretrained=False)
    layer = cam.default_layer(bundle)
    out = taps(bundle, photos["Espresso cup"], [f"features.{conv}", layer, "features"])
    assert isinstance(bundle.model.features[conv], nn.Conv2d)
    torch.testing.assert_close(out[layer], out[f"features.{conv}"].relu())
    assert out[layer].shape[-2:] == (size, size) and out["features"].shape[-1] < size


def assert_same_result(got, expected, device):
    """Bit for bit on the CPU: the same computation, only shared. On a GPU, cuDNN picks its
    kernels by the shapes it is given, so a pass over several classes rounds differently from
    a pass over one: equal to float32 precision there."""
    assert (got.target, got.category, got.layer, got.method) == (
        expected.target, expected.category, expected.layer, expected.method)
    if device.type == "cpu":
        assert np.array_equal(got.heatmap, expected.heatmap)
        assert np.array_equal(got.feature_map, expected.feature_map)
        assert (got.score, got.probability) == (expected.score, expected.probability)
        return
    np.testing.assert_allclose(got.heatmap, expected.heatmap, rtol=1e-5, atol=1e-5)
    # the unscaled map sums a whole layer's channels: float32 rounding of thousands of terms
    np.testing.assert_allclose(got.feature_map, expected.feature_map, rtol=1e-4, atol=1e-4)
    assert got.score == pytest.approx(expected.score, rel=1e-5)


ONE_PASS_CASES = {
    # the page's depth strip and a mid-stage layer
    "efficientnet_lite0": ("_blocks.0", "_blocks.2", "_blocks.4", "_blocks.7", "_blocks.10",
                           "_blocks", "_bn1"),
    # a batch norm whose output `out += identity` then changes in place, and the stages
    "resnet18": ("layer1.0.bn2", "layer1", "layer2", "layer3", "layer4"),
    # parallel branches: the later ones do not depend on the first, each becomes a leaf
    "googlenet": ("inception3a.branch1", "inception3a.branch2", "inception3a.branch4",
                  "inception3a", "inception4e"),
}


@pytest.mark.parametrize("name", list(ONE_PASS_CASES))
def test_one_pass_over_several_layers_and_classes_equals_one_call_each(lite0, name, photos):
    bundle = lite0 if name == "efficientnet_lite0" else models.load_model(name,
                                                                          pretrained=False)
    img = photos["Rocket launch"]
    layers = ONE_PASS_CASES[name]
    predicted = cam.grad_cam(bundle, img, layer=layers[-1]).target
    targets = (predicted, 281, 404)
    for method in cam.METHODS:
        many = cam.grad_cams(bundle, img, targets, layers, method)
        assert list(many) == [(t, layer) for t in targets for layer in layers]
        for (target, layer), result in many.items():
            assert_same_result(result, cam.grad_cam(bundle, img, target=target, layer=layer,
                                                    method=method), bundle.device)


def test_one_pass_records_nothing_before_the_first_layer_and_leaves_the_model_alone(lite0,
                                                                                     photos):
    before = model_state(lite0.model)
    x = lite0.batch(photos["Cat (Chelsea)"])
    logits, taps = activations.forward_with_taps(lite0, x, [], differentiable=[
        "_blocks.10", "_blocks.2", "_bn1"])
    assert taps["_blocks.2"].is_leaf and taps["_blocks.2"].requires_grad
    assert not taps["_blocks.10"].is_leaf and not taps["_bn1"].is_leaf  # in the graph
    grads = torch.autograd.grad(logits[0, 5], [taps[n] for n in ("_blocks.2", "_bn1")])
    assert all(g.abs().sum() > 0 for g in grads)
    after = model_state(lite0.model)
    assert after["hooks"] == 0 and all(g is None for g in after["grads"])
    assert after["requires_grad"] == before["requires_grad"]


def test_one_pass_refuses_a_batch_and_checks_its_layers(lite0, photos):
    img = photos["Cat (Chelsea)"]
    with pytest.raises(ValueError, match="one photo"):
        cam.grad_cams(lite0, [img, img], (1,), ("_bn1",))
    with pytest.raises(LayerError, match="no spatial extent"):
        cam.grad_cams(lite0, img, (1,), ("_bn1", "_avg_pooling"))
    with pytest.raises(ValueError, match="Class 1000 does not exist"):
        cam.grad_cams(lite0, img, (1, 1000), ("_bn1",))


def test_bad_requests_raise_specific_errors(lite0, photos):
    img = photos["Cat (Chelsea)"]
    with pytest.raises(ValueError, match="gradcam, gradcam\\+\\+, layercam"):
        cam.grad_cam(lite0, img, method="scorecam")
    with pytest.raises(ValueError, match="Class 1000 does not exist.*0 to 999"):
        cam.grad_cam(lite0, img, target=1000)
    with pytest.raises(ValueError, match="2 targets for 1 images"):
        cam.grad_cam(lite0, [img], target=[1, 2])
    with pytest.raises(LayerError, match="no spatial extent: its output is 1280 × 1 × 1"):
        cam.grad_cam(lite0, img, layer="_avg_pooling")
    with pytest.raises(LayerError, match="no spatial extent: its output is 1000"):
        cam.grad_cam(lite0, img, layer="_fc")
    with pytest.raises(LayerError, match="more than once"):
        cam.grad_cam(lite0, img, layer="_blocks.1.act")
    with pytest.raises(LayerError, match="no layer 'layer4'"):
        cam.grad_cam(lite0, img, layer="layer4")
    with pytest.raises(ValueError, match="PIL image"):
        cam.grad_cam(lite0, "cat.jpg")


# ------------------------------------------------------------------- Adebayo sanity check


def test_spearman_matches_scipy():
    rng = np.random.default_rng(0)
    a = np.maximum(rng.normal(size=(20, 20)), 0)  # many ties at zero, as after a ReLU
    b = np.maximum(a + rng.normal(scale=0.7, size=a.shape), 0)
    assert sanity.spearman(a, b) == pytest.approx(spearmanr(a.ravel(), b.ravel())[0], abs=1e-12)
    assert sanity.spearman(a, np.zeros_like(a)) == 0.0


@pytest.mark.parametrize("method, passes", [("gradcam", True), ("layercam", False)])
def test_randomising_every_layer_destroys_grad_cams_map_only(lite0, photos, method, passes):
    """Adebayo et al. (2018): with every unit re-initialised from the top down, a faithful
    map's rank correlation with the trained one falls below 0.2 (on average over the bundled
    photos: one photo's value has a spread of about ±0.2, since a 7 × 7 map has few
    independent cells). Grad-CAM passes at the default layer (mean −0.02). Layer-CAM (0.41)
    and Grad-CAM++ (0.38) do not: at an activated layer both their weights and the maps they
    weight are never negative, so their map follows where activations are large, trained or
    not. (At the batch norm before the ReLU6, whose values are mostly negative, Layer-CAM
    passed: −0.09.) The check must tell the two apart."""
    count = len(sanity.units(lite0.model))
    values = []
    for img in photos.values():
        steps = sanity.cascading_randomisation(lite0, img, method=method, checkpoints=[count])
        assert [s.count for s in steps] == [0, count] and steps[-1].unit == "_conv_stem"
        values.append(steps[-1].spearman)
    assert (np.mean(values) < 0.2) == passes, values


def test_the_cascade_goes_from_the_top_down_on_a_copy(lite0, photos):
    img = photos["Cat (Chelsea)"]
    before = {k: v.clone() for k, v in lite0.model.state_dict().items()}
    steps = sanity.cascading_randomisation(lite0, img, checkpoints=[1, 2, 3])
    assert [s.unit for s in steps] == ["", "_fc", "_bn1", "_conv_head"]
    np.testing.assert_array_equal(steps[0].heatmap, cam.grad_cam(lite0, img).heatmap)
    assert steps[1].spearman < 0.99  # a random classifier already changes Grad-CAM's map
    assert all(torch.equal(before[k], v) for k, v in lite0.model.state_dict().items())


def test_units_run_from_the_output_to_the_input(resnet18):
    assert sanity.units(resnet18.model) == [
        "fc", "layer4.1", "layer4.0", "layer3.1", "layer3.0", "layer2.1", "layer2.0",
        "layer1.1", "layer1.0", "bn1", "conv1"]


# -------------------------------------------------------------------------------- MC dropout


def test_mc_dropout_matches_an_independent_monte_carlo(lite0, photos):
    """EfficientNet-Lite0's only dropout sits between the pooled features and the classifier,
    so the passes can be redone by hand: F.dropout on the pooled features, 4,000 times."""
    img = photos["Cat (Chelsea)"]
    spreads = uncertainty.mc_dropout(lite0, img, passes=400, k=3)
    assert [s.name for s in spreads][:1] == ["tiger cat"]
    pooled = {}
    model = copy.deepcopy(lite0.model)
    model._avg_pooling.register_forward_hook(lambda m, a, out: pooled.setdefault("f", out))
    with torch.no_grad():
        model(lite0.batch(img))
        features = pooled["f"].flatten(1).expand(4000, -1)
        torch.manual_seed(0)
        probs = model._fc(F.dropout(features, p=0.2, training=True)).softmax(1)
    for s in spreads:
        assert s.mean == pytest.approx(float(probs[:, s.index].mean()), abs=0.02)
        assert s.std == pytest.approx(float(probs[:, s.index].std()), rel=0.25)
    assert uncertainty.dropout_rates(lite0) == (0.2,)


def test_mc_dropout_batches_the_passes_and_leaves_the_shared_model_alone(lite0, photos):
    img = photos["Espresso cup"]
    twin = uncertainty._twin(lite0)
    assert all(a is b for a, b in zip(twin.model.parameters(), lite0.model.parameters()))
    calls = []
    handles = [twin.model._conv_stem.register_forward_hook(
                   lambda m, a, out: calls.append(("stem", out.shape[0]))),
               twin.model._fc.register_forward_hook(
                   lambda m, a, out: calls.append(("fc", out.shape[0])))]
    expected = lite0.classify(img)
    results = []
    worker = threading.Thread(target=lambda: results.append(
        uncertainty.mc_dropout(lite0, img, passes=50)))
    try:
        worker.start()
        while worker.is_alive():  # the shared model stays deterministic meanwhile
            for (i, _, p), (j, _, q) in zip(lite0.classify(img), expected):
                assert i == j and p == pytest.approx(q, abs=1e-6)
        worker.join()
    finally:
        for handle in handles:
            handle.remove()
    assert calls == [("stem", 1), ("fc", 50)]  # one pass through the body, 50 through the head
    assert len(results) == 1 and results[0][0].std > 0
    assert not any(m.training for m in lite0.model.modules())


def test_mc_dropout_needs_dropout_and_two_passes(resnet18, lite0, photos):
    with pytest.raises(uncertainty.NoDropoutError, match="resnet18 has no dropout layer"):
        uncertainty.mc_dropout(resnet18, photos["Cat (Chelsea)"])
    with pytest.raises(ValueError, match="at least 2 passes"):
        uncertainty.mc_dropout(lite0, photos["Cat (Chelsea)"], passes=1)


def test_mc_dropout_samples_only_the_head_of_every_zoo_model_with_dropout(lite0):
    """Where dropout acts decides what the spread measures: in every zoo model it reads the
    pooled, flattened features, so MC dropout is a last-layer approximation. A network with
    dropout between convolutions is told apart."""
    assert uncertainty.samples_head_only(lite0)
    assert lite0.model._dropout.p == 0.2
    for name in ("vgg16", "alexnet", "googlenet", "mobilenet_v2", "mobilenet_v3_large",
                 "efficientnet_b0"):
        bundle = models.load_model(name, pretrained=False)
        dropouts = [m for m in bundle.model.modules() if isinstance(m, nn.Dropout)]
        assert dropouts and uncertainty.samples_head_only(bundle), name
    body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout2d(0.1), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Dropout(0.5), nn.Linear(4, 1000)).eval()
    assert not uncertainty.samples_head_only(private_bundle(lite0, body))


# --------------------------------------------------------------------------------- overlays


def test_overlay_blends_the_colour_map_over_the_photo():
    photo = np.random.default_rng(1).integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
    heatmap = np.tile(np.linspace(0, 1, 60, dtype=np.float32), (40, 1))
    np.testing.assert_array_equal(colours.overlay(photo, heatmap, opacity=0.0), photo)
    full = colours.overlay(photo, heatmap, "viridis", opacity=1.0)
    # viridis runs from dark purple (68, 1, 84) to yellow (253, 231, 37): Matplotlib's table
    np.testing.assert_allclose(full[0, 0], [68, 1, 84], atol=2)
    np.testing.assert_allclose(full[0, -1], [253, 231, 37], atol=2)
    half = colours.overlay(photo, heatmap, "viridis", opacity=0.5).astype(int)
    assert np.abs(half - (photo.astype(int) + full) / 2).max() <= 1
    small = colours.overlay(photo, heatmap[::4, ::4], "viridis", opacity=1.0)
    assert small.shape == photo.shape  # a coarse map is resized to the photo


def test_png_download_decodes_to_the_same_pixels():
    rgb = np.random.default_rng(2).integers(0, 256, size=(30, 50, 3), dtype=np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(colours.png_bytes(rgb))))
    assert decoded.shape == rgb.shape
    np.testing.assert_array_equal(decoded, rgb)


def test_overlay_rejects_bad_input():
    photo = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="between 0 and 1, not 1.5"):
        colours.overlay(photo, np.zeros((4, 4)), opacity=1.5)
    with pytest.raises(ValueError, match="Unknown colour map 'rainbow'"):
        colours.overlay(photo, np.zeros((4, 4)), "rainbow")
    with pytest.raises(ValueError, match="uint8 RGB"):
        colours.overlay(photo[..., 0], np.zeros((4, 4)))


# ------------------------------------------------ shared model: side effects, memory, threads


def model_state(model):
    return dict(
        training=[m.training for m in model.modules()],
        requires_grad=[p.requires_grad for p in model.parameters()],
        grads=[p.grad for p in model.parameters()],
        hooks=sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
                  + len(m._backward_pre_hooks) for m in model.modules()),
        weights={k: v.clone() for k, v in model.state_dict().items()},
    )


def test_no_side_effects_on_the_shared_model(lite0, photos):
    img = photos["Cat (Chelsea)"]
    before = model_state(lite0.model)
    for method in cam.METHODS:
        cam.grad_cam(lite0, img, method=method)
    with pytest.raises(LayerError):
        cam.grad_cam(lite0, img, layer="_fc")
    sanity.cascading_randomisation(lite0, img, checkpoints=[2])
    uncertainty.mc_dropout(lite0, img, passes=5)
    after = model_state(lite0.model)
    assert after["training"] == before["training"] and not any(after["training"])
    assert after["requires_grad"] == before["requires_grad"] and not any(after["requires_grad"])
    assert all(g is None for g in after["grads"]) and after["hooks"] == 0
    assert all(torch.equal(before["weights"][k], v) for k, v in after["weights"].items())


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def live_tensors() -> int:
    gc.collect()
    return sum(issubclass(type(o), torch.Tensor) for o in gc.get_objects())


def test_memory_stays_flat_over_100_calls(lite0):
    x = torch.randn(3, 96, 96, generator=torch.Generator().manual_seed(0))
    for _ in range(10):  # warm the allocator up
        cam.grad_cam(lite0, x)
    tensors, rss = live_tensors(), rss_bytes()
    for i in range(100):
        cam.grad_cam(lite0, x, target=i, method=list(cam.METHODS)[i % 3])
    assert live_tensors() == tensors
    assert rss_bytes() - rss < 20 * 2**20


def test_eight_threads_on_one_shared_model_give_the_sequential_results(lite0, photos):
    jobs = [(title, target, method)
            for title, target, method in zip(
                ["Cat (Chelsea)", "Espresso cup", "Rocket launch", "Astronaut"] * 2,
                [None, 404, 281, 817, 5, None, 999, 0], list(cam.METHODS) * 3)]
    sequential = [cam.grad_cam(lite0, photos[t], target=c, method=m) for t, c, m in jobs]
    start = threading.Barrier(len(jobs))

    def run(job):
        title, target, method = job
        start.wait()
        return cam.grad_cam(lite0, photos[title], target=target, method=method)

    with ThreadPoolExecutor(len(jobs)) as pool:
        parallel = list(pool.map(run, jobs))
    for seq, par in zip(sequential, parallel):
        assert (par.target, par.layer, par.method) == (seq.target, seq.layer, seq.method)
        np.testing.assert_allclose(par.heatmap, seq.heatmap, atol=1e-5)
