"""The offline MNIST digits as He et al.'s CIFAR networks read them: one channel, 32×32.

Each 28×28 digit gets a 2-pixel border of background, as LeNet-5's input did (LeCun et al.,
1998, pad MNIST to 32×32), so the three stages see 32, 16 and 8 pixels as on CIFAR-10. The
images stay uint8 until a learner standardises each batch with the training digits' statistics.
"""

from dataclasses import dataclass

import numpy as np
import torch

from cnnviz.train.offline_mnist import ImageSet, Standardise, mnist_split

SIZE = 32


def pad(images: np.ndarray, size: int = SIZE) -> np.ndarray:
    """(N, H, W) images centred in (N, size, size) with zeros (MNIST's background) around."""
    n, h, w = images.shape
    if h > size or w > size:
        raise ValueError(f"{h}×{w} images do not fit in {size}×{size}")
    top, left = (size - h) // 2, (size - w) // 2
    return np.pad(images, ((0, 0), (top, size - h - top), (left, size - w - left)))


@dataclass(frozen=True)
class Digits32:
    """The seeded stratified split of the offline subset, padded, with the standardisation
    fitted on its training part."""

    train: ImageSet
    validation: ImageSet
    standardise: Standardise

    def tensors(self, part: ImageSet, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``n`` images of ``part`` (all by default), standardised, as (N, 1, 32, 32)
        float32 and their labels; the split is already shuffled, so they mix all digits."""
        images, labels = part.images[:n], part.labels[:n]
        return torch.from_numpy(self.standardise(images)), torch.from_numpy(labels)


def digits32(seed: int = 0) -> Digits32:
    """The offline subset's training and validation digits (3,500 and 500 at the defaults)."""
    split = mnist_split(seed=seed)
    train, val = (ImageSet(pad(p.images), p.labels, p.classes)
                  for p in (split.train, split.validation))
    return Digits32(train, val, Standardise.fit(train.images))
