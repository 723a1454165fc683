"""Small pictures for the home page, one per page, each drawn from the real thing the page
shows: the animations as short GIFs (the same data the pages play), a layer's channels on a
sample photo, a Grad-CAM map over it, the architectures' accuracy against compute, a practice
question. Pure functions: data in, PNG or GIF bytes out.
"""

import io
import math

import numpy as np
from PIL import Image, ImageDraw

from cnnviz.figures import colours
from cnnviz.figures.animation import Animation
from cnnviz.figures.step_gif import animation_gif, font, wrap
from cnnviz.figures.style import ACCENT, HIGHLIGHT

WIDTH = 480  # pixels: a card on the home page
HEIGHT = 300  # the stills' height (animations take what their grids need)
INK = "#31333f"


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def animation(anim: Animation, ms_per_frame: int = 900) -> bytes:
    """An animation as a small looping GIF."""
    return animation_gif(anim, width=WIDTH, ms_per_frame=ms_per_frame)


def channel_mosaic(fmap: np.ndarray, channels, columns: int = 4) -> bytes:
    """Channels of a (C, H, W) layer side by side, each from its lowest to its highest value
    on the sequential scale (as the feature-map page's strip), enlarged pixel for pixel."""
    channels = list(channels)
    rows = math.ceil(len(channels) / columns)
    gap = 6
    tile = (WIDTH - gap * (columns - 1)) // columns
    card = Image.new("RGB", (WIDTH, rows * tile + gap * (rows - 1)), "white")
    for k, channel in enumerate(channels):
        values = fmap[channel]
        low, high = float(values.min()), float(values.max())
        pixels = colours.colourise(values, (low, high if high > low else low + 1), "sequential")
        picture = Image.fromarray(pixels).resize((tile, tile), Image.NEAREST)
        card.paste(picture, ((k % columns) * (tile + gap), (k // columns) * (tile + gap)))
    return _png(card)


def photo_card(photo: np.ndarray, label: str) -> bytes:
    """A (H, W, 3) uint8 picture (a photo, or a map over it) with a label band below."""
    picture = Image.fromarray(photo).resize((HEIGHT - 40, HEIGHT - 40), Image.BICUBIC)
    card = Image.new("RGB", (WIDTH, HEIGHT), "white")
    card.paste(picture, ((WIDTH - picture.width) // 2, 0))
    draw = ImageDraw.Draw(card)
    draw.text((WIDTH / 2, HEIGHT - 20), label, fill=INK, font=font(22), anchor="mm")
    return _png(card)


def accuracy_card(records: list[dict]) -> bytes:
    """Top-1 accuracy against MACs (log scale), a dot per model sized by its parameters and
    the models of the chapter's story named: the architectures page's chart in miniature."""
    shown = [r for r in records if r.get("top1") is not None]
    card = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(card)
    left, right, top, bottom = 50, WIDTH - 20, 20, HEIGHT - 40
    logs = [math.log10(r["macs"]) for r in shown]
    accs = [r["top1"] for r in shown]
    x_of = lambda v: left + (v - min(logs)) / (max(logs) - min(logs) or 1) * (right - left)  # noqa: E731
    y_of = lambda a: bottom - (a - min(accs)) / (max(accs) - min(accs) or 1) * (bottom - top)  # noqa: E731
    draw.line((left, bottom, right, bottom), fill=INK, width=2)
    draw.line((left, top, left, bottom), fill=INK, width=2)
    draw.text(((left + right) / 2, HEIGHT - 18), "compute (MACs, log scale) →", fill=INK,
              font=font(16), anchor="mm")
    draw.text((12, (top + bottom) / 2), "top-1", fill=INK, font=font(16), anchor="lm")
    largest = max(r["params"] for r in shown)
    for record, log, acc in sorted(zip(shown, logs, accs), key=lambda t: -t[0]["params"]):
        radius = 5 + 16 * math.sqrt(record["params"] / largest)
        x, y = x_of(log), y_of(acc)
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=ACCENT,
                     outline="white")
    for record, log, acc in zip(shown, logs, accs):
        if record["label"] in ("AlexNet", "VGG-16", "ResNet-50", "MobileNetV2"):
            draw.text((x_of(log) + 10, y_of(acc) - 12), record["label"], fill=INK,
                      font=font(15), anchor="lm")
    return _png(card)


def question_card(question: str, formula: str) -> bytes:
    """A practice question as a card: the question, and the formula that answers it."""
    card = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(card)
    draw.rounded_rectangle((6, 6, WIDTH - 6, HEIGHT - 6), radius=18, outline=HIGHLIGHT, width=4)
    lines = wrap(draw, question, font(24), WIDTH - 60)
    draw.multiline_text((30, 30), "\n".join(lines), fill=INK, font=font(24), spacing=10)
    draw.text((WIDTH / 2, HEIGHT - 50), formula, fill=HIGHLIGHT, font=font(26, bold=True),
              anchor="mm")
    return _png(card)
