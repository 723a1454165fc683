"""Drawing a digit on "Train a CNN" in Chromium: with the mouse on a laptop and then on a
projector (presentation mode, 1024 × 768), and with a finger on a 390-pixel phone. A network
is trained for a few seconds first, as a student would, since the tab appears only then."""

import numpy as np
import pytest

from cnnviz.train.scratch.own_digit import MAX_DRAWING_CHARS
from tests.conftest import assert_no_exception, wait_for_app

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
PROJECTOR = {"width": 1024, "height": 768}
READING = "The network reads"
PROMPT = "Draw one digit on the pad"
# The probabilities chart beside the pad, as plotly drew them (None while there is none).
PROBABILITIES = """() => {
  const panel = document.querySelector('.cnnviz-pad').closest('[role="tabpanel"]');
  const plot = panel.querySelector('.js-plotly-plot');
  return plot && plot._fullData ? Array.from(plot._fullData[0].y) : null;
}"""
# How far the page and every box around the pad have scrolled, added up.
SCROLLED = """() => {
  let total = document.scrollingElement.scrollTop;
  for (let e = document.querySelector('.cnnviz-pad-canvas'); e; e = e.parentElement) {
    total += e.scrollTop;
  }
  return total;
}"""
ONE = [(0.5, 0.15), (0.5, 0.85)]
ZERO = [(0.5 + 0.28 * np.sin(t), 0.5 - 0.36 * np.cos(t)) for t in np.linspace(0, 6.4, 40)]


def train_briefly(tab) -> None:
    """Train the default network for ten seconds and open the "Your own digit" tab."""
    main = tab.locator('[data-testid="stMain"]')
    for label, value in (("Epochs", "1"), ("Time limit (s)", "10")):
        box = main.get_by_label(label)
        box.fill(value)
        box.press("Enter")
        wait_for_app(tab)
    main.get_by_role("button", name="Start").click()
    tab.get_by_text("Test accuracy").wait_for(timeout=300_000)
    wait_for_app(tab)
    main.get_by_role("tab", name="Your own digit").click()
    tab.get_by_text(PROMPT).wait_for()
    assert_no_exception(tab)


def pad_box(tab) -> dict:
    canvas = tab.locator(".cnnviz-pad-canvas")
    canvas.scroll_into_view_if_needed()
    return canvas.bounding_box()


def at(box: dict, x: float, y: float) -> tuple[float, float]:
    return box["x"] + x * box["width"], box["y"] + y * box["height"]


def mouse_stroke(tab, points, *, steps: int = 4) -> None:
    box = pad_box(tab)
    scrolled = tab.evaluate(SCROLLED)
    tab.mouse.move(*at(box, *points[0]))
    tab.mouse.down()
    for point in points[1:]:
        tab.mouse.move(*at(box, *point), steps=steps)
    tab.mouse.up()
    assert tab.evaluate(SCROLLED) == scrolled  # the page did not move under the pen


def wait_for_new_reading(tab, before) -> list[float]:
    """The probabilities once the chart shows others than ``before``."""
    tab.wait_for_function(f"(before) => {{ const p = ({PROBABILITIES})(); "
                          "return p && JSON.stringify(p) !== JSON.stringify(before); }",
                          arg=before, timeout=60_000)
    return tab.evaluate(PROBABILITIES)


def test_a_digit_drawn_with_the_mouse_is_read_as_it_forms_cleared_and_redrawn(
        visit, page, artefacts, outside_requests):
    visit("train-cnn")
    train_briefly(page)
    assert page.evaluate(PROBABILITIES) is None

    # A "1" drawn slowly: the reading appears while the button is still held.
    box = pad_box(page)
    scrolled = page.evaluate(SCROLLED)
    page.mouse.move(*at(box, 0.5, 0.15))
    page.mouse.down()
    page.mouse.move(*at(box, 0.5, 0.6), steps=12)
    page.get_by_text(READING).wait_for(timeout=30_000)
    page.mouse.move(*at(box, 0.5, 0.85), steps=6)
    page.mouse.up()
    assert page.evaluate(SCROLLED) == scrolled  # the reading appeared; the pad stayed put
    page.wait_for_timeout(1500)  # the end of the stroke is sent and read
    wait_for_app(page)
    one = page.evaluate(PROBABILITIES)
    assert len(one) == 10 and abs(sum(one) - 1) < 1e-4
    assert page.locator(".cnnviz-pad").get_attribute("data-strokes") == "1"
    sent = int(page.locator(".cnnviz-pad").get_attribute("data-chars"))
    assert 0 < sent < MAX_DRAWING_CHARS / 10  # a PNG of a few kilobytes, not the screen's pixels
    steps = page.locator('[role="tabpanel"] [data-testid="stImage"]').filter(
        has_text="Centred by mass")
    assert steps.count() == 1  # the MNIST preparation, step by step
    page.screenshot(path=artefacts / "train-cnn-drawn-one.png", full_page=True)

    page.locator(".cnnviz-pad").get_by_role("button", name="Clear").click()
    page.get_by_text(PROMPT).wait_for(timeout=30_000)
    assert page.get_by_text(READING).count() == 0
    assert page.locator(".cnnviz-pad").get_attribute("data-strokes") == "0"

    mouse_stroke(page, ZERO)
    wait_for_new_reading(page, None)
    page.wait_for_timeout(1500)  # a reading sent mid-stroke may come first: wait for the end's
    wait_for_app(page)
    zero = page.evaluate(PROBABILITIES)
    assert np.abs(np.subtract(zero, one)).max() > 0.05  # another drawing, another reading
    assert_no_exception(page)
    page.screenshot(path=artefacts / "train-cnn-drawn-zero.png", full_page=True)

    # On the projector: the pad and the reading share the screen, and drawing still reads.
    page.get_by_text("Present", exact=True).click()
    page.set_viewport_size(PROJECTOR)
    wait_for_app(page)
    page.locator('[data-testid="stMain"]').get_by_role("tab", name="Your own digit").click()
    assert wait_for_new_reading(page, None) == zero  # the same drawing, read the same
    assert page.locator(".cnnviz-pad").get_attribute("data-strokes") == "1"  # and still shown
    canvas = page.locator(".cnnviz-pad-canvas")
    canvas.scroll_into_view_if_needed()
    chart = page.locator('[role="tabpanel"]', has=canvas).locator(".js-plotly-plot")
    pad = canvas.bounding_box()
    assert pad["width"] >= 280 and pad["y"] + pad["height"] <= PROJECTOR["height"]
    assert chart.bounding_box()["x"] >= pad["x"] + pad["width"]  # beside it, not below
    before = page.evaluate(PROBABILITIES)
    page.locator(".cnnviz-pad").get_by_role("button", name="Clear").click()
    page.get_by_text(PROMPT).wait_for(timeout=30_000)
    mouse_stroke(page, ONE)
    assert wait_for_new_reading(page, None) != before
    page.screenshot(path=artefacts / "train-cnn-drawn-present.png")
    assert outside_requests == []


def test_a_finger_draws_on_a_phone_without_scrolling_the_page(browser, streamlit_server,
                                                              artefacts):
    url, _ = streamlit_server
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True,
                                  device_scale_factor=2)
    try:
        tab = context.new_page()
        tab.goto(f"{url}/train-cnn")
        wait_for_app(tab)
        train_briefly(tab)
        box = pad_box(tab)
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert box["width"] >= 280
        touch = context.new_cdp_session(tab)

        def finger(points) -> None:
            send = lambda kind, at_: touch.send(  # noqa: E731
                "Input.dispatchTouchEvent",
                {"type": kind, "touchPoints": [{"x": at_[0], "y": at_[1]}] if at_ else []})
            send("touchStart", points[0])
            for point in points[1:]:
                send("touchMove", point)
            send("touchEnd", None)

        # The same gesture outside the pad scrolls the page: the measure can see a scroll.
        outside = tab.get_by_text("Draw a digit, or write one on paper").bounding_box()
        start = tab.evaluate(SCROLLED)
        x = outside["x"] + 20
        finger([(x, outside["y"] + 5 - 8 * k) for k in range(25)])
        tab.wait_for_timeout(800)
        assert tab.evaluate(SCROLLED) != start

        box = pad_box(tab)
        start = tab.evaluate(SCROLLED)
        finger([at(box, 0.5, 0.1 + 0.8 * k / 24) for k in range(25)])  # a "1", top to bottom
        tab.get_by_text(READING).wait_for(timeout=30_000)
        assert tab.evaluate(SCROLLED) == start  # the page stayed put under the finger
        assert tab.locator(".cnnviz-pad").get_attribute("data-strokes") == "1"
        assert len(tab.evaluate(PROBABILITIES)) == 10
        assert_no_exception(tab)
        tab.screenshot(path=artefacts / "train-cnn-drawn-phone.png", full_page=True)
    finally:
        context.close()
