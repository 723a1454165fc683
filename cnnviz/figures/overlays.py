"""A heatmap laid over a photo, and the PNG a user downloads.

Colour maps are OpenCV's. The perceptually uniform ones come first: viridis and cividis are
readable with colour-vision deficiency (see cnnviz.figures.style); jet, the rainbow of most
Grad-CAM figures in papers, is offered for comparison with them, not as the default, since
its bright bands invent edges the data does not have.
"""

import cv2
import numpy as np

COLOUR_MAPS = {
    "viridis": cv2.COLORMAP_VIRIDIS,
    "cividis": cv2.COLORMAP_CIVIDIS,
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "turbo": cv2.COLORMAP_TURBO,
    "jet": cv2.COLORMAP_JET,
}


def colourise(heatmap: np.ndarray, colour_map: str = "viridis") -> np.ndarray:
    """A (H, W) map with values in [0, 1] as (H, W, 3) uint8 RGB colours."""
    if colour_map not in COLOUR_MAPS:
        raise ValueError(f"Unknown colour map {colour_map!r}; choose one of "
                         f"{', '.join(COLOUR_MAPS)}.")
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.ndim != 2:
        raise ValueError(f"A heatmap is 2-D (H, W), not of shape {heatmap.shape}.")
    levels = np.rint(np.clip(heatmap, 0.0, 1.0) * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(levels, COLOUR_MAPS[colour_map]), cv2.COLOR_BGR2RGB)


def overlay(photo: np.ndarray, heatmap: np.ndarray, colour_map: str = "viridis",
            opacity: float = 0.5) -> np.ndarray:
    """``photo`` ((H, W, 3) uint8 RGB) with the coloured ``heatmap`` blended on top:
    opacity 0 shows only the photo, 1 only the map. A heatmap of another size is resized
    bilinearly to the photo's."""
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"Opacity must be between 0 and 1, not {opacity}.")
    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"The photo must be (H, W, 3) uint8 RGB, not {photo.dtype} of shape "
                         f"{photo.shape}.")
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.shape != photo.shape[:2]:
        heatmap = cv2.resize(heatmap, (photo.shape[1], photo.shape[0]),
                             interpolation=cv2.INTER_LINEAR)
    colours = colourise(heatmap, colour_map).astype(np.float32)
    blend = (1.0 - opacity) * photo.astype(np.float32) + opacity * colours
    return np.rint(blend).astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    """An (H, W, 3) uint8 RGB image as the bytes of a PNG file."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"Could not encode an image of shape {np.shape(rgb)} as PNG.")
    return encoded.tobytes()
