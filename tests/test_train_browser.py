"""The training page in a real browser: a short training runs live and ends in results."""

import pytest

from tests.conftest import assert_no_exception, wait_for_app

pytestmark = pytest.mark.browser


def test_a_short_training_shows_live_curves_then_the_confusion_matrix(visit, page, artefacts):
    visit("train-cnn")
    main = page.locator('[data-testid="stMain"]')
    epochs = main.get_by_label("Epochs")
    epochs.fill("1")
    epochs.press("Enter")
    wait_for_app(page)
    main.get_by_role("button", name="Start").click()
    page.get_by_text("steps/s").first.wait_for(timeout=60_000)  # the live progress line
    curves = main.locator(".js-plotly-plot").first
    curves.get_by_text("Loss (cross-entropy)").wait_for(timeout=60_000)
    page.wait_for_function(  # the training curve has points while training goes on
        "() => [...document.querySelectorAll('.js-plotly-plot')].some(p => p.data && "
        "p.data.some(t => t.name && t.name.startsWith('training') && t.x.length > 3))",
        timeout=120_000)
    page.screenshot(path=artefacts / "train-cnn-live.png", full_page=True)
    page.get_by_text("Test accuracy").wait_for(timeout=300_000)
    wait_for_app(page)
    assert_no_exception(page)
    accuracy = page.locator('[data-testid="stMetricValue"]').filter(has_text="%").last.inner_text()
    assert float(accuracy.rstrip("%")) > 50  # chance is 10 %
    assert main.get_by_text("Counts").first.is_visible()
    assert main.get_by_text("Row-normalised").first.is_visible()
    assert main.get_by_text("The most confident mistakes").is_visible()
    page.screenshot(path=artefacts / "train-cnn-results.png", full_page=True)


def test_a_link_opens_the_chapters_plain_sgd_and_momentum_follows_the_optimiser(visit, page):
    visit("train-cnn?train_optimizer=sgd&train_momentum=0&train_lr=0.01")
    main = page.locator('[data-testid="stMain"]')
    momentum = main.locator('[data-testid="stSlider"]').filter(
        has_text="Momentum (SGD)").get_by_role("slider")
    assert momentum.get_attribute("aria-valuetext") == "0"
    momentum.press("ArrowRight")  # 0 → 0.5
    wait_for_app(page)
    assert "train_momentum=0.5" in page.url and "train_lr=0.01" in page.url
    main.get_by_text("Adam", exact=True).click()
    wait_for_app(page)
    assert "train_optimizer=adam" in page.url
    momentum.press("ArrowRight")  # Adam has no momentum setting: nothing moves
    page.wait_for_timeout(1000)
    wait_for_app(page)
    assert momentum.get_attribute("aria-valuetext") == "0.5" and "train_momentum=0.5" in page.url
    assert_no_exception(page)
