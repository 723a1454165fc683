"""Animations as data (cnnviz.figures.animation) and what the builders put in them, checked
against torch and against the colour scales; the GIF drawn from the same data."""

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from cnnviz.figures.animation import (
    MARK_STYLES,
    Animation,
    Frame,
    Grid,
    box,
    lattice,
    runs,
)
from cnnviz.figures.colours import palette
from cnnviz.figures.grids import predict_animation, step_animation
from cnnviz.figures.step_gif import SLIDE_WIDTH, animation_gif
from cnnviz.figures.style import HIGHLIGHT
from cnnviz.formatting import MINUS
from cnnviz.ops import examples, steps
from cnnviz.ops.examples import KERNELS

EDGE = KERNELS["vertical edge (chapter)"]


def lab(rgb) -> np.ndarray:
    """sRGB (0–255) to CIELAB (D65), to measure how far apart two colours look."""
    rgb = np.asarray(rgb, dtype=float) / 255
    rgb = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = rgb @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                          [0.0193, 0.1192, 0.9505]]).T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                     200 * (f[..., 1] - f[..., 2])], axis=-1)


def hex_rgb(colour: str) -> list[int]:
    return [int(colour[k:k + 2], 16) for k in (1, 3, 5)]


@pytest.mark.parametrize("scale", ["sequential", "diverging", "viridis", "turbo"])
def test_the_current_cell_outline_is_a_colour_no_value_scale_uses(scale):
    distance = np.linalg.norm(lab(palette(scale)[:-1]) - lab(hex_rgb(HIGHLIGHT)), axis=1)
    assert distance.min() > 40, f"{HIGHLIGHT} is within ΔE {distance.min():.0f} of {scale}"
    assert MARK_STYLES["window"]["stroke"] == MARK_STYLES["current"]["stroke"] == HIGHLIGHT


def test_marks_are_stored_as_runs_of_neighbouring_cells():
    assert runs([7, 1, 2, 3]) == [[1, 3], [7, 7]]
    assert lattice(2, "area", range(4, 9), [0, 2, 4]) == [2, "area", [[4, 8]],
                                                          [[0, 0], [2, 2], [4, 4]]]
    assert box(1, "current", 3, 4) == [1, "current", [[3, 3]], [[4, 4]]]


def test_an_animation_starts_inside_its_frames_and_needs_one():
    grid = Grid("g", 1, 2, fill=["#000000"] * 2, text=["a", "b"], ink=["#ffffff"] * 2)
    data = Animation([grid], [[0]], [Frame(), Frame()], start=9).to_data()
    assert data["start"] == 1 and data["grids"][0]["units"] == 2
    with pytest.raises(ValueError, match="at least one frame"):
        Animation([grid], [[0]], []).to_data()


def texts(values) -> list[str]:
    return [("" if v >= 0 else MINUS) + f"{abs(v):g}" for v in np.ravel(values)]


def test_the_board_shows_what_torch_computes_at_every_step():
    x = examples.WORKED_INPUT
    anim = step_animation(steps.conv_trace(x, EDGE, padding=1))
    titles = [g.title for g in anim.grids]
    products, output = titles.index("Products"), titles.index("Output 4 × 4")
    expected = F.conv2d(torch.tensor(x)[None, None], torch.tensor(EDGE)[None, None],
                        padding=1).numpy()[0, 0]
    assert anim.grids[output].text == texts(expected)
    padded = np.pad(x, 1)
    for k, frame in enumerate(anim.frames):
        i, j = divmod(k, 4)
        assert frame.cells[products]["text"] == texts(padded[i:i + 3, j:j + 3] * EDGE)
        assert frame.upto == k and frame.params == {"step": k + 1}
        window = next(m for m in frame.marks if m[1] == "window")
        assert window[2:] == [[[i, i + 2]], [[j, j + 2]]]
        assert frame.caption.endswith(f"= {texts([expected[i, j]])[0]}")
    # window → products → output cell: the lines the issue asks for
    first = anim.frames[0]
    joined = [(first.marks[a][1], first.marks[b][1]) for a, b in first.links]
    assert joined == [("window", "anchor"), ("anchor", "current")]


def test_predicting_hides_the_value_and_then_the_size():
    trace = steps.conv_trace(examples.WORKED_INPUT, EDGE)
    hidden = predict_animation(trace, 1, hide=True)
    frame = hidden.frames[0]
    titles = [g.title for g in hidden.grids]
    output, products = titles.index("Output 2 × 2"), titles.index("Products")
    assert frame.caption == "" and frame.cells[output]["text"][1] == "?"
    assert products not in frame.cells  # the products stay blank
    assert hidden.server == {"index": 1, "count": 4, "locked": False}
    asking = predict_animation(trace, 0, hide=True, show_output=False)
    assert not any(g.title.startswith("Output") for g in asking.grids)
    assert asking.server["locked"]  # no stepping before the size is guessed


def test_the_gif_is_every_frame_at_a_slides_width_with_the_outline_drawn():
    anim = step_animation(steps.pool_trace(examples.POOLING_INPUT, 2))
    gif = Image.open(io.BytesIO(animation_gif(anim)))
    assert gif.n_frames == len(anim.frames) == 4 and gif.width >= SLIDE_WIDTH
    pixels = np.asarray(gif.convert("RGB")).reshape(-1, 3)
    assert (np.abs(pixels - hex_rgb(HIGHLIGHT)).max(axis=1) <= 8).sum() > 100
