"""A labelled set of photos of any size, kept compact: the form both a student's uploaded class
folders and the offline texture demo take before transfer learning.

Photos are stored encoded (JPEG or PNG bytes, at most ``MAX_SIDE`` pixels on the shorter side)
and decoded on use. A thousand 12-megapixel phone photos would need 36 GB decoded; shrunk and
encoded they need tens of MB, and decoding a 256-pixel JPEG costs about a millisecond, next to
the tens of milliseconds a backbone spends on it. Every session of the app keeps its own set,
so this is what lets several students train at once in a small container.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

MAX_SIDE = 256  # the chapter's Resize(256) before its 224 crops: nothing above it is ever used
JPEG_QUALITY = 95


def shrink(img: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    """``img`` with its shorter side at most ``max_side`` pixels, aspect ratio kept."""
    short = min(img.size)
    if short <= max_side:
        return img
    scale = max_side / short
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.BICUBIC, reducing_gap=3.0)


def encode(img: Image.Image, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    options = {"quality": JPEG_QUALITY, "subsampling": 0} if fmt == "JPEG" else {}
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB")


@dataclass(frozen=True)
class Skipped:
    """A file left out of the set, and why (for the list the page shows)."""

    name: str
    reason: str


@dataclass(frozen=True, eq=False)
class PhotoSet:
    """Photos with class labels, and the groups that must not be split apart.

    ``groups[i]`` names the source of photo ``i``: photos of one group (patches of one
    source photo of the texture demo, or uploaded near-duplicates of one picture) always land
    in the same split, so no test photo is a copy of a training photo.
    """

    classes: tuple[str, ...]  # sorted, as torchvision's ImageFolder sorts them
    labels: np.ndarray  # (N,) int64 index into classes
    names: tuple[str, ...]  # where each photo came from, for people
    encoded: tuple[bytes, ...]
    groups: np.ndarray  # (N,) int64
    # What reading the source left out (uploads only).
    not_images: int = 0  # files without an image extension in class folders
    ignored: int = 0  # __MACOSX, hidden files, files outside class folders, links
    undecodable: tuple[Skipped, ...] = ()
    source: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def counts(self) -> dict[str, int]:
        """Photos per class, by class name, in the order of ``classes``."""
        per_class = np.bincount(self.labels, minlength=len(self.classes))
        return {name: int(n) for name, n in zip(self.classes, per_class)}

    def image(self, i: int) -> Image.Image:
        return decode(self.encoded[i])

    @property
    def images(self) -> Sequence[Image.Image]:
        """The photos as RGB images, decoded when indexed."""
        return _Decoded(self)

    def imbalance(self) -> float:
        """Largest class over smallest class (1.0 for a balanced set)."""
        counts = list(self.counts.values())
        return max(counts) / max(min(counts), 1)


class _Decoded(Sequence):
    def __init__(self, photos: PhotoSet):
        self._photos = photos

    def __len__(self) -> int:
        return len(self._photos)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._photos.image(j) for j in range(*i.indices(len(self)))]
        return self._photos.image(i)
