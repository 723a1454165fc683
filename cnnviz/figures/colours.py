"""One colour pipeline for every map the app draws: feature maps, their overlays on the photo,
Grad-CAM heatmaps and the PNGs a user downloads. Values become palette indices between two
limits, indices become colours through a 256-entry table sampled from a plotly colour scale,
and an overlay blends the colours over the photo, either evenly or more where the map is
higher (so the photo shows through where the map is silent).

Scales: viridis and cividis are perceptually uniform and readable with colour-vision
deficiency (see ``cnnviz.figures.style``); turbo is a perceptually ordered rainbow; jet, the
rainbow of most Grad-CAM figures in papers, is offered for comparison, not as a default, since
its bright bands invent edges the data does not have.
"""

import io
from functools import lru_cache

import numpy as np
from PIL import Image
from plotly.colors import get_colorscale, sample_colorscale, unlabel_rgb

from cnnviz.figures.style import DIVERGING, SEQUENTIAL

# The heatmap scales a user can choose, by the name the URL and the picker use.
COLOUR_MAPS = {"viridis": "Viridis", "cividis": "Cividis", "inferno": "Inferno",
               "magma": "Magma", "turbo": "Turbo", "jet": "Jet"}
SHADES = 255  # colours of a scale; palette entry 255 is the background
BACKGROUND = (255, 255, 255)


def scale_stops(scale: str) -> list:
    """The plotly colour scale of ``scale``: a key of ``COLOUR_MAPS``, "diverging" (signed
    values) or "sequential" (magnitudes)."""
    if scale == "diverging":
        return DIVERGING
    if scale in COLOUR_MAPS or scale == "sequential":
        return get_colorscale(COLOUR_MAPS.get(scale, SEQUENTIAL))
    raise ValueError(f"Unknown colour map {scale!r}; choose one of {', '.join(COLOUR_MAPS)}.")


@lru_cache(maxsize=16)
def palette(scale: str) -> np.ndarray:
    """(256, 3) uint8: ``SHADES`` colours of ``scale`` (see ``scale_stops``), then the
    background."""
    colours = sample_colorscale(scale_stops(scale), np.linspace(0, 1, SHADES).tolist())
    return np.array([unlabel_rgb(c) for c in colours] + [BACKGROUND], dtype=np.uint8)


def colour_limits(values: np.ndarray) -> tuple[float, float]:
    """(low, high) of the colour scale: symmetric about 0 for signed values, else min to max;
    never empty."""
    values = np.asarray(values, dtype=np.float32)  # float16 reductions are slow in NumPy
    low, high = float(values.min()), float(values.max())
    if not np.isfinite(low + high):
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if low < 0:
        low, high = -max(-low, high), max(-low, high)
    return (low, high) if high > low else (low, low + 1.0)


def shade(values: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    """Each value's palette index (0 to 254) between ``limits``; NaN gets the lowest."""
    low, high = limits
    index = (np.asarray(values, dtype=np.float32) - low) * ((SHADES - 1) / (high - low)) + 0.5
    return np.minimum(np.fmax(index, 0), SHADES - 1).astype(np.uint8)  # fmax: NaN -> 0


def signed_scale(limits: tuple[float, float]) -> str:
    """The diverging scale for data with negative values, the sequential one otherwise."""
    return "diverging" if limits[0] < 0 else "sequential"


def colourise(values: np.ndarray, limits: tuple[float, float] | None = None,
              scale: str | None = None) -> np.ndarray:
    """A 2-D array as (H, W, 3) uint8 colours between ``limits`` (its own by default), on
    ``scale`` (by default the diverging scale when the lower limit is negative)."""
    limits = limits or colour_limits(values)
    return palette(scale or signed_scale(limits))[shade(values, limits)]


def resize_map(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """A map resized bilinearly to ``height`` × ``width`` (float32)."""
    values = np.asarray(values, dtype=np.float32)
    if values.shape == (height, width):
        return values
    return np.asarray(Image.fromarray(values).resize((width, height), Image.BILINEAR))


def overlay(photo: np.ndarray, values: np.ndarray, scale: str = "viridis",
            opacity: float = 0.5, *, limits: tuple[float, float] = (0.0, 1.0),
            by_value: bool = False) -> np.ndarray:
    """``photo`` ((H, W, 3) uint8 RGB) with ``values`` coloured on ``scale`` between
    ``limits`` and blended on top, resized bilinearly to the photo first. Opacity 0 shows only
    the photo; with ``by_value`` the opacity grows from 0 at the lower limit to ``opacity`` at
    the upper one, so cold areas leave the photo untouched."""
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"Opacity must be between 0 and 1, not {opacity}.")
    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"The photo must be (H, W, 3) uint8 RGB, not {photo.dtype} of shape "
                         f"{photo.shape}.")
    if np.ndim(values) != 2:
        raise ValueError(f"A map is 2-D (H, W), not of shape {np.shape(values)}.")
    index = shade(resize_map(values, *photo.shape[:2]), limits)
    colours = palette(scale)[index].astype(np.float32)
    alpha = opacity * (index[..., None].astype(np.float32) / (SHADES - 1) if by_value else 1.0)
    blend = (1.0 - alpha) * photo.astype(np.float32) + alpha * colours
    return np.clip(np.rint(blend), 0, 255).astype(np.uint8)


# How a Grad-CAM map is laid over its photo unless the reader chooses otherwise: turbo is
# perceptually ordered and bright where the map is hot, and the fading opacity leaves cold
# areas as they were, readable on a projector.
CAM_SCALE, CAM_OPACITY = "turbo", 0.7


def cam_overlay(photo: np.ndarray, heatmap: np.ndarray, scale: str = CAM_SCALE,
                opacity: float = CAM_OPACITY, fade: bool = True) -> np.ndarray:
    """A Grad-CAM ``heatmap`` (values in [0, 1]) over ``photo``, as every page draws one."""
    return overlay(photo, heatmap, scale, opacity, by_value=fade)


def png_bytes(pixels: np.ndarray, colours: np.ndarray | None = None,
              compress_level: int = 6, strategy: int = -1) -> bytes:
    """An (H, W, 3) uint8 RGB image, or (H, W) palette indices with their ``colours`` (a
    third of the bytes to compress), as the bytes of a PNG file; ``strategy`` is zlib's
    (``zlib.Z_RLE`` is fast on maps), -1 its default."""
    img = Image.fromarray(np.asarray(pixels))
    if colours is not None:
        img.putpalette(colours.ravel().tolist())  # an "L" image becomes "P"
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", compress_level=compress_level, compress_type=strategy)
    return buffer.getvalue()
