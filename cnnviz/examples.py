"""The chapter's worked inputs, and the other grids the convolution page starts from."""

import numpy as np
from PIL import Image

# Chapter 13, "Worked Example: 2D Convolution by Hand": 4×4 input, vertical-edge kernel.
WORKED_INPUT = np.array([[1, 2, 3, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 1, 0, 1]], dtype=float)
# Chapter 13, exercise: a 4×4 checkerboard and the 2×2 diagonal kernel [[1, 0], [0, 1]].
EXERCISE_INPUT = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]], dtype=float)
# Chapter 13, pooling code: the 4×4 map it max- and average-pools with 2×2, stride 2.
POOLING_INPUT = np.array([[1, 3, 2, 4], [2, 1, 1, 2], [4, 2, 3, 1], [1, 3, 2, 1]], dtype=float)


def random_grid(channels: int, size: int, seed: int) -> np.ndarray:
    """Small integers from −3 to 3, (channels, size, size): easy to multiply in one's head."""
    return np.random.default_rng(seed).integers(-3, 4, (channels, size, size)).astype(float)


def shrink(img: Image.Image, longest: int) -> Image.Image:
    """The photo scaled down so that its longer side is at most ``longest`` pixels, so a
    few-pixel patch shows a recognisable part of it rather than one flat colour."""
    scale = longest / max(img.size)
    if scale >= 1:
        return img
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                      Image.Resampling.LANCZOS)


def photo_patch(img: Image.Image, top: int, left: int, size: int, rgb: bool) -> np.ndarray:
    """A size×size crop at (top, left) as pixel values 0–255, (3, size, size) for RGB or
    (1, size, size) in greyscale; ValueError when it does not lie inside the image."""
    if top < 0 or left < 0 or top + size > img.height or left + size > img.width:
        raise ValueError(f"a {size}×{size} patch at row {top}, column {left} does not fit in "
                         f"a {img.width}×{img.height} image")
    crop = img.convert("RGB" if rgb else "L").crop((left, top, left + size, top + size))
    values = np.asarray(crop, dtype=float)
    return values.transpose(2, 0, 1) if rgb else values[None]
