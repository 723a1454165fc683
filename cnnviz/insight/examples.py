"""Dataset examples, the other half of Olah et al.'s feature visualisation: the patches of
the photos at hand that excite a channel most, each the receptive field of its position (from
``receptive.receptive_fields``, the chapter's recurrence run through the network)."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from cnnviz import activations, images
from cnnviz.insight.receptive import receptive_fields
from cnnviz.models import ModelBundle
from cnnviz.train.transfer import texture_demo


def photos_at_hand() -> dict[str, Image.Image]:
    """The photos every machine has: the bundled samples and the texture demo's photographs
    that are not samples already."""
    photos = {title: images.load_image(path) for title, path in images.sample_images().items()}
    return photos | {f"texture: {Path(source.photo).stem}": texture_demo.source_photo(source)
                     for _, source in texture_demo.SOURCES
                     if source.photo.startswith("textures/")}


@dataclass(frozen=True)
class Example:
    photo: str
    value: float  # the channel's activation at the position
    position: tuple[int, int]  # (row, column) in the map
    window: tuple[int, int, int, int]  # top, left, bottom, right in the network's input, clipped
    patch: np.ndarray  # that part of the photo as the network saw it, (h, w, 3) uint8


def _overlaps(a, b) -> bool:
    """Whether two windows share more than half of the smaller one's area."""
    h = min(a[2], b[2]) - max(a[0], b[0])
    w = min(a[3], b[3]) - max(a[1], b[1])
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return h > 0 and w > 0 and h * w > smaller / 2


def top_examples(bundle: ModelBundle, layer: str, channel: int,
                 photos: dict[str, Image.Image], *, count: int = 8,
                 per_photo: int = 2) -> list[Example]:
    """The ``count`` strongest positions of ``channel`` over ``photos``, at most
    ``per_photo`` from one photo and none covering most of another's window."""
    field = receptive_fields(bundle).get(layer)
    found = []
    for name, img in photos.items():
        fmap = activations.to_float32(activations.capture(bundle, img, layer)[layer])
        if not 0 <= channel < len(fmap):
            raise ValueError(f"{layer} has channels 0 to {len(fmap) - 1}, not {channel}")
        values = fmap[channel]
        seen = activations.network_input(bundle, img)
        height, width = seen.shape[:2]
        chosen = []
        for flat in np.argsort(-values, axis=None, kind="stable"):
            row, col = np.unravel_index(flat, values.shape)
            if field is None:
                window = (0, 0, height, width)
            else:
                top, bottom = field[0].window(int(row))
                left, right = field[1].window(int(col))
                window = (max(top, 0), max(left, 0), min(bottom, height), min(right, width))
            if any(_overlaps(window, other.window) for other in chosen):
                continue
            chosen.append(Example(name, float(values[row, col]), (int(row), int(col)), window,
                                  seen[window[0]:window[2], window[1]:window[3]].copy()))
            if len(chosen) == per_photo:
                break
        found += chosen
    return sorted(found, key=lambda e: -e.value)[:count]
