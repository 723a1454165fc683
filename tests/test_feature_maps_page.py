"""The feature-map page headlessly (AppTest) and in a real browser: a layer change, a channel
chosen by number and by a click on the grid, links that restore the view, a second photo;
and the pixels its figures draw."""

import base64
import io
import re
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
import torch
from PIL import Image
from plotly.colors import get_colorscale

from cnnviz import activations, images, models
from cnnviz.figures import feature_maps as fm
from tests.conftest import assert_no_exception, wait_for_app
from tests.pagetest import assert_clean, open_page
from tests.test_models import closed_port_url

PAGE = "views/feature_maps.py"
STEM_TITLE = "stem · conv 3×3, stride 2"  # EfficientNet-Lite0's `_conv_stem`
MINUS = "\u2212"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", closed_port_url())


def stem_output(photo: str) -> np.ndarray:
    """The stem convolution's output, computed without the app: (32, 112, 112)."""
    bundle = models.load_model()
    with torch.inference_mode():
        batch = bundle.batch(images.load_image(images.sample_images()[photo]))
        return bundle.model._conv_stem(batch)[0].numpy()


def stats_line(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("min **"))


def number_after(text: str, label: str) -> float:
    return float(re.search(rf"{label} \*\*([^*]+)\*\*", text)[1].replace(MINUS, "-"))


def module_caption(at) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Module `"))


def test_layer_change_and_channel_choice():
    at = open_page(PAGE)
    lite0 = models.load_model()
    names = activations.layer_names(lite0)
    middle = activations.stage_outputs(lite0)[2].name
    assert at.selectbox(key="layer").value == middle
    assert at.slider(key="depth").value == names.index(middle) + 1

    at.selectbox(key="layer").set_value("_conv_stem").run()  # a layer change
    assert_clean(at)
    assert module_caption(at).startswith("Module `_conv_stem` (Conv2dSame) · output 32 × 112 "
                                         "× 112")
    assert at.slider(key="depth").value == 1
    expected = stem_output("Cat (Chelsea)")
    strongest = int(np.argmax(expected.mean(axis=(1, 2))))
    assert at.number_input(key="channel").value == strongest  # the strongest channel first

    at.number_input(key="channel").set_value(7).run()  # another channel
    assert_clean(at)
    assert at.query_params["channel"] == "7"
    line = stats_line(at)
    assert number_after(line, "max") == pytest.approx(expected[7].max(), rel=1e-3, abs=1e-3)
    assert number_after(line, "mean") == pytest.approx(expected[7].mean(), rel=2e-3, abs=1e-3)

    at.slider(key="depth").set_value(3).run()  # the depth slider moves the selector too
    assert_clean(at)
    assert at.selectbox(key="layer").value == names[2]
    assert f"`{names[2]}`" in module_caption(at)


def test_a_link_restores_layer_and_channel_and_bad_values_fall_back():
    title = "stage 3 · block 2 · depthwise conv 5×5"
    at = open_page(PAGE, {"layer": title, "channel": "11", "order": "in order"})
    assert at.selectbox(key="layer").value == "_blocks.4._depthwise_conv"
    assert at.number_input(key="channel").value == 11
    assert at.segmented_control(key="order").value == "index"

    at = open_page(PAGE, {"layer": "stage 99 · nothing", "channel": "100000"})
    lite0 = models.load_model()
    assert at.selectbox(key="layer").value == activations.stage_outputs(lite0)[2].name
    assert 0 <= at.number_input(key="channel").value < 40


def test_switching_model_moves_to_a_layer_the_new_model_has():
    at = open_page(PAGE, {"layer": STEM_TITLE})
    at.selectbox(key="model").set_value("resnet18")
    at.checkbox(key="model_untrained").check().run()
    assert_clean(at)
    resnet = models.load_model("resnet18", pretrained=False)
    assert at.selectbox(key="layer").value == activations.stage_outputs(resnet)[2].name
    assert "random noise" in next(c.value for c in at.caption if "filters of" in c.value)


def test_a_second_photo_shows_the_same_channel():
    at = open_page(PAGE, {"layer": STEM_TITLE, "channel": "3"})
    at.toggle(key="compare").set_value(True).run()
    assert_clean(at)
    assert at.selectbox(key="image2_sample").value == "Espresso cup"
    line = next(m.value for m in at.markdown if m.value.startswith("Mean of channel 3"))
    first, second = (float(v.replace(MINUS, "-")) for v in re.findall(r"\*\*([^*]+)\*\*", line))
    assert first == pytest.approx(stem_output("Cat (Chelsea)")[3].mean(), rel=2e-3, abs=1e-3)
    assert second == pytest.approx(stem_output("Espresso cup")[3].mean(), rel=2e-3, abs=1e-3)


GRID_TILE = """(chart, index) => {
    const gd = chart.querySelector('.js-plotly-plot');
    const trace = gd.data.find(t => t.customdata);
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    const box = gd.getBoundingClientRect();
    return [box.left + xa._offset + xa.l2p(trace.x[index]),
            box.top + ya._offset + ya.l2p(trace.y[index]), Number(trace.customdata[index])];
}"""


@pytest.mark.browser
def test_browser_layer_change_and_channel_click(visit, page, artefacts):
    visit("feature-maps")

    # Search the layer list by typing, as a student would.
    layer_box = page.locator('[data-testid="stSelectbox"]').filter(
        has_text="Layer (type to search)")
    layer_box.click()
    page.keyboard.type("stage 2 · block 1 · depthwise")
    page.keyboard.press("Enter")
    page.wait_for_function("() => location.search.includes('layer=_blocks.1._depthwise_conv')",
                           timeout=60_000)
    wait_for_app(page)
    assert_no_exception(page)
    query = parse_qs(urlparse(page.url).query)  # the link names the module, as users may
    assert query["layer"] == ["_blocks.1._depthwise_conv"]
    assert page.get_by_text("_blocks.1._depthwise_conv").first.is_visible()

    # Click the second map of the grid: that channel becomes the enlarged one.
    grid = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Channels 1–16")
    grid.scroll_into_view_if_needed()
    x, y, clicked = grid.evaluate(GRID_TILE, 1)
    assert f"channel={clicked}" not in page.url
    page.mouse.click(x, y)
    page.wait_for_function(f"() => location.search.includes('channel={clicked}')",
                           timeout=60_000)
    wait_for_app(page)
    assert_no_exception(page)
    numbers = page.locator('[data-testid="stNumberInputField"]').evaluate_all(
        "inputs => inputs.map(i => i.value)")
    assert str(clicked) in numbers
    assert page.get_by_text(f"Channel {clicked} over the photo").first.is_visible()
    page.screenshot(path=str(artefacts / "feature-maps.png"), full_page=True)


# ------------------------------------------------------------- the figures' pixels


def decoded(fig) -> np.ndarray:
    """The RGB pixels of the figure's image trace."""
    source = next(trace.source for trace in fig.data if trace.type == "image")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
                      .convert("RGB")).astype(int)


def test_channel_grid_colours_each_map_by_its_values_and_labels_it():
    fmap = np.zeros((6, 7, 7), dtype=np.float16)
    fmap[4] = 2.0  # the strongest channel, top of the scale
    fmap[1, 3, 3] = 1.0  # one bright pixel in the middle of channel 1
    fig = fm.channel_grid(fmap, [4, 1, 0], selected=1, columns=3, width_px=3 * 70 + 12)
    pixels = decoded(fig)
    top = get_colorscale("Cividis")[-1][1]  # the sequential scale's last colour, "#fee838"
    bottom = get_colorscale("Cividis")[0][1]
    targets, labels = (trace for trace in fig.data if trace.type == "scatter")
    assert list(targets.customdata) == [4, 1, 0] and list(labels.text) == ["4", "1", "0"]
    tile = 70  # 7 × 7 maps, each pixel repeated 10 times
    # Each number in the picture's coordinates, centred in the band under its own map (so it
    # stays there however large the browser draws the figure).
    assert list(labels.x) == [35, 76 + 35, 2 * 76 + 35]
    assert list(labels.y) == [tile + fm.LABEL_PX / 2] * 3
    assert np.abs(pixels[5, 5] - hex_rgb(top)).max() <= 2  # channel 4
    assert np.abs(pixels[5, 76 + 5] - hex_rgb(bottom)).max() <= 2  # channel 1, a dark corner
    middle = pixels[35, 76 + 35]  # channel 1's bright pixel: halfway up the scale
    assert 0 < np.abs(middle - hex_rgb(bottom)).max() and 0 < np.abs(middle - hex_rgb(top)).max()
    outline = fig.layout.shapes[0]
    assert (outline.x0, outline.x1) == (76 - 2.5, 76 + tile + 1.5)


def test_overlay_is_the_photo_where_the_map_is_lowest_and_the_scale_where_it_is_highest():
    photo = np.full((40, 40, 3), 100, dtype=np.uint8)
    channel = np.zeros((4, 4), dtype=np.float32)
    channel[0, 0] = 5.0
    pixels = decoded(fm.overlay(photo, channel, opacity=0.75))
    top = hex_rgb(get_colorscale("Turbo")[-1][1])  # the default scale: turbo, hot is red
    assert np.abs(pixels[0, 0] - (0.25 * 100 + 0.75 * top)).max() <= 2
    assert np.abs(pixels[39, 39] - 100).max() <= 1
    # A signed channel is shown where it fires: everything at or below zero is the photo.
    channel[1:, 1:] = -3.0
    pixels = decoded(fm.overlay(photo, channel, opacity=0.75))
    assert np.abs(pixels[39, 39] - 100).max() <= 1 and np.abs(pixels[20, 20] - 100).max() <= 1


def test_stage_strip_shows_each_map_at_its_own_size_on_one_scale():
    maps = [("stem", (32, 4, 4), np.arange(16, dtype=np.float32).reshape(4, 4)),
            ("stage 1", (16, 2, 2), np.array([[-1.0, 0.0], [0.0, 3.0]], dtype=np.float32))]
    strip = fm.stage_strip(maps, current=1)
    sources = re.findall(r'src="data:image/png;base64,([^"]+)"', strip)
    pictures = [np.asarray(Image.open(io.BytesIO(base64.b64decode(s))).convert("RGB")).astype(int)
                for s in sources]
    assert [p.shape[:2] for p in pictures] == [(4, 4), (2, 2)]  # the browser enlarges them
    bottom, top = (hex_rgb(get_colorscale("Cividis")[k][1]) for k in (0, -1))
    for picture in pictures:  # every map from its lowest to its highest value, one scale
        assert np.abs(picture[0, 0] - bottom).max() <= 2
        assert np.abs(picture[-1, -1] - top).max() <= 2
    assert "<b>stem</b><br>4 × 4<br>32 channels" in strip and "stage 1" in strip
    assert strip.count("border:4px solid transparent") == 1  # only the current one outlined


def test_first_layer_filters_show_positive_weights_as_their_colour():
    weights = np.zeros((2, 3, 3, 3), dtype=np.float32)
    weights[0, 0] = 1.0  # all red: full red, grey green and blue
    weights[1, 2] = -0.5  # negative blue: less blue than grey
    pixels = decoded(fm.filter_patches(weights, columns=2))
    assert pixels[0, 0].tolist() == [255, 128, 128]
    assert pixels[0, -1].tolist() == [128, 128, 64]


def hex_rgb(colour: str) -> np.ndarray:
    colour = colour.lstrip("#")
    if colour.startswith("rgb"):
        return np.array([float(v) for v in colour[colour.index("(") + 1:-1].split(",")])
    return np.array([int(colour[i:i + 2], 16) for i in (0, 2, 4)])
