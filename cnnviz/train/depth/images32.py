"""Images as He et al.'s CIFAR networks read them: 32×32, one channel (digits) or three (CIFAR-10).

MNIST's 28×28 digits get a 2-pixel border of background, as LeNet-5's input did (LeCun et al.,
1998, pad MNIST to 32×32), so the three stages see 32, 16 and 8 pixels as on CIFAR-10. The
images stay uint8 until a learner standardises each batch with the training images' statistics.
"""

from dataclasses import dataclass

import numpy as np
import torch

from cnnviz.train.offline_mnist import ImageSet, Split, Standardise, mnist_split

SIZE = 32


def pad(images: np.ndarray, size: int = SIZE) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) images centred in size × size with zeros (MNIST's background)
    around them."""
    h, w = images.shape[1:3]
    if h > size or w > size:
        raise ValueError(f"{h}×{w} images do not fit in {size}×{size}")
    top, left = (size - h) // 2, (size - w) // 2
    border = [(0, 0), (top, size - h - top), (left, size - w - left)] + [(0, 0)] * (
        images.ndim - 3)
    return np.pad(images, border)


@dataclass(frozen=True)
class Images32:
    """A split's training and validation parts, padded to 32×32, with the standardisation
    fitted on the training part."""

    train: ImageSet
    validation: ImageSet
    standardise: Standardise

    @property
    def channels(self) -> int:
        return 1 if self.train.images.ndim == 3 else self.train.images.shape[-1]

    def tensors(self, part: ImageSet, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``n`` images of ``part`` (all by default), standardised, as (N, C, 32, 32)
        float32 and their labels; the splits are shuffled, so they mix all classes."""
        images, labels = part.images[:n], part.labels[:n]
        return torch.from_numpy(self.standardise(images)), torch.from_numpy(labels)


def images32(split: Split) -> Images32:
    """Any split of small images (MNIST, Fashion-MNIST, CIFAR-10) ready for the networks."""
    train, val = (ImageSet(pad(p.images), p.labels, p.classes)
                  for p in (split.train, split.validation))
    return Images32(train, val, Standardise.fit(train.images))


def digits32(seed: int = 0) -> Images32:
    """The offline subset's training and validation digits (3,500 and 500 at the defaults)."""
    return images32(mnist_split(seed=seed))
