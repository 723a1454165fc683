"""The "Why convolution" and "What layers learn" pages, run headlessly (AppTest) and in
Chromium on a projector and a phone: what they print against independent numbers."""

import re

import pytest
from torch import nn

from tests.conftest import assert_no_exception, wait_for_app
from tests.pagetest import open_page
from tests.test_presentation import PHONE, PROJECTOR, assert_no_sideways_scroll, presenting

WHY = "views/why_convolution.py"
WHAT = "views/what_layers_learn.py"


def text(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_the_chapter_preset_counts_what_torch_counts():
    at = open_page(WHY)
    dense = sum(p.numel() for p in nn.Linear(224 * 224 * 3, 1000).parameters())
    conv = sum(p.numel() for p in nn.Conv2d(3, 1000, 5).parameters())
    assert f"**{dense:,}**" in text(at) and f"**{conv:,}**" in text(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Inputs per dense neuron"] == "150,528"
    assert metrics["Weights per conv neuron"] == "75"
    claims = at.dataframe[0].value
    assert list(claims.loc[claims["holds"] == "no", "the chapter says"]) == ["reduction: 5,375×"]


def test_custom_numbers_and_a_kernel_too_large_for_the_image():
    at = open_page(WHY, {"preset": "custom", "size": "32", "channels": "1", "outputs": "10",
                         "kernel": "3"})
    dense = sum(p.numel() for p in nn.Linear(32 * 32, 10).parameters())
    assert f"**{dense:,}**" in text(at)
    at = open_page(WHY, {"preset": "custom", "size": "8", "kernel": "11"})
    assert "does not fit" in at.warning[0].value


def test_a_shift_by_a_multiple_of_the_stride_is_exact_where_no_border_reaches():
    at = open_page(WHY, {"dx": "8", "dy": "0"})
    table = at.dataframe[1].value
    exact = table[(table["positions away from the border"] > 0)
                  & (table["stride"].isin([1, 2, 4, 8]))]
    assert len(exact) >= 3
    assert all(float(v) < 1e-4 for v in exact["largest difference there"])
    assert "equivariance" in text(at)
    odd = open_page(WHY, {"dx": "3", "dy": "0"}).dataframe[1].value
    inside = odd[(odd["positions away from the border"] > 0) & (odd["stride"] >= 4)]
    assert all(float(v) > 1e-3 for v in inside["largest difference there"])


def test_the_diagonal_shift_names_the_classes_it_saw():
    at = open_page(WHY)
    sentence = next(m for m in at.markdown if "Moving the 224-pixel window" in m.value).value
    count = int(re.search(r"names \*\*(\d+)\*\*", sentence).group(1))
    assert count >= 1


def test_what_layers_learn_opens_on_the_precomputed_image_and_its_examples():
    at = open_page(WHAT, {"layer": "_blocks.7", "channel": "20"})
    captions = [caption for image in at.image for caption in image.captions]
    assert any("precomputed" in c for c in captions)
    assert sum(" at row " in c for c in captions) == 8  # the dataset examples
    assert at.button(key="vis_start").disabled  # nothing to compute
    assert "receptive field of each position" in "\n".join(c.value for c in at.caption)


def test_a_channel_never_made_gets_a_start_button():
    at = open_page(WHAT, {"layer": "_blocks.7", "channel": "21", "vis_steps": "64",
                          "model_untrained": "true"})
    assert not at.button(key="vis_start").disabled


@pytest.mark.browser
@pytest.mark.parametrize("path", ["why-convolution", "what-layers-learn"])
def test_the_pages_fit_a_projector_and_a_phone(path, browser, streamlit_server, artefacts):
    url, _ = streamlit_server
    for size, address, name in ((PROJECTOR, presenting(path), "present"),
                                (PHONE, path, "phone")):
        context = browser.new_context(viewport=size)
        try:
            tab = context.new_page()
            tab.goto(f"{url}/{address}")
            wait_for_app(tab)
            tab.wait_for_timeout(1500)
            assert_no_exception(tab)
            assert_no_sideways_scroll(tab)
            assert tab.locator('[data-testid="stImage"], [data-testid="stPlotlyChart"]').count()
            tab.screenshot(path=artefacts / f"{name}-{path}-full.png", full_page=True)
        finally:
            context.close()


@pytest.mark.browser
def test_an_image_is_made_live_and_stop_ends_it(browser, streamlit_server):
    url, _ = streamlit_server
    context = browser.new_context(viewport=PROJECTOR)
    try:
        tab = context.new_page()
        tab.goto(f"{url}/what-layers-learn?layer=_blocks.2&channel=5&vis_steps=512&vis_size=96")
        wait_for_app(tab)
        tab.locator(".st-key-vis_start button").click()
        tab.get_by_text("Step ", exact=False).first.wait_for(timeout=120_000)
        tab.locator(".st-key-vis_stop button").click()
        tab.get_by_text("Stopped after", exact=False).wait_for(timeout=120_000)
        assert_no_exception(tab)
    finally:
        context.close()
