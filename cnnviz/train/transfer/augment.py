"""The chapter's augmentation pipeline, each transform switchable, with its own random numbers.

The chapter's ``train_transform``: ``RandomResizedCrop(224, scale=(0.7, 1.0))``,
``RandomHorizontalFlip()``, ``RandomVerticalFlip()`` ("soil can be any orientation"),
``ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1)``,
``RandomRotation(30)``, ``ToTensor()``, ``Normalize(ImageNet mean, std)``. The parameters are
drawn here as torchvision draws them, but from a NumPy generator the caller owns, not from
torch's global one: one session's training then never changes the random numbers of
another's, and a seed gives the same augmented images every time.

The last step is the backbone's own normalisation, not always the chapter's: EfficientNet-Lite0
was trained on (pixel − 127) / 128 (see ``cnnviz.models``), and ImageNet's mean and standard
deviation would feed its first layer inputs with about 4.8 times the variance it expects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image

from cnnviz import models

SIZE = 224
RESIZE = 256  # the chapter's evaluation: Resize(256), CenterCrop(224)
CROP_SCALE = (0.7, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
JITTER = dict(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1)
ROTATION = 30.0
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# key -> the chapter's line, in the chapter's order
TRANSFORMS = {
    "crop": "RandomResizedCrop(224, scale=(0.7, 1.0))",
    "hflip": "RandomHorizontalFlip()",
    "vflip": "RandomVerticalFlip()",
    "jitter": "ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1)",
    "rotate": "RandomRotation(30)",
}


@dataclass(frozen=True)
class Normalisation:
    """Per-channel (x − mean) / std on pixels scaled to [0, 1], as ``transforms.Normalize``."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: str = field(compare=False)  # for people

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return (pixels - mean) / std


CHAPTER = Normalisation(IMAGENET_MEAN, IMAGENET_STD, "ImageNet mean and std (the chapter's)")


def normalisation(bundle: models.ModelBundle) -> Normalisation:
    """The normalisation ``bundle``'s weights were trained with."""
    if bundle.name == models.DEFAULT_MODEL:
        return Normalisation((127 / 255,) * 3, (128 / 255,) * 3,
                             "(pixel − 127) / 128, as EfficientNet-Lite was trained")
    mean, std = getattr(bundle.preprocess, "mean", None), getattr(bundle.preprocess, "std", None)
    if mean is None or std is None:
        raise models.ModelError(f"{bundle.name}'s preprocessing does not say how it "
                                f"normalises pixels.")
    return Normalisation(tuple(mean), tuple(std), "ImageNet mean and std (torchvision's)")


def centre(img: Image.Image) -> Image.Image:
    """The chapter's evaluation geometry: Resize(256) then CenterCrop(224)."""
    return TF.center_crop(TF.resize(img, RESIZE, antialias=True), SIZE)


def augment(img: Image.Image, rng: np.random.Generator,
            enabled=tuple(TRANSFORMS)) -> Image.Image:
    """One random draw of the chapter's pipeline (the transforms in ``enabled``), before
    ``ToTensor``: a SIZE × SIZE RGB image."""
    if "crop" in enabled:
        top, left, height, width = _crop_box(img.width, img.height, rng)
        img = TF.resized_crop(img, top, left, height, width, [SIZE, SIZE], antialias=True)
    else:
        img = centre(img)
    if "hflip" in enabled and rng.random() < 0.5:
        img = TF.hflip(img)
    if "vflip" in enabled and rng.random() < 0.5:
        img = TF.vflip(img)
    if "jitter" in enabled:
        img = _jitter(img, rng)
    if "rotate" in enabled:
        img = TF.rotate(img, float(rng.uniform(-ROTATION, ROTATION)))
    return img


def to_input(img: Image.Image, norm: Normalisation) -> torch.Tensor:
    """``ToTensor`` then the normalisation: a (3, H, W) float tensor."""
    return norm(TF.to_tensor(img))


def _crop_box(width: int, height: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(top, left, height, width) as ``RandomResizedCrop.get_params`` draws them: ten tries at
    a random area share and log-uniform aspect ratio, then a central crop."""
    area = width * height
    log_ratio = (math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]))
    for _ in range(10):
        target = area * rng.uniform(*CROP_SCALE)
        ratio = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * ratio)))
        h = int(round(math.sqrt(target / ratio)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    in_ratio = width / height
    if in_ratio < CROP_RATIO[0]:
        w, h = width, int(round(width / CROP_RATIO[0]))
    elif in_ratio > CROP_RATIO[1]:
        h, w = height, int(round(height * CROP_RATIO[1]))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def _jitter(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """``ColorJitter``: the four adjustments in a random order, each by a random factor."""
    adjust = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)
    factors = [rng.uniform(1 - JITTER[k], 1 + JITTER[k])
               for k in ("brightness", "contrast", "saturation")]
    factors.append(rng.uniform(-JITTER["hue"], JITTER["hue"]))
    for i in rng.permutation(4):
        img = adjust[i](img, float(factors[i]))
    return img


def previews(img: Image.Image, enabled=tuple(TRANSFORMS), count: int = 12,
             seed: int = 0) -> list[Image.Image]:
    """``count`` augmented versions of one image, for the page's live preview."""
    rng = np.random.default_rng(seed)
    return [augment(img, rng, enabled) for _ in range(count)]
