"""Your own digit, prepared the way MNIST's digits were, so the trained network can read it.

LeCun, Cortes & Burges describe MNIST: black-and-white digits "size normalized to fit in a
20x20 pixel box while preserving their aspect ratio", anti-aliased to grey levels, then
"centered in a 28x28 image by computing the center of mass of the pixels". A photo of ink on
paper needs three steps first: grey levels, light ink on a dark ground (MNIST's polarity),
and the paper's texture removed. Every step is kept, so the page can show it. A digit drawn in
the browser arrives as a small PNG (``read_drawing`` checks it) and takes the same steps.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import numpy as np
from PIL import Image

from cnnviz import images

WORK_SIDE = 256  # photos are shrunk to this first: a digit needs no more to become 20×20
BOX, SIDE = 20, 28
INK = 0.2  # after the background is removed, fainter than this share of the darkest ink is paper
DRAWING_SIDE = 112  # the browser sends a drawing this many pixels square: 4 × 28, enough to crop
DRAWING_PREFIX = "data:image/png;base64,"
MAX_DRAWING_CHARS = 100_000  # a 112 × 112 PNG is 1–10 kB; anything near this is not a drawing
MIN_EXTENT = 0.25  # ink spanning less than this share of the pad is a dot, not a digit


class DigitError(ValueError):
    """No digit can be found in the image."""


class DrawingError(DigitError):
    """What the drawing pad sent is not a drawing, or nothing is drawn yet."""


@dataclass(frozen=True)
class Prepared:
    steps: list[tuple[str, np.ndarray]]  # (what was done, uint8 image after it)
    digit: np.ndarray  # (28, 28) uint8, light on dark, as MNIST


def prepare_digit(img: Image.Image) -> Prepared:
    """The MNIST-style 28×28 digit of an RGB image, with each step on the way."""
    grey = img.convert("L")
    grey.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS)
    x = np.asarray(grey, dtype=np.float64)
    steps = [("Grey levels", x)]
    background = np.median(x)  # most of a photo of one digit is paper
    if background > 127:
        x = 255 - x
        background = 255 - background
        steps.append(("Inverted (dark ink on light paper → light on dark)", x))
    top = np.percentile(x, 99.9)
    if top - background < 32:
        raise DigitError("No digit found: the image is almost uniform. Write the digit large, "
                         "in dark ink on light paper (or light on dark), and fill the photo "
                         "with it.")
    x = np.clip((x - background) / (top - background), 0, 1)
    x[x < INK] = 0
    steps.append(("Background removed (paper → 0, ink stretched to full range)", x * 255))
    rows, cols = np.flatnonzero(x.any(axis=1)), np.flatnonzero(x.any(axis=0))
    x = x[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    steps.append(("Cropped to the digit's bounding box", x * 255))
    scale = BOX / max(x.shape)
    size = (max(round(x.shape[1] * scale), 1), max(round(x.shape[0] * scale), 1))  # (w, h)
    small = np.asarray(Image.fromarray((x * 255).astype(np.uint8)).resize(
        size, Image.Resampling.LANCZOS), dtype=np.float64)
    steps.append((f"Scaled to fit {BOX}×{BOX}, aspect kept ({size[0]}×{size[1]})", small))
    digit = np.zeros((SIDE, SIDE))
    mass = small.sum()
    r, c = np.indices(small.shape)
    centre = ((r * small).sum() / mass, (c * small).sum() / mass)
    top_left = [int(np.clip(round((SIDE - 1) / 2 - m), 0, SIDE - n))
                for m, n in zip(centre, small.shape)]
    (r0, c0), (h, w) = top_left, small.shape
    digit[r0:r0 + h, c0:c0 + w] = small
    steps.append((f"Centred by mass in {SIDE}×{SIDE}", digit))
    steps = [(title, np.clip(a, 0, 255).astype(np.uint8)) for title, a in steps]
    return Prepared(steps, steps[-1][1])


def read_drawing(payload: object) -> Image.Image:
    """The RGB image of a drawing sent as a PNG data URL (dark ink on white, no more pixels
    than 4·DRAWING_SIDE squared), or a ``DrawingError`` saying what is wrong: the browser's
    payload is checked like an upload, and an empty pad asks for a digit."""
    if not isinstance(payload, str) or not payload.startswith(DRAWING_PREFIX):
        raise DrawingError("The drawing did not arrive as a PNG image. Press Clear and draw "
                           "the digit again.")
    if len(payload) > MAX_DRAWING_CHARS:
        raise DrawingError(f"The drawing is {len(payload):,} characters long; a drawing is "
                           f"at most {MAX_DRAWING_CHARS:,}. Press Clear and draw again.")
    try:
        data = base64.b64decode(payload[len(DRAWING_PREFIX):], validate=True)
        img = images.load_image(data, max_pixels=(4 * DRAWING_SIDE) ** 2)
    except (binascii.Error, images.ImageError) as err:
        raise DrawingError("The drawing cannot be read as an image; press Clear and draw "
                           f"again. ({err})") from None
    ink = np.asarray(img.convert("L")) < 128
    if not ink.any():
        raise DrawingError("Draw a digit: the pad is empty. Draw one digit, large, with a "
                           "finger, a pen or the mouse.")
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) < MIN_EXTENT * max(ink.shape):
        raise DrawingError("Draw a digit larger: what is drawn spans less than a quarter of "
                           "the pad, like a dot.")
    return img
