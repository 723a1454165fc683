"""The training page in a real browser: a short training runs live and ends in results."""

import pytest

from tests.conftest import assert_no_exception, wait_for_app

pytestmark = pytest.mark.browser


def start_training(visit, page, epochs: int, path: str = "train-cnn"):
    """Open the page, set the epochs, press Start; the main area's locator."""
    visit(path)
    main = page.locator('[data-testid="stMain"]')
    field = main.get_by_label("Epochs")
    field.fill(str(epochs))
    field.press("Enter")
    wait_for_app(page)
    main.get_by_role("button", name="Start").click()
    return main


def test_a_short_training_shows_live_curves_then_the_confusion_matrix(visit, page, artefacts):
    main = start_training(visit, page, 1)
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


# Every 200 ms: the places in the queue this page has shown, and any refusal.
WATCH_QUEUE = """
(() => {
  const seen = window.__queue = {places: [], refused: false};
  setInterval(() => {
    const text = document.body ? document.body.innerText : "";
    const place = text.match(/place (\\d+) in the queue/);
    if (place) seen.places.push(Number(place[1]));
    if (/already running|queue is full|already has a training/.test(text)) seen.refused = true;
  }, 200);
})();
"""


def test_six_sessions_press_start_at_once_and_all_six_finish(browser, streamlit_server,
                                                             artefacts):
    url, _ = streamlit_server
    tabs = []
    for _ in range(6):
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.add_init_script(WATCH_QUEUE)
        tab = context.new_page()
        tab.goto(f"{url}/train-cnn")
        wait_for_app(tab)
        tabs.append(tab)
    buttons = [tab.locator('[data-testid="stMain"]').get_by_role("button", name="Start")
               for tab in tabs]
    for button in buttons:  # as fast as six students can
        button.click()
    for k, tab in enumerate(tabs):
        tab.get_by_text("Test accuracy").wait_for(timeout=600_000)
        wait_for_app(tab)
        assert_no_exception(tab)
        tab.screenshot(path=artefacts / f"train-cnn-class-{k + 1}.png")
    seen = [tab.evaluate("() => window.__queue") for tab in tabs]
    assert not any(s["refused"] for s in seen)
    queued = [s["places"] for s in seen if s["places"]]
    # Two slots on two cores: at least four of the six waited, and each that waited saw its
    # place count down.
    assert len(queued) >= 4, seen
    assert all(p[-1] <= p[0] for p in queued)
    for tab in tabs:
        tab.context.close()


def click_until(tab, button, text: str, tries: int = 5) -> None:
    """Click ``button`` until ``text`` shows (a click that lands while the part of the page
    holding it is redrawn is lost, as it would be for a person, who clicks again)."""
    for _ in range(tries):
        button.click()
        try:
            tab.get_by_text(text).first.wait_for(timeout=10_000)
            return
        except Exception:
            continue
    raise AssertionError(f"{text!r} never showed")


def progress_step(main) -> int:
    text = main.locator('[data-testid="stProgress"]').first.inner_text()
    return int(text.split("step ")[1].split(" of")[0].replace(",", ""))


def test_pause_step_resume_and_a_learning_rate_change_appear_in_the_history(visit, page,
                                                                          artefacts):
    main = start_training(visit, page, 20)
    page.get_by_text("steps/s").first.wait_for(timeout=120_000)
    click_until(page, main.get_by_role("button", name="Pause"), "Paused after step")
    paused_at = progress_step(main)
    page.wait_for_timeout(1500)
    assert progress_step(main) == paused_at  # nothing trains while paused
    click_until(page, main.get_by_role("button", name="Step", exact=True),
                f"Paused after step {paused_at + 1:,} of")
    page.wait_for_timeout(1500)
    assert progress_step(main) == paused_at + 1  # one batch, then paused again
    rate = main.locator('[data-testid="stSlider"]').filter(
        has_text="Learning rate from the next step").get_by_role("slider")
    rate.focus()
    rate.press("ArrowRight")  # 0.001 → 0.003
    page.wait_for_function(  # the change is drawn on the curves, at the step it applies from
        "() => [...document.querySelectorAll('.js-plotly-plot')].some(p => p.layout && "
        f"(p.layout.annotations || []).some(a => a.text === 'lr 0.003' && a.x == {paused_at + 2}))",
        timeout=60_000)
    click_until(page, main.get_by_role("button", name="Resume"), "steps/s")
    page.wait_for_function(  # training goes on
        f"() => /Step ([\\d,]+) of/.test(document.body.innerText) && Number(document.body"
        f".innerText.match(/Step ([\\d,]+) of/)[1].replace(/,/g, '')) > {paused_at + 5}",
        timeout=120_000)
    page.screenshot(path=artefacts / "train-cnn-rate-change.png", full_page=True)
    main.get_by_role("button", name="Stop").click()
    page.get_by_text("Test accuracy").wait_for(timeout=120_000)
    assert_no_exception(page)


# The page position of channel ``channel`` of stage ``stage`` in the network overview.
TILE = """([stage, channel]) => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')].find(
      p => p.data && p.data[0] && p.data[0].customdata && p.data[0].customdata.length > 20);
  const cd = gd.data[0].customdata;
  let i = 0;
  while (!(cd[i][0] == stage && cd[i][1] == channel)) i++;
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
  return [r.left + xa._offset + xa.d2p(gd.data[0].x[i]),
          r.top + ya._offset + ya.d2p(gd.data[0].y[i])];
}"""


def test_a_click_on_a_neuron_animates_its_convolution_in_place(visit, page, artefacts):
    main = start_training(visit, page, 1, "train-cnn?train_watch=whole")
    page.get_by_text("Test accuracy").wait_for(timeout=300_000)
    wait_for_app(page)
    before = page.url
    page.locator(".js-plotly-plot").filter(has_text="conv2").first.scroll_into_view_if_needed()
    board = main.locator(".cnnviz-anim")
    for _ in range(5):  # conv2, channel 3: eight input channels
        page.mouse.click(*page.evaluate(TILE, [4, 3]))
        try:
            board.first.wait_for(timeout=10_000)
            break
        except Exception:
            continue
    wait_for_app(page)
    assert page.url.split("?")[0] == before.split("?")[0]  # the same page: in place
    titles = board.first.locator(".cnnviz-title").all_text_contents()
    assert sum(t.startswith("Input") for t in titles) == 8
    assert sum(t.startswith("Kernel") for t in titles) == 8
    assert board.first.get_attribute("data-frames") == "16"
    first = main.locator(".written-sum").first.inner_text()
    board.first.get_by_role("button", name="Forward ▶").click()
    assert board.first.get_attribute("data-step") == "1"
    assert main.locator(".written-sum").first.inner_text() != first  # the next cell's sum
    assert "channel 8" in main.locator(".written-sum").first.inner_text()  # all eight summed
    page.screenshot(path=artefacts / "train-cnn-neuron-animation.png", full_page=True)
    assert_no_exception(page)


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
