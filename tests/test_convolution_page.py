"""The convolution page headlessly (AppTest) and in a real browser: the chapter's worked example
animated step by step, the other modes, links that restore the page, bad input."""

import io
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from cnnviz.figures.grids import step_animation
from cnnviz.figures.step_gif import SLIDE_WIDTH, animation_gif
from cnnviz.ops import examples, filtering, steps
from cnnviz.ops.examples import KERNELS
from tests.conftest import ServerMessages, assert_no_exception
from tests.pagetest import animations, assert_clean, open_page

PAGE = "views/convolution.py"
MINUS = "\u2212"


def board(at) -> dict:
    """The data the page hands its animation: every frame (or, predicting, the one step the
    server shows)."""
    return animations(at)[0]


def captions(at) -> list[str]:
    return [frame.get("caption", "") for frame in board(at)["frames"]]


def written_sum(at) -> str:
    """The written sum of the frame the animation shows first."""
    data = board(at)
    return captions(at)[0 if data["server"] else data["start"]]


def value_in(text: str) -> float:
    """The number after the last '=' of a written sum."""
    return float(text.rsplit("=", 1)[1].split("<")[0].strip().replace(MINUS, "-"))


def click(at, label: str):
    next(b for b in at.button if b.label == label).click().run()
    assert_clean(at)
    return at


def test_worked_example_full_animation():
    at = open_page(PAGE)
    x = torch.tensor(examples.WORKED_INPUT)[None, None]
    w = torch.tensor(KERNELS["vertical edge (chapter)"])[None, None]
    expected = F.conv2d(x, w).numpy()[0, 0].ravel()  # 2 × 2: four steps
    data = board(at)
    assert len(data["frames"]) == 4 and data["start"] == 0 and at.session_state.step == 1
    assert at.query_params["step"] == "1"
    assert [value_in(c) for c in captions(at)] == list(expected)
    assert all(c.count("·") == 9 for c in captions(at))  # the whole 3×3 sum is written out
    # Each frame fills the output one more cell and puts its number in the link.
    assert [f["upto"] for f in data["frames"]] == [0, 1, 2, 3]
    assert [f["params"]["step"] for f in data["frames"]] == ["1", "2", "3", "4"]
    # The window moves as the output cell does: row-major, stride 1.
    windows = [next(m for m in f["marks"] if m[1] == "window") for f in data["frames"]]
    assert [(m[2][0][0], m[3][0][0]) for m in windows] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    current = [next(m for m in f["marks"] if m[1] == "current") for f in data["frames"]]
    assert [(m[2][0][0], m[3][0][0]) for m in current] == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_link_restores_settings_and_step():
    at = open_page(PAGE, {"padding": "same", "stride": "2", "step": "3", "bias": "0.5",
                          "kernel_preset": "Sobel x"})
    # A 4×4 input, "same" with stride 2: output ⌈4/2⌉ = 2 per side, so four steps.
    assert len(board(at)["frames"]) == 4
    assert at.session_state.step == 3 and board(at)["start"] == 2
    x = torch.tensor(examples.WORKED_INPUT)[None, None]
    w = torch.tensor(KERNELS["Sobel x"])[None, None]
    # TensorFlow's "same" here: total padding (2 − 1)·2 + 3 − 4 = 1, the odd pixel after.
    expected = F.conv2d(F.pad(x, (0, 1, 0, 1)), w, torch.tensor([0.5], dtype=torch.float64),
                        stride=2).numpy()[0, 0]
    assert value_in(written_sum(at)) == pytest.approx(expected[1, 0])
    assert written_sum(at).count("·") == 9 and "+ 0.5 =" in written_sum(at)


def test_full_padding_is_what_the_help_says_with_dilation():
    """Full padding pads d·(F − 1) on each side: the size at which the first and last output
    of a dilated kernel each touch one corner pixel with one tap, as torch computes it."""
    at = open_page(PAGE, {"padding": "full", "dilation": "2"})
    assert_clean(at)
    assert "full = d·(F − 1) on each side" in at.selectbox(key="padding").help
    x = torch.tensor(examples.WORKED_INPUT)[None, None]  # 4 × 4, 3 × 3 kernel, d = 2
    ones = torch.ones(1, 1, 3, 3, dtype=x.dtype)
    out = F.conv2d(x, ones, padding=2 * (3 - 1), dilation=2)[0, 0]
    assert out.shape == (8, 8)  # 4 + 2·2·(3 − 1) − (2·(3 − 1) + 1) + 1
    assert out[0, 0] == x[0, 0, 0, 0] and out[-1, -1] == x[0, 0, -1, -1]
    assert len(board(at)["frames"]) == out.numel()  # one frame per output cell


def test_exercise_and_flip():
    at = open_page(PAGE)
    at.selectbox(key="source").set_value("exercise").run()
    assert_clean(at)
    assert at.selectbox(key="kernel_preset").value == "diagonal (chapter exercise)"
    assert len(board(at)["frames"]) == 9
    assert value_in(written_sum(at)) == 2
    assert value_in(captions(at)[1]) == 0
    # True convolution of the worked example flips the kernel: every sign changes.
    at.selectbox(key="source").set_value("worked example").run()
    at.toggle(key="flip").set_value(True).run()
    assert_clean(at)
    assert value_in(written_sum(at)) == 2


def test_predict_then_reveal():
    at = open_page(PAGE, {"predict": "true"})
    # First the size: neither the output grid, nor its title, nor the working give it away.
    assert written_sum(at) == ""
    assert not any(g["title"].startswith("Output") for g in board(at)["grids"])
    assert board(at)["server"]["locked"]
    assert not any("Output size" in e.label for e in at.expander)
    at.number_input(key="guess_rows").set_value(2)
    at.number_input(key="guess_cols").set_value(2)
    next(b for b in at.button if b.label == "Check the size").click().run()
    assert_clean(at)
    assert any("Right: the output is 2 × 2" in s.value for s in at.success)
    assert any(g["title"] == "Output 2 × 2" for g in board(at)["grids"])
    # Then each value, hidden until the student has typed a guess.
    assert written_sum(at) == ""
    at.number_input(key="guess_0").set_value(-2)
    next(b for b in at.button if b.label == "Check").click().run()
    assert_clean(at)
    assert any("Right! Here is the working." in s.value for s in at.success)
    assert value_in(written_sum(at)) == -2
    click(at, "Next cell")
    assert board(at)["server"]["index"] == 1 and written_sum(at) == ""
    at.number_input(key="guess_1").set_value(5)
    next(b for b in at.button if b.label == "Check").click().run()
    assert f"the value is {MINUS}2" in at.error[0].value
    assert value_in(written_sum(at)) == -2


def test_multichannel_shows_three_sums_and_total():
    at = open_page(PAGE, {"source": "random grid", "rgb": "true", "size": "4", "seed": "7"})
    lines = written_sum(at).split("<br>")
    assert [line.split(":")[0].split(">")[-1].strip() for line in lines][1:] == ["G", "B",
                                                                                   "total"]
    x = torch.tensor(examples.random_grid(3, 4, 7))[None]
    w = torch.tensor(np.stack([KERNELS["vertical edge (chapter)"]] * 3))[None]
    assert value_in(lines[-1]) == pytest.approx(F.conv2d(x, w).numpy()[0, 0, 0, 0])


def test_pooling_mode_steps_through_the_chapters_example():
    at = open_page(PAGE)
    at.selectbox(key="source").set_value("pooling example").run()
    assert_clean(at)
    assert at.session_state.mode == "pooling"
    results = []
    for caption in captions(at):
        results.append(value_in(caption))
        assert caption.split(":", 1)[1].strip().startswith("max(")
    x = torch.tensor(examples.POOLING_INPUT)[None, None]
    assert results == list(F.max_pool2d(x, 2).numpy().ravel())


def test_switching_modes_keeps_every_setting():
    at = open_page(PAGE, {"kernel_preset": "custom (as typed)", "kernel": "0 1\n1 0",
                          "bias": "1.5"})
    at.segmented_control(key="mode").set_value("pooling").run()
    at.run()  # a second run without the kernel's text box on screen
    at.segmented_control(key="mode").set_value("convolution").run()
    assert_clean(at)
    assert at.text_area(key="kernel").value == "0 1\n1 0"
    assert at.number_input(key="bias").value == 1.5
    # The anti-diagonal of the first window, [[1 2] [0 1]], plus the bias: 2 + 0 + 1.5.
    assert value_in(written_sum(at)) == 3.5


@pytest.mark.parametrize("query, message", [
    ({"grid": "1 2\n3 4"}, "kernel 3 does not fit in 2 + 2·0 = 2 input pixels"),
    ({"grid": "1 2 3\n4 5"}, "row 2 has 2 numbers"),
    ({"source": "random grid", "rgb": "true", "kernel_preset": "custom (as typed)",
      "kernel": "1 0\n0 1"}, "the input has 3 channel(s) but the kernel has 1"),
])
def test_bad_settings_show_a_message(query, message):
    at = open_page(PAGE, query)
    assert any(message in e.value for e in at.error), [e.value for e in at.error]


def test_photo_patch_comes_from_the_picked_photo():
    at = open_page(PAGE, {"source": "photo patch", "size": "4"})
    grid = at.text_area(key="grid").value
    values = np.array([[float(v) for v in row.split()] for row in grid.splitlines()])
    assert values.shape == (4, 4) and values.min() >= 0 and values.max() <= 255
    assert not at.error


def test_pooling_the_whole_photo_shows_it_pixel_for_pixel_and_says_so():
    at = open_page(PAGE, {"mode": "pooling", "pool_size": "2", "stride": "2"})
    original, pooled = (c for image in at.image[-2:] for c in image.captions)
    width, height = (int(n) for n in original.split(", ")[1].split(" × "))
    assert pooled.startswith(f"Result max pooling of each colour channel, 2 × 2 windows: "
                             f"{width // 2} × {height // 2}, each pixel drawn 2 × 2")
    assert "greyscale" not in pooled


def test_the_output_size_working_is_written_one_step_a_line():
    at = open_page(PAGE)  # 4 × 4 input, 3 × 3 kernel: 2 × 2
    assert [e.label for e in at.expander if e.label.startswith("Output size")] == [
        "Output size: 2 × 2"]
    for latex in at.latex:  # rows, then columns; aligned, so a narrow screen wraps it
        body = latex.value.strip("$\n")
        assert body.startswith(r"\begin{aligned}W_{out} &=")
        assert body.endswith(r"\\ &= 2\end{aligned}")


def test_a_smaller_result_is_enlarged_pixel_for_pixel():
    small = Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4) * 20)
    big, factor = filtering.enlarged(small, (8, 6))
    assert factor == 2 and big.size == (8, 6)
    assert (np.asarray(big) == np.asarray(small).repeat(2, 0).repeat(2, 1)).all()
    assert filtering.enlarged(small, (4, 3)) == (small, 1)


def test_gif_has_one_frame_per_step_at_a_slides_resolution():
    t = steps.conv_trace(examples.WORKED_INPUT, KERNELS["vertical edge (chapter)"], padding=1)
    gif = Image.open(io.BytesIO(animation_gif(step_animation(t))))
    assert gif.format == "GIF" and gif.n_frames == len(t) == 16
    assert gif.width >= SLIDE_WIDTH >= 1280


@pytest.mark.browser
def test_browser_steps_and_click_to_jump(visit, page, artefacts):
    messages = ServerMessages(page)
    visit("convolution")
    written = page.locator(".written-sum")
    assert re.search(r"= \u22122$", written.inner_text())
    # Stepping happens in the browser: not one message goes to the server.
    sent = messages.count
    page.get_by_role("button", name="Forward").click()
    assert "cell (0, 1)" in written.inner_text()
    assert "step=2" in page.url
    # Click the bottom-right output cell: the animation jumps to the last step.
    page.locator('.cnnviz-clickable rect[data-k="3"]').click()
    page.wait_for_function(
        "() => document.querySelector('.written-sum')?.innerText.includes('cell (1, 1)')",
        timeout=30_000)
    assert re.search(r"= \u22124$", written.inner_text())
    page.screenshot(path=str(artefacts / "convolution-by-hand.png"), full_page=True)
    # Play from the last step starts over and runs to the end on its own, then stops.
    page.get_by_text("fast", exact=True).click()
    page.get_by_role("button", name="Play").click()
    page.wait_for_function(
        "() => document.querySelector('.written-sum')?.innerText.includes('cell (0, 1)')",
        timeout=60_000)
    page.wait_for_function(
        "() => document.querySelector('.written-sum')?.innerText.includes('cell (1, 1)')",
        timeout=60_000)
    page.get_by_role("button", name="Play").wait_for(timeout=60_000)
    assert messages.count == sent, "stepping and playing sent messages to the server"
    assert_no_exception(page)
