"""Grad-CAM (Selvaraju et al., 2017) and two variants: where in the image a layer's evidence for
one class lies.

The layer's activation A comes from ``activations.forward_with_taps`` as a leaf that requires
grad, so the score y_c (pre-softmax) is differentiated back to that layer only: the parameters
stay frozen, nothing before the layer is recorded, and the backward pass costs a fraction of a
full one. Each method (``cnnviz.cam.methods``) turns A and g = ∂y_c/∂A into channel weights.

The map is upsampled bilinearly (``align_corners=False``, as OpenCV and pytorch-grad-cam do;
nearest neighbour, Captum's default, differs from it by 0.46 to 0.67 at some pixel of each
bundled photo's 7 × 7 map) and min-max scaled to [0, 1]; a flat map comes back as zeros,
never NaN. Everything a call needs lives in the call, so one
shared model serves many threads (the forward pass runs under the bundle's lock).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cnnviz import activations
from cnnviz.activations import LayerError
from cnnviz.cam.methods import check_method, weighted_maps
from cnnviz.models import ModelBundle

POOLING = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.AvgPool2d, nn.MaxPool2d)


@dataclass(frozen=True, eq=False)
class CamResult:
    heatmap: np.ndarray  # (H, W) in [0, 1], at the preprocessed input's size
    feature_map: np.ndarray  # (h, w) ≥ 0, unscaled, at the layer's resolution
    target: int  # class index
    category: str  # class name
    layer: str  # module name, as in named_modules()
    method: str  # a key of cnnviz.cam.METHODS
    score: float  # the target's pre-softmax score
    probability: float  # its softmax probability


def default_layer(bundle: ModelBundle) -> str:
    """The last convolution's activated output, where Selvaraju et al. read Grad-CAM (VGG-16's
    conv5_3 after its ReLU, 14 × 14): the last layer with a map that neither is a pooling
    layer nor ends in one. VGG's and AlexNet's ``features`` end in a max pool, which only
    subsamples that ReLU's map. A residual stage's output (ResNet, ConvNeXt) is what the head
    reads, and a block that ends in its activation (MobileNet's last 1×1 conv unit, GoogLeNet's
    inception) is already activated."""
    modules = dict(bundle.model.named_modules())
    pooled: set[str] = set()
    previous = ""
    for layer in activations.layers(bundle):  # a container is listed right after its last layer
        ends_in_pooling = previous in pooled and previous.startswith(layer.name + ".")
        if isinstance(modules[layer.name], POOLING) or ends_in_pooling:
            pooled.add(layer.name)
        previous = layer.name
    spatial = [name for name in activations.layer_names(bundle) if name not in pooled]
    if not spatial:
        raise LayerError(f"{bundle.name} has no layer with a spatial output.")
    return spatial[-1]


def depth_layers(bundle: ModelBundle, layer: str) -> list[str]:
    """The layers of a "through the depth" strip: the last layer of each resolution and
    ``layer``, from the input side to the output side."""
    names = activations.layer_names(bundle)
    stages = {stage.name for stage in activations.stage_outputs(bundle)}
    return sorted(stages | {layer}, key=names.index)


def check_layer(bundle: ModelBundle, name: str) -> str:
    """``name`` when Grad-CAM can use it; a ``LayerError`` saying why not otherwise."""
    if name in activations.layer_names(bundle):
        return name
    modules = dict(bundle.model.named_modules())
    if not name or name not in modules:
        raise LayerError(f"{bundle.name} has no layer {name!r}.")
    grey = Image.new("RGB", (224, 224), (128, 128, 128))
    try:
        with torch.inference_mode():
            _, taps = activations.forward_with_taps(bundle, bundle.batch(grey), [name])
    except AttributeError:  # the tap met a tuple or another non-tensor output
        taps = {}
    output = taps.get(name)
    if not isinstance(output, torch.Tensor):
        raise LayerError(f"Layer {name!r} of {bundle.name} does not run in a forward pass or "
                         f"outputs no tensor, so it has no map to show.")
    shape = " × ".join(map(str, output.shape[1:]))
    if output.dim() == 4 and output.shape[2] * output.shape[3] > 1:
        raise LayerError(f"Layer {name!r} of {bundle.name} either runs more than once per "
                         f"forward pass (its output is ambiguous) or outputs channels last "
                         f"({shape} is not channels × height × width), so it has no map. "
                         f"Pick a layer from the list.")
    raise LayerError(f"Layer {name!r} of {bundle.name} has no spatial extent: its output is "
                     f"{shape}, so there is no map to show. Pick a layer before the global "
                     f"pooling.")


def grad_cam(bundle: ModelBundle, img, target=None, layer: str | None = None,
             method: str = "gradcam"):
    """The class-activation map of ``target`` (default: the top prediction) at ``layer``
    (default: ``default_layer``) by ``method`` (a key of ``cnnviz.cam.METHODS``).

    ``img`` is a PIL image, a sequence of them, or a preprocessed (3, H, W) / (N, 3, H, W)
    tensor; ``target`` an int, or one int per image. One image gives one ``CamResult``, a batch
    a list of them, computed in one forward and one backward pass.
    """
    check_method(method)
    batch, single = _as_batch(bundle, img)
    layer = default_layer(bundle) if layer is None else check_layer(bundle, layer)
    results = class_maps(bundle, batch, target, layer, method)
    return results[0] if single else results


def grad_cams(bundle: ModelBundle, img, targets, layers, method: str = "gradcam"
              ) -> dict[tuple[int, str], CamResult]:
    """The maps of one photo for every class in ``targets`` at every layer in ``layers``, as
    ``{(target, layer): CamResult}``, equal to ``grad_cam`` called for each pair.

    One forward pass taps every layer, and one backward pass per class reaches all of them at
    once (it runs back to the earliest layer, so each later layer's gradient comes on the
    way): a page's depth strip costs one pass where layer-by-layer calls cost one per layer,
    and two classes at one layer share their forward pass.
    """
    check_method(method)
    batch, single = _as_batch(bundle, img)
    if not single:
        raise ValueError("grad_cams takes one photo; grad_cam takes a batch.")
    layers = [check_layer(bundle, layer) for layer in dict.fromkeys(layers)]
    targets = list(dict.fromkeys(int(target) for target in targets))
    passes = _maps(bundle, batch, targets, layers, method)
    return {(target, layer): by_layer[layer][0]
            for target, by_layer in zip(targets, passes) for layer in layers}


def class_maps(bundle: ModelBundle, batch: torch.Tensor, target, layer: str,
               method: str) -> list[CamResult]:
    """``grad_cam`` on a preprocessed batch and a layer taken as valid (the sanity check runs
    it on private copies of a model, whose layer list is not worth caching)."""
    return _maps(bundle, batch, [target], [layer], method)[0][layer]


def _maps(bundle: ModelBundle, batch: torch.Tensor, targets: list, layers: list[str],
          method: str) -> list[dict[str, list[CamResult]]]:
    """One forward pass of ``batch`` tapping ``layers``, then one backward pass per entry of
    ``targets`` (None for the top prediction, a class, or one class per sample): for each,
    every layer's maps, one per sample."""
    logits, taps = activations.forward_with_taps(bundle, batch, layers, differentiable=layers)
    for layer in layers:
        if taps[layer].dim() != 4:
            raise LayerError(f"Layer {layer!r} outputs shape {tuple(taps[layer].shape)}, "
                             f"not a map.")
    passes = []
    for number, target in enumerate(targets):
        indices = _targets(target, logits)
        scores = logits.gather(1, indices[:, None])[:, 0]
        # Samples are independent in eval mode, so one sum differentiates them all.
        grads = torch.autograd.grad(scores.sum(), [taps[layer] for layer in layers],
                                    retain_graph=number < len(targets) - 1)
        with torch.no_grad():
            probs = logits.softmax(dim=1).gather(1, indices[:, None])[:, 0]
        passes.append({layer: _results(bundle, batch, taps[layer].detach(), g, indices,
                                       scores.detach(), probs, layer, method)
                       for layer, g in zip(layers, grads)})
    return passes


@torch.no_grad()
def _results(bundle: ModelBundle, batch: torch.Tensor, acts: torch.Tensor,
             grads: torch.Tensor, targets: torch.Tensor, scores: torch.Tensor,
             probs: torch.Tensor, layer: str, method: str) -> list[CamResult]:
    maps = weighted_maps(acts, grads, method)
    heatmaps = scale(F.interpolate(maps[:, None], size=batch.shape[-2:], mode="bilinear",
                                   align_corners=False)[:, 0])
    names = bundle.categories
    return [
        CamResult(heatmap.cpu().numpy(), fmap.cpu().numpy(), t,
                  names[t] if t < len(names) else str(t), layer, method, float(s), float(p))
        for heatmap, fmap, t, s, p in zip(heatmaps, maps, targets.tolist(), scores, probs)
    ]


def scale(maps: torch.Tensor) -> torch.Tensor:
    """Min-max scale each (h, w) map of a stack to [0, 1]; a constant map becomes zeros."""
    flat = maps.flatten(1)
    low, high = flat.min(dim=1).values, flat.max(dim=1).values
    span = (high - low)[:, None, None]
    shifted = maps - low[:, None, None]
    return torch.where(span > 0, shifted / torch.where(span > 0, span, 1.0), 0.0)


def _as_batch(bundle: ModelBundle, img) -> tuple[torch.Tensor, bool]:
    if isinstance(img, Image.Image):
        return bundle.batch(img), True
    if isinstance(img, torch.Tensor):
        if img.dim() == 3:
            return img.unsqueeze(0).to(bundle.device), True
        if img.dim() == 4:
            return img.to(bundle.device), False
        raise ValueError(f"A tensor input must be (3, H, W) or (N, 3, H, W), not "
                         f"{tuple(img.shape)}.")
    if isinstance(img, Sequence) and img and all(isinstance(i, Image.Image) for i in img):
        return torch.stack([bundle.preprocess(i) for i in img]).to(bundle.device), False
    raise ValueError(f"Give a PIL image, a non-empty list of them or a tensor, not "
                     f"{type(img).__name__}.")


def _targets(target, logits: torch.Tensor) -> torch.Tensor:
    """One class index per sample: the top prediction, one class for all, or one each."""
    n, classes = logits.shape
    if target is None:
        return logits.detach().argmax(dim=1)
    wanted = [target] * n if isinstance(target, (int, np.integer)) else list(target)
    if len(wanted) != n:
        raise ValueError(f"{len(wanted)} targets for {n} images; give one class per image.")
    bad = [t for t in wanted if not 0 <= int(t) < classes]
    if bad:
        raise ValueError(f"Class {bad[0]} does not exist: the model has classes 0 to "
                         f"{classes - 1}.")
    return torch.tensor([int(t) for t in wanted], device=logits.device)
