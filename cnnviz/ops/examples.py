"""What the convolution page starts from: the chapter's worked inputs, the classic hand-made
kernels a CNN's first layer ends up rediscovering, random grids and patches of a photo."""

import numpy as np
from PIL import Image

_SOBEL_X = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]

KERNELS: dict[str, np.ndarray] = {
    name: np.asarray(values, dtype=np.float64)
    for name, values in {
        "vertical edge (chapter)": [[1, 0, -1]] * 3,
        "horizontal edge": [[1, 1, 1], [0, 0, 0], [-1, -1, -1]],
        "diagonal (chapter exercise)": [[1, 0], [0, 1]],
        "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
        "box blur": np.full((3, 3), 1 / 9),
        "Gaussian blur": np.outer([1, 2, 1], [1, 2, 1]) / 16,  # binomial approximation
        "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
        "Sobel x": _SOBEL_X,
        "Sobel y": np.transpose(_SOBEL_X),
        "Laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    }.items()
}

# Chapter 13, "Worked Example: 2D Convolution by Hand": 4×4 input, vertical-edge kernel.
WORKED_INPUT = np.array([[1, 2, 3, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 1, 0, 1]], dtype=float)
# Chapter 13, exercise: a 4×4 checkerboard and the 2×2 diagonal kernel [[1, 0], [0, 1]].
EXERCISE_INPUT = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]], dtype=float)
# Chapter 13, pooling code: the 4×4 map it max- and average-pools with 2×2, stride 2.
POOLING_INPUT = np.array([[1, 3, 2, 4], [2, 1, 1, 2], [4, 2, 3, 1], [1, 3, 2, 1]], dtype=float)


SOURCES = ("worked example", "exercise", "pooling example", "random grid", "photo patch")


def starting_grid(source: str, channels: int, size: int, seed: int,
                  photo: Image.Image | None = None, top: int | None = None,
                  left: int | None = None) -> np.ndarray | None:
    """The input a source of ``SOURCES`` gives: the chapter's grids as printed, a random
    ``channels`` × ``size`` × ``size`` grid, or a patch of ``photo`` (None without a photo; a
    patch no larger than the photo, centred unless ``top`` / ``left`` say where)."""
    chapter = {"worked example": WORKED_INPUT, "exercise": EXERCISE_INPUT,
               "pooling example": POOLING_INPUT}
    if source in chapter:
        return chapter[source]
    if source == "random grid":
        return random_grid(channels, size, seed)
    if source != "photo patch":
        raise ValueError(f"unknown input source {source!r}; use one of {', '.join(SOURCES)}")
    if photo is None:
        return None
    size = min(size, photo.width, photo.height)
    top = photo.height // 2 - size // 2 if top is None else min(top, photo.height - size)
    left = photo.width // 2 - size // 2 if left is None else min(left, photo.width - size)
    return photo_patch(photo, top, left, size, channels == 3)


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
