"""A kernel or a pooling window run over a whole photo, for the convolution page's "apply to
the whole image"."""

import numpy as np
from PIL import Image

from cnnviz.ops import engine


def filter_image(img: Image.Image, kernel: np.ndarray, rgb: bool, stride=1,
                 padding="same", dilation=1) -> np.ndarray:
    """Convolve the photo, per channel (kernel (3, kh, kw) or one (kh, kw) kernel for all
    three) or in greyscale (kernel (kh, kw)), with ``engine.conv2d``: (C, H', W') float."""
    kernel = np.asarray(kernel, dtype=float)
    if rgb:
        x = np.asarray(img.convert("RGB"), dtype=float).transpose(2, 0, 1)[None]
        w = np.broadcast_to(kernel, (3, *kernel.shape[-2:]))[:, None]
        return engine.conv2d(x, w, stride=stride, padding=padding, dilation=dilation, groups=3)[0]
    x = np.asarray(img.convert("L"), dtype=float)[None, None]
    w = kernel.reshape(1, 1, *kernel.shape[-2:])
    return engine.conv2d(x, w, stride=stride, padding=padding, dilation=dilation)[0]


def pool_image(img: Image.Image, kind: str, size, stride=None, padding=0) -> np.ndarray:
    """Max or average pooling of each colour channel of the photo: (3, H', W') float."""
    pool = {"max": engine.max_pool2d, "average": engine.avg_pool2d}[kind]
    return pool(np.asarray(img.convert("RGB"), dtype=float).transpose(2, 0, 1), size, stride,
                padding)


def to_picture(y: np.ndarray) -> Image.Image:
    """A filter's output as a picture: values already in 0–255 (blur, sharpen) are clipped and
    shown as they are; signed responses (edges) are shown as |y|, scaled so that the strongest
    0.5 % saturate (one extreme pixel would otherwise leave the picture nearly black)."""
    y = np.asarray(y, dtype=float)
    if y.min() < 0:
        peak = np.percentile(np.abs(y), 99.5)
        y = np.abs(y) * (255 / peak if peak > 0 else 1)
    pixels = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels.transpose(1, 2, 0) if len(pixels) == 3 else pixels[0])


def enlarged(picture: Image.Image, size: tuple[int, int]) -> tuple[Image.Image, int]:
    """A smaller result (a strided or pooled photo) enlarged pixel for pixel, by the whole
    factor that brings it closest to ``size`` (width, height), so each of its pixels shows
    as a block beside the original; and that factor."""
    factor = max(1, round(min(size[0] / picture.width, size[1] / picture.height)))
    if factor == 1:
        return picture, 1
    return picture.resize((picture.width * factor, picture.height * factor),
                          Image.NEAREST), factor
