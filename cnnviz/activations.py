"""Reading what a model's layers output: the list of layers with a spatial feature map and
their readable names, a forward pass that taps any of them, and ``capture``, which keeps a
photo's taps in the activation cache that every session shares.

Taps are forward hooks, registered and removed under the bundle's lock. The model is shared
by every browser session, and per-call hooks on a shared model would otherwise capture other
sessions' tensors. torchvision's FX ``create_feature_extractor`` needs no lock, and measured
against it (bench/bench_feature_maps.py, EfficientNet-Lite0, one CPU thread) a capture
through an extractor already built is 8–25 % faster, and four threads capturing at once
finish 1.2–2 times sooner. But each new set of layers costs a trace of 0.2–0.5 s (6 to 9
captures; tracing is not thread-safe either, so it needs a lock of its own), and an extractor
returns wrong tensors where these hooks do not: for 8 of Lite0's 116 layers (a block without
shortcut is traced to a weight) and for 9 of ResNet-18's 57 (its in-place ReLU overwrites the
batch norms' outputs inside the traced graph), 3 more missing. Hooks also work for every
model, traceable or not. Tapped outputs are copied at once: ResNet's ``ReLU(inplace=True)``
and ``out += identity`` overwrite a module's output after its hook ran.
"""

import hashlib
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cnnviz import layer_names as naming
from cnnviz.activation_cache import ActivationCache
from cnnviz.models import ModelBundle

PROBE_SCALE = 1.25  # the second probe's size, relative to the model's input
FLOAT16_MAX = float(np.finfo(np.float16).max)  # 65504
# Shared by every session of the process (see cnnviz.activation_cache for its budget).
CACHE = ActivationCache()


class LayerError(ValueError):
    """A layer name the model does not have, or one without a spatial output."""


@dataclass(frozen=True)
class Layer:
    name: str  # as in model.named_modules()
    kind: str  # the module's class name
    shape: tuple[int, int, int]  # (C, H, W) of its output at the model's input size


@lru_cache(maxsize=64)
def layers(bundle: ModelBundle) -> tuple[Layer, ...]:
    """Every module whose output is a (1, C, H, W) map with H·W > 1, in execution order (a
    module is listed when it returns, so a block comes right after its last layer).

    Found by forward passes of a grey image at the model's input size and at a larger size.
    Modules called more than once per pass (a ReLU object that ResNet blocks reuse three
    times) are left out: their output is ambiguous. So are channels-last outputs, whose
    dimension 1 is a height, not channels (ConvNeXt's LayerNorm and Linear layers between two
    ``Permute``): channels are the dimension that does not change with the input's size.
    """
    calls: dict[str, list] = {}
    modules = dict(bundle.model.named_modules())

    def record(name):
        return lambda module, args, output: calls.setdefault(name, []).append(output)

    grey = Image.new("RGB", (256, 256), (128, 128, 128))
    with bundle.lock, torch.inference_mode():
        probes = [bundle.batch(grey)]
        probes.append(F.interpolate(probes[0], scale_factor=PROBE_SCALE, mode="nearest"))
        handles = [m.register_forward_hook(_this_thread_only(record(n)))
                   for n, m in modules.items() if n]
        try:
            for probe in probes:
                bundle.model(probe)
        finally:
            for handle in handles:
                handle.remove()
    return tuple(
        Layer(name, type(modules[name]).__name__, tuple(outputs[0].shape[1:]))
        for name, outputs in calls.items() if _is_feature_map(outputs, len(probes))
    )


def _is_feature_map(outputs: list, probes: int) -> bool:
    """One (N, C, H, W) output per probe, H·W > 1, with C the same for every input size."""
    return (len(outputs) == probes
            and all(isinstance(o, torch.Tensor) and o.dim() == 4 for o in outputs)
            and outputs[0].shape[2] * outputs[0].shape[3] > 1
            and len({o.shape[1] for o in outputs}) == 1)


def _this_thread_only(hook):
    """The lock keeps tapping passes apart, but a hook on the shared model also fires inside
    other sessions' plain forward passes (``classify``), which take no lock: it must ignore
    them, or it would record their tensors and splice its leaf into their graph."""
    owner = threading.get_ident()

    def guarded(module, args, output):
        if threading.get_ident() == owner:
            return hook(module, args, output)
        return None

    return guarded


def layer_names(bundle: ModelBundle) -> list[str]:
    """Names (as in ``named_modules()``) of the modules with a spatial output, in order."""
    return [layer.name for layer in layers(bundle)]


def forward_with_taps(bundle: ModelBundle, batch: torch.Tensor, names, *,
                      differentiable: str | None = None):
    """Run ``batch`` through the model and return ``(logits, {name: output})``.

    Outputs are detached copies. The output of ``differentiable`` is instead a leaf that
    requires grad, spliced into the graph, so ``torch.autograd.grad(score, taps[name])``
    differentiates only from the score back to that layer: the parameters stay frozen and
    nothing before the layer is recorded for backward.
    """
    modules = dict(bundle.model.named_modules())
    missing = [name for name in names if not name or name not in modules]
    if missing:
        raise LayerError(f"{bundle.name} has no layer {', '.join(map(repr, missing))}.")
    taps: dict[str, torch.Tensor] = {}

    def tap(name):
        def hook(module, args, output):
            if name == differentiable:
                taps[name] = output.detach().requires_grad_()
                return taps[name].clone()  # later in-place ops act on the clone, not the leaf
            taps[name] = output.detach().clone()
        return hook

    with bundle.lock, torch.set_grad_enabled(differentiable is not None):
        handles = [modules[name].register_forward_hook(_this_thread_only(tap(name)))
                   for name in names]
        try:
            logits = bundle.model(batch)
        finally:
            for handle in handles:
                handle.remove()
    return logits, taps


@lru_cache(maxsize=64)
def layer_titles(bundle: ModelBundle) -> dict[str, str]:
    """A readable, unique title for every layer of ``layers(bundle)``, such as "stage 3 ·
    block 2 · depthwise conv 5×5" (see cnnviz.layer_names)."""
    return naming.titles(bundle.name, bundle.model, layer_names(bundle))


def stage_outputs(bundle: ModelBundle) -> list[Layer]:
    """One layer per resolution, in order: the outermost block (a module with children of its
    own) whose output has that size, the last of them when several are equally outermost, or
    the last layer of that size when no block has it. The strip of these shows what a CNN does
    overall: resolution falls, channels rise."""
    modules = dict(bundle.model.named_modules())
    by_size: dict[tuple[int, int], list[Layer]] = {}
    for layer in layers(bundle):
        by_size.setdefault(layer.shape[1:], []).append(layer)
    chosen = []
    for group in by_size.values():
        blocks = [layer for layer in group if next(modules[layer.name].children(), None)]
        candidates = blocks or group
        outermost = min(layer.name.count(".") for layer in candidates)
        chosen.append([layer for layer in candidates if layer.name.count(".") == outermost][-1])
    return sorted(chosen, key=layers(bundle).index)


def image_key(img: Image.Image) -> str:
    """A hash of the pixels (and mode and size): the same photo uploaded twice, or picked in
    two sessions, is one cache entry."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{img.mode} {img.size}".encode())
    digest.update(img.tobytes())
    return digest.hexdigest()


def _preprocess_key(preprocess) -> str:
    """torchvision's transforms print their sizes, mean and std; a function its name."""
    name = getattr(preprocess, "__qualname__", None)
    return f"{preprocess.__module__}.{name}" if name else repr(preprocess)


def cache_key(bundle: ModelBundle, img: Image.Image, layer: str) -> tuple:
    """Model (two untrained instances of one architecture differ, hence the object's id),
    weights, device, preprocessing, image content, layer."""
    return _photo_key(bundle, img) + (layer,)


def _photo_key(bundle: ModelBundle, img: Image.Image) -> tuple:
    return (bundle.name, bundle.weights, str(bundle.device), id(bundle.model),
            _preprocess_key(bundle.preprocess), image_key(img))


def capture(bundle: ModelBundle, img: Image.Image, layers, *,
            cache: ActivationCache | None = CACHE,
            prefetch: bool = True) -> dict[str, np.ndarray]:
    """The outputs of ``layers`` (names from ``layer_names``; one name or several) for one
    photo, as read-only (C, H, W) arrays on the CPU, from the cache when they are there.

    Missing layers cost one forward pass on the model's device. With ``prefetch`` that pass
    also stores every other layer, as long as all of them take at most half the cache's budget:
    a pass costs the same whichever layers it taps, and a student who has seen one layer of a
    photo usually looks at the next. Values are float16 (half the bytes, 3 significant digits,
    plenty for a picture) unless a value is beyond float16's range (±65504) or not finite, in
    which case the layer is kept in float32. ``cache=None`` neither reads nor stores.
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    _check_spatial(bundle, names)
    photo = _photo_key(bundle, img)  # hashing the pixels once per call, not once per layer
    found = {}
    if cache is not None:
        found = {name: array for name in names
                 if (array := cache.get(photo + (name,))) is not None}
    missing = [name for name in names if name not in found]
    requested = set(names)
    if missing:
        tapped = _with_prefetch(bundle, missing, cache) if prefetch else missing
        _, taps = forward_with_taps(bundle, bundle.batch(img), tapped)
        for name, tensor in taps.items():
            array = compact(tensor[0])
            if cache is not None:
                cache.put(photo + (name,), array)
            if name in requested:
                found[name] = array
    return {name: found[name] for name in names}


@lru_cache(maxsize=64)
def _spatial(bundle: ModelBundle) -> frozenset[str]:
    return frozenset(layer_names(bundle))


def _check_spatial(bundle: ModelBundle, names: list[str]) -> None:
    known = _spatial(bundle)
    wrong = [name for name in names if name not in known]
    if wrong:
        raise LayerError(
            f"{bundle.name} has no layer with a spatial feature map named "
            f"{', '.join(map(repr, wrong))}; its {len(known)} such layers are listed by "
            f"activations.layer_names().")


def _with_prefetch(bundle: ModelBundle, missing: list[str],
                   cache: ActivationCache | None) -> list[str]:
    """Every layer when all of them fit in half the cache's budget (as float16), else only
    ``missing``: prefetching must not evict what it has just stored."""
    if cache is None:
        return missing
    total = sum(int(np.prod(layer.shape)) * 2 for layer in layers(bundle))
    return layer_names(bundle) if total <= cache.budget_bytes // 2 else missing


def compact(tensor: torch.Tensor) -> np.ndarray:
    """A tapped tensor as a read-only CPU array: float16 when every value is finite and
    within float16's range, float32 otherwise."""
    tensor = tensor.detach()
    low, high = torch.aminmax(tensor.float())
    fits = bool(max(-low, high) <= FLOAT16_MAX)  # False for NaN
    array = tensor.to("cpu", torch.float16 if fits else torch.float32).numpy()
    array.flags.writeable = False
    return array


def to_float32(array: np.ndarray) -> np.ndarray:
    """A captured array as float32, for arithmetic: through torch, which converts float16
    about twenty times faster than NumPy (0.15 against 3.8 ms for a 96 × 112 × 112 layer)."""
    return torch.tensor(array).float().numpy()  # a copy: from_numpy refuses read-only arrays


@lru_cache(maxsize=64)
def _normalisation(bundle: ModelBundle) -> tuple[torch.Tensor, torch.Tensor]:
    """Offset b and scale a of the preprocessing's per-channel x = a·pixel + b, read off a
    black and a white image (a resize and crop leave a uniform image uniform)."""
    black, white = (bundle.preprocess(Image.new("RGB", (64, 64), (v, v, v)))[:, :1, :1]
                    for v in (0, 255))
    return black, (white - black) / 255


def network_input(bundle: ModelBundle, img: Image.Image) -> np.ndarray:
    """The photo as the model sees it, (H, W, 3) uint8: cropped and resized by its
    preprocessing, with the normalisation undone, so a feature map lines up with it."""
    offset, scale = _normalisation(bundle)
    pixels = (bundle.preprocess(img) - offset) / scale
    return pixels.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def first_filters(bundle: ModelBundle) -> tuple[str, np.ndarray]:
    """The first convolution that reads the RGB image, and its weights (F, 3, kh, kw)."""
    for name, module in bundle.model.named_modules():
        if isinstance(module, nn.Conv2d) and module.in_channels == 3 and module.groups == 1:
            return name, module.weight.detach().to("cpu", torch.float32).numpy()
    raise LayerError(f"{bundle.name} has no convolution that reads the RGB image.")


CHANNEL_ORDERS = ("mean", "max", "index")


def rank_channels(fmap: np.ndarray, order: str = "mean") -> np.ndarray:
    """Channel indices of a (C, H, W) map, strongest first by mean or by max activation, or
    in channel order."""
    if order not in CHANNEL_ORDERS:
        raise ValueError(f"order must be one of {', '.join(CHANNEL_ORDERS)}, not {order!r}.")
    if order == "index":
        return np.arange(fmap.shape[0])
    flat = np.asarray(fmap, dtype=np.float32).reshape(fmap.shape[0], -1)
    strength = flat.mean(axis=1) if order == "mean" else flat.max(axis=1)
    return np.argsort(-strength, kind="stable")


def channel_stats(channel: np.ndarray) -> dict:
    """Summary of one (H, W) map: min, max, mean, standard deviation, the fraction of exact
    zeros (after a ReLU, the units that stay silent) and where the maximum is (row, column)."""
    values = np.asarray(channel, dtype=np.float32)
    row, col = np.unravel_index(int(np.argmax(values)), values.shape)
    return dict(min=float(values.min()), max=float(values.max()), mean=float(values.mean()),
                std=float(values.std()), zeros=float(np.mean(values == 0)),
                argmax=(int(row), int(col)))
