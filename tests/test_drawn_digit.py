"""A digit drawn on the pad: the PNG the browser sends is checked, then prepared like a photo."""

import base64
import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnnviz.train.scratch.own_digit import (
    DRAWING_SIDE,
    MAX_DRAWING_CHARS,
    DigitError,
    DrawingError,
    prepare_digit,
    read_drawing,
)

INK = round(DRAWING_SIDE / 11)  # the pad's stroke width (cnnviz/ui/drawing_pad.py)


def data_url(img: Image.Image) -> str:
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def pad(*strokes) -> Image.Image:
    """The pad's drawing as the browser renders it: dark round ink on white paper."""
    img = Image.new("RGBA", (DRAWING_SIDE, DRAWING_SIDE), "white")
    draw = ImageDraw.Draw(img)
    for stroke in strokes:
        draw.line(stroke, fill=(17, 17, 17, 255), width=INK, joint="curve")
        for x, y in (stroke[0], stroke[-1]):  # round caps
            draw.ellipse([x - INK / 2, y - INK / 2, x + INK / 2, y + INK / 2], fill="#111111")
    return img


def test_a_drawn_one_prepares_to_a_centred_digit_fitted_to_20_by_20():
    one = pad([(30, 22), (32, 70)])  # short and near the top-left corner, as a student may draw
    prepared = prepare_digit(read_drawing(data_url(one)))
    titles = [title for title, _ in prepared.steps]
    assert "Inverted" in titles[1] and titles[-1].startswith("Centred by mass")
    digit = prepared.digit
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    x, y, w, h = cv2.boundingRect((digit > 0).astype(np.uint8))  # OpenCV as the reference
    assert h == 20 and w < 10  # fitted to 20 high, the aspect kept
    moments = cv2.moments(digit.astype(np.float32))
    centre = moments["m01"] / moments["m00"], moments["m10"] / moments["m00"]
    assert np.allclose(centre, 13.5, atol=0.6)  # centred by mass, wherever it was drawn
    assert digit.max() > 200 and digit[0].max() == 0  # light ink on black, as MNIST


def test_a_drawn_zero_and_a_drawn_one_prepare_differently():
    zero = pad([(56 + 30 * np.cos(t), 56 + 40 * np.sin(t)) for t in np.linspace(0, 6.3, 40)])
    one = pad([(56, 16), (56, 96)])
    a = prepare_digit(read_drawing(data_url(zero))).digit.astype(float)
    b = prepare_digit(read_drawing(data_url(one))).digit.astype(float)
    assert a[14, 6:22].max() > 150 and a[14, 11:17].max() < 60  # a ring: ink left and right
    assert b[14, 11:17].max() > 150  # a bar: ink in the middle


@pytest.mark.parametrize("blank, says", [
    (Image.new("RGBA", (DRAWING_SIDE, DRAWING_SIDE), "white"), "Draw a digit: the pad is empty"),
    (pad([(50, 50)]), "Draw a digit larger"),  # a tap: one dot
    (pad([(50, 50), (50, 60)]), "Draw a digit larger"),  # a blob under a quarter of the pad
])
def test_an_empty_pad_asks_for_a_digit(blank, says):
    with pytest.raises(DrawingError, match=says):
        read_drawing(data_url(blank))


def _huge_png() -> str:
    return data_url(Image.new("L", (3000, 3000), 255))  # 9 megapixels of white: small as a PNG


@pytest.mark.parametrize("payload, says", [
    (None, "did not arrive as a PNG"),
    ({"drawing": "x"}, "did not arrive as a PNG"),
    ("data:image/jpeg;base64,/9j/4AAQ", "did not arrive as a PNG"),
    ("data:image/png;base64,not base64!", "cannot be read"),
    ("data:image/png;base64," + base64.b64encode(b"just some text").decode(), "not an image"),
    ("data:image/png;base64," + "A" * MAX_DRAWING_CHARS, "characters long"),
])
def test_bad_payloads_are_refused_with_a_clear_message(payload, says):
    with pytest.raises(DrawingError, match=says) as caught:
        read_drawing(payload)
    assert isinstance(caught.value, DigitError)  # the page catches one kind of error
    assert "Clear" in str(caught.value)  # and says what to do


def test_a_picture_too_large_to_be_a_drawing_is_refused_before_it_is_decoded():
    payload = _huge_png()
    assert len(payload) < MAX_DRAWING_CHARS  # so the pixel count is what refuses it
    with pytest.raises(DrawingError, match="megapixels"):
        read_drawing(payload)
