"""Turning whatever a user hands us into a plain 8-bit RGB image, or a message they understand.

Uploads arrive as phone photos (EXIF-rotated), scans (CMYK, 16-bit), screenshots (RGBA),
GIFs, and files that only claim to be images. Everything after this module may assume an RGB
``PIL.Image`` of sane size; everything wrong stops here as an ``ImageError``.
"""

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ASSETS = Path(__file__).resolve().parent.parent / "assets"
MAX_BYTES = 50_000_000  # decimal megabytes, as Streamlit's upload limit counts them
MAX_PIXELS = 40_000_000  # e.g. 8000 × 5000: beyond any phone camera, below a decompression bomb
MAX_ASPECT = 20.0
MIN_SIDE = 8
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError)  # what Pillow raises on bad data

# Bundled photographs (public domain or CC0; sources in assets/LICENSES.md): title -> file.
SAMPLES = {
    "Cat (Chelsea)": "chelsea.jpg",
    "Espresso cup": "coffee.jpg",
    "Cameraman with tripod": "cameraman.jpg",
    "Rocket launch": "rocket.jpg",
    "Astronaut": "astronaut.jpg",
    "Grace Hopper": "grace_hopper.jpg",
    "Wall clock (motion blur)": "clock.jpg",
    "Brick wall": "brick.jpg",
}


class ImageError(ValueError):
    """The input is not a usable image; the message is written for the person who gave it."""


def sample_images() -> dict[str, Path]:
    """Title -> path of every bundled sample photo, in display order."""
    return {title: ASSETS / "samples" / name for title, name in SAMPLES.items()}


def load_image(source, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode ``source`` (bytes, a path, or a file-like object such as a Streamlit upload) into
    an upright 8-bit RGB image; raise ``ImageError`` saying what is wrong otherwise."""
    data = _read_bytes(source)
    if not data:
        raise ImageError("The file is empty (0 bytes). Choose a photo file such as a JPEG or PNG.")
    if len(data) > MAX_BYTES:
        raise ImageError(f"The file is {len(data) / 1e6:.1f} MB; the limit is "
                         f"{MAX_BYTES / 1e6:.0f} MB. Save a smaller copy of the photo.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError(_not_an_image_message(data)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError("The image declares more pixels than it is safe to decode (a "
                         "'decompression bomb'). Use an ordinary photo.") from None
    except DECODE_ERRORS as err:  # a header cut short (a JPEG whose APP segment is truncated)
        raise _damaged(err) from None
    _check_size(img.size, max_pixels)
    try:
        img.seek(0)  # the first frame of a GIF / APNG / multi-page TIFF
        img.load()
        img = ImageOps.exif_transpose(img)
        return _to_rgb(img)
    except DECODE_ERRORS as err:
        raise _damaged(err) from None


def _damaged(err: Exception) -> ImageError:
    return ImageError(f"The file is damaged or incomplete and cannot be decoded ({err}). "
                      f"Try exporting the photo again.")


def _read_bytes(source) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"There is no file at {path}.")
        return path.read_bytes()
    if hasattr(source, "getvalue"):  # Streamlit's UploadedFile, io.BytesIO
        return source.getvalue()
    if hasattr(source, "read"):
        return source.read()
    raise ImageError(f"Cannot read an image from a {type(source).__name__}; give bytes, a file "
                     f"path or an open file.")


def _not_an_image_message(data: bytes) -> str:
    head = data[:64]
    if head.startswith(b"%PDF"):
        what = "it looks like a PDF document"
    elif head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypmsf1"):
        what = "it is a HEIC photo, which cannot be read here (export it as JPEG)"
    elif head.startswith(b"PK\x03\x04"):
        what = "it looks like a ZIP archive or an Office document"
    elif b"\x00" not in head and _is_text(data[:4096]):
        what = "it looks like a text file"
    else:
        what = "its contents are in no image format we can read"
    return (f"This file is not an image: {what}, whatever its name says. "
            f"Upload a JPEG, PNG, GIF, BMP, TIFF or WebP image.")


def _is_text(chunk: bytes) -> bool:
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _check_size(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageError(f"The image is {width} × {height} = {width * height / 1e6:.0f} "
                         f"megapixels; the limit is {max_pixels / 1e6:.0f}. Resize it first.")
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"The image is only {width} × {height} pixels; it needs at least "
                         f"{MIN_SIDE} pixels on each side.")
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise ImageError(f"The image is {width} × {height} pixels: its long side is more than "
                         f"{MAX_ASPECT:.0f} times its short side. Crop it to something closer "
                         f"to a photo's shape.")


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB: transparency composited on white, deep greys scaled."""
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode.startswith("I") or img.mode == "F":
        return _scale_to_8bit(img).convert("RGB")
    return img.convert("RGB")


def _scale_to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and float greys: Pillow's own conversion clips at 255, which turns most 16-bit
    images white, so scale by the format's range instead (min-max for floats)."""
    values = np.asarray(img, dtype=np.float64)
    if img.mode == "F":
        low, high = float(values.min()), float(values.max())
        values = (values - low) / (high - low or 1.0) * 255.0
    elif values.max() > 255:
        values = values / 257.0  # 65535 -> 255
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")
