"""The "Why ResNets work" page in headless Chromium: figures drawn, a live run started, stopped."""

import pytest

from tests.conftest import assert_no_exception, wait_for_app

pytestmark = pytest.mark.browser


def test_live_comparison_shows_progress_and_stops(visit, page, artefacts):
    visit("why-resnets?depth=20")
    assert page.locator(".js-plotly-plot").count() >= 4  # flow, two curves, checkpoints
    assert page.get_by_text("Why ResNets work").first.is_visible()
    main = page.locator('[data-testid="stMain"]')
    main.get_by_role("button", name="Start").click()
    page.get_by_text("plain-20: step").first.wait_for(timeout=120_000)
    page.screenshot(path=artefacts / "why-resnets-live.png", full_page=True)
    main.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped after").wait_for(timeout=120_000)
    wait_for_app(page)
    assert_no_exception(page)
    assert main.get_by_role("button", name="Start").is_enabled()
