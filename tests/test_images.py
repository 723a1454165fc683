"""images.load_image: every bad input refused with its own message, every odd one made RGB."""

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnviz import images
from cnnviz.images import ImageError, load_image

ROOT = Path(__file__).resolve().parent.parent


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def photo_bytes() -> bytes:
    return images.sample_images()["Cat (Chelsea)"].read_bytes()


def huge_png(width: int, height: int) -> bytes:
    """A small file that declares a huge image: 1-bit pixels of one colour compress to nothing."""
    return encode(Image.new("1", (width, height)), "PNG")


BAD_INPUTS = {
    "empty": (b"", r"empty \(0 bytes\)"),
    "truncated": (photo_bytes()[:3000], r"damaged or incomplete"),
    "corrupt": (photo_bytes()[:200] + bytes(range(256)) * 40, r"damaged or incomplete"),
    "pdf": (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF", r"PDF document"),
    "text": ("a photo of a cat, honest\n".encode() * 20, r"text file"),
    "zip": (b"PK\x03\x04" + bytes(60), r"ZIP archive"),
    "garbage": (bytes([0, 159, 146, 150]) * 64, r"no image format we can read"),
    "bomb": (huge_png(20_000, 20_000), r"decompression bomb"),
    "over budget": (huge_png(9_000, 6_000), r"54 megapixels; the limit is 40"),
    "aspect": (encode(Image.new("RGB", (3000, 60)), "PNG"), r"long side is more than 20 times its short side"),
    "tiny": (encode(Image.new("RGB", (4, 4)), "PNG"), r"only 4 × 4 pixels"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_raises_image_error_with_its_own_message(case):
    data, pattern = BAD_INPUTS[case]
    with pytest.raises(ImageError) as err:
        load_image(data)
    assert re.search(pattern, str(err.value)), str(err.value)


def test_bad_input_messages_are_distinct():
    messages = set()
    for data, _ in BAD_INPUTS.values():
        with pytest.raises(ImageError) as err:
            load_image(data)
        messages.add(re.sub(r" \(.*\)", "", str(err.value)))  # drop the decoder's detail
    # truncated and corrupt share the 'damaged' explanation; every other case has its own
    assert len(messages) == len(BAD_INPUTS) - 1


def test_missing_path_and_unsupported_type(tmp_path):
    with pytest.raises(ImageError, match="There is no file at"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="Cannot read an image from a int"):
        load_image(42)


def test_renamed_pdf_is_refused_by_content_not_name(tmp_path):
    fake = tmp_path / "holiday.jpg"
    fake.write_bytes(BAD_INPUTS["pdf"][0])
    with pytest.raises(ImageError, match="PDF"):
        load_image(fake)


def test_sources_bytes_path_and_file_like_agree():
    path = images.sample_images()["Espresso cup"]
    from_path = np.asarray(load_image(path))
    assert np.array_equal(from_path, np.asarray(load_image(path.read_bytes())))
    assert np.array_equal(from_path, np.asarray(load_image(io.BytesIO(path.read_bytes()))))
    with open(path, "rb") as handle:
        assert np.array_equal(from_path, np.asarray(load_image(handle)))


def gradient(mode_max: int, size=(64, 48)) -> np.ndarray:
    w, h = size
    return np.tile(np.linspace(0, mode_max, w), (h, 1))


def test_cmyk_jpeg_becomes_rgb_with_the_right_colours():
    rgb = Image.new("RGB", (64, 64), (200, 30, 60))
    img = load_image(encode(rgb.convert("CMYK"), "JPEG", quality=95))
    assert img.mode == "RGB"
    assert np.abs(np.asarray(img, dtype=int) - (200, 30, 60)).max() <= 8


def test_16_bit_greyscale_is_scaled_not_clipped():
    values = gradient(65535).astype(np.uint16)
    img = load_image(encode(Image.fromarray(values), "PNG"))
    assert img.mode == "RGB"
    out = np.asarray(img)[..., 0].astype(float)
    assert np.abs(out - values / 257.0).max() <= 1.0  # a clipping conversion would give 255s
    assert out.min() == 0 and out.max() == 255


def test_float_tiff_is_stretched_to_8_bit():
    values = gradient(1.0).astype(np.float32) * 0.5 - 0.25
    img = load_image(encode(Image.fromarray(values, mode="F"), "TIFF"))
    out = np.asarray(img)[..., 0]
    assert out.min() == 0 and out.max() == 255 and np.all(np.diff(out[0].astype(int)) >= 0)


def test_rgba_composites_on_white():
    rgba = Image.new("RGBA", (32, 32), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))  # fully transparent black
    rgba.putpixel((1, 0), (0, 0, 255, 128))  # half-transparent blue
    out = np.asarray(load_image(encode(rgba, "PNG")), dtype=int)
    assert tuple(out[0, 0]) == (255, 255, 255)
    assert np.abs(out[0, 1] - (127, 127, 255)).max() <= 1
    assert tuple(out[5, 5]) == (255, 0, 0)


def test_palette_with_transparency_and_greyscale_alpha():
    pal = Image.new("P", (16, 16), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    pal.putpixel((0, 0), 0)
    out = np.asarray(load_image(encode(pal, "PNG", transparency=0)))
    assert tuple(out[0, 0]) == (255, 255, 255) and tuple(out[3, 3]) == (10, 200, 30)
    la = Image.new("LA", (16, 16), (40, 0))
    assert tuple(np.asarray(load_image(encode(la, "PNG")))[0, 0]) == (255, 255, 255)


def test_greyscale_and_bilevel_become_three_equal_channels():
    grey = Image.fromarray(gradient(255).astype(np.uint8))
    for img in (grey, grey.convert("1")):
        out = np.asarray(load_image(encode(img, "PNG")))
        assert out.shape == (48, 64, 3)
        assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])


def test_exif_orientation_is_applied():
    """A phone saves a portrait shot as landscape pixels plus 'rotate 90° clockwise' (6)."""
    stored = Image.new("RGB", (80, 40), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 10, 10))  # red marker in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6
    img = load_image(encode(stored, "JPEG", exif=exif, quality=95))
    assert img.size == (40, 80)
    out = np.asarray(img, dtype=int)
    # rotating 90° clockwise moves the top-left corner to the top-right
    assert out[2, 37, 0] > 200 and out[2, 37, 2] < 60
    assert out[2, 2, 2] > 200


def test_animation_gives_its_first_frame():
    frames = [Image.new("RGB", (32, 32), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    out = np.asarray(load_image(data), dtype=int)
    assert np.abs(out[10, 10] - (255, 0, 0)).max() <= 4


def test_samples_are_real_photos_with_licences():
    samples = images.sample_images()
    licences = (ROOT / "assets" / "LICENSES.md").read_text()
    assert len(samples) >= 8
    for title, path in samples.items():
        img = load_image(path)
        assert img.mode == "RGB" and min(img.size) >= 224, title
        assert np.asarray(img).std() > 20, title  # a photograph, not a flat fill
        assert f"| {path.name} |" in licences, f"{path.name} has no licence entry"


def test_the_size_limit_counts_decimal_megabytes_as_streamlit_does():
    with pytest.raises(ImageError, match=r"The file is 50\.0 MB; the limit is 50 MB"):
        load_image(b"\x89PNG" + bytes(50_000_000 - 3))
    with pytest.raises(ImageError, match="damaged|not an image"):  # at the limit: read, not refused
        load_image(b"\x89PNG" + bytes(50_000_000 - 4))


def test_a_header_cut_short_is_damaged_not_a_crash():
    """Pillow raises a bare OSError ('Truncated File Read') while still opening such a JPEG."""
    with pytest.raises(ImageError, match="damaged or incomplete"):
        load_image(b"\xff\xd8\xff\xe0 this is not really a JPEG")
