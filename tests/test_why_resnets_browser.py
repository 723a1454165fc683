"""The "Why ResNets work" page in headless Chromium: figures drawn, a live run started, stopped."""

import pytest

from tests.conftest import assert_no_exception, wait_for_app

pytestmark = pytest.mark.browser


def test_live_comparison_shows_progress_and_stops(visit, page, artefacts):
    visit("why-resnets?depth=20")
    # flow, two curves, checkpoints: plotly draws after the script has finished, later under load
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 4",
                           timeout=60_000)
    assert page.get_by_text("Why ResNets work").first.is_visible()
    main = page.locator('[data-testid="stMain"]')
    main.get_by_role("button", name="Start").click()
    page.get_by_text("Timing one step of each network").first.wait_for(timeout=120_000)
    page.get_by_text("plain-20, seed 0: step").first.wait_for(timeout=120_000)
    assert page.get_by_text("minutes left").first.is_visible()  # from the timed first steps
    page.screenshot(path=artefacts / "why-resnets-live.png", full_page=True)
    main.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped after").wait_for(timeout=120_000)
    wait_for_app(page)
    assert_no_exception(page)
    assert main.get_by_role("button", name="Start").is_enabled()


def test_on_a_phone_the_figures_labels_are_legible_and_apart(visit, page, artefacts):
    """Issue 24: at 390 px the subplot titles lay over each other and the log axes' minor tick
    labels were 9.6 px."""
    page.set_viewport_size({"width": 390, "height": 844})
    visit("why-resnets?depth=20")
    page.wait_for_timeout(1000)
    sizes = page.locator(".js-plotly-plot .xtick text, .js-plotly-plot .ytick text").evaluate_all(
        "ts => ts.map(t => parseFloat(getComputedStyle(t).fontSize))")
    assert sizes and min(sizes) >= 14, min(sizes)
    for chart in page.locator(".js-plotly-plot").all():
        boxes = [b for b in (t.bounding_box() for t in chart.locator(
            ".infolayer .annotation-text").all()) if b and b["width"] > 0]
        for k, a in enumerate(boxes):
            for b in boxes[k + 1:]:
                apart = (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                         or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])
                assert apart, (a, b)
    page.screenshot(path=artefacts / "phone-why-resnets.png", full_page=True)
