"""Every page on a projector (1024 × 768, presentation mode), on a phone (390 × 844) and on a
laptop (1280 × 800), in Chromium: what the class must see lies inside the screen and is large
and dark enough to read from the back of the room, nothing is cut or scrolls sideways, no
label lies over another, the keys step the animation in view, and presentation mode follows
the teacher from page to page. Screenshots of every page at every size go to
test-artifacts/ (the phone's whole page, the other sizes' first screen)."""

import io
import re
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnviz.figures import feature_maps as fm
from cnnviz.train.scratch.network_overview import grid_text
from cnnviz.ui.navigation import all_pages
from tests.conftest import assert_no_exception, wait_for_app

pytestmark = pytest.mark.browser

PROJECTOR = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
SIZES = {"projector": PROJECTOR, "phone": PHONE, "laptop": LAPTOP}
# Collects what cannot be read or is cut, in the page (see the file for what it judges).
LEGIBILITY = (Path(__file__).parent / "legibility.js").read_text()
SIDEWAYS = """() => [document.documentElement, document.querySelector('[data-testid="stMain"]')]
    .filter(Boolean).map(e => e.scrollWidth - e.clientWidth)"""


@pytest.fixture
def screen(browser, streamlit_server):
    """``screen(path, size)`` opens a page of the app in a fresh tab of that size."""
    url, _ = streamlit_server
    contexts = []

    def open_page(path: str, size: dict):
        context = browser.new_context(viewport=size)
        contexts.append(context)
        tab = context.new_page()
        tab.goto(f"{url}/{path}")
        wait_for_app(tab)
        assert_no_exception(tab)
        return tab

    yield open_page
    for context in contexts:
        context.close()


def presenting(path: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}present=1"


def assert_inside(tab, locator, what: str) -> dict:
    """``locator``'s box lies wholly inside the window (scrolled to the top): seen without
    scrolling."""
    box = locator.bounding_box()
    size = tab.viewport_size
    assert box is not None, f"{what} is not drawn"
    assert box["x"] >= 0 and box["y"] >= 0, f"{what} starts outside the screen: {box}"
    assert box["x"] + box["width"] <= size["width"] + 0.5, f"{what} is cut on the right: {box}"
    assert box["y"] + box["height"] <= size["height"] + 0.5, f"{what} is below the fold: {box}"
    return box


def assert_no_sideways_scroll(tab) -> None:
    overflow = tab.evaluate(SIDEWAYS)
    assert max(overflow) <= 0, f"{tab.url} scrolls sideways by {max(overflow)} px"


def page_cases():
    for spec in all_pages():
        for size in SIZES:
            yield pytest.param(spec, size, id=f"{spec.url_path or 'home'}-{size}")


def violations(tab, **options) -> list[str]:
    """What the page's check finds, one line each (empty: nothing to complain about)."""
    return [f"{v['kind']}: {v['what']} {v['detail']}"
            for v in tab.evaluate(LEGIBILITY, options)]


MAIN_SCROLL = """(y) => {
    const m = document.querySelector('[data-testid="stMain"]');
    m.scrollTop = y;
    const h = document.querySelector('[data-testid="stHeader"]');
    return [m.scrollTop, m.scrollHeight, m.clientHeight,
            h ? h.getBoundingClientRect().bottom : 0];
}"""


def whole_page(tab, path: Path, most: int = 12) -> None:
    """A screenshot of the whole page, screen by screen (Streamlit scrolls its main area, not
    the document, so the browser's own full-page screenshot shows only the first screen)."""
    _, height, client, head = tab.evaluate(MAIN_SCROLL, 0)
    shots, y = [], 0
    while True:
        at = tab.evaluate(MAIN_SCROLL, y)[0]
        tab.wait_for_timeout(100)
        shots.append((at, Image.open(io.BytesIO(tab.screenshot()))))
        if at + client >= height or len(shots) >= most:
            break
        y += client - int(head)
    width, screen = shots[0][1].size
    whole = Image.new("RGB", (width, int(min(height, shots[-1][0] + screen))), "white")
    for k, (at, shot) in enumerate(shots):
        top = 0 if k == 0 else int(head)
        whole.paste(shot.crop((0, top, width, screen)), (0, int(at) + top))
    tab.evaluate(MAIN_SCROLL, 0)
    whole.save(path)


@pytest.mark.parametrize("spec, size", list(page_cases()))
def test_every_page_is_legible_and_nothing_is_cut(spec, size, screen, artefacts):
    """Every page, as a class sees it: on a projector in presentation mode its first screen
    holds its figure, and every text there is at least 14 px at WCAG AA contrast (4.5:1); at
    every size no element reaches past the window or is cut by an ancestor that hides what
    overflows, and no label lies over another."""
    name = spec.url_path or "home"
    presenting_ = size == "projector"
    tab = screen(presenting(spec.url_path) if presenting_ else spec.url_path, SIZES[size])
    tab.wait_for_timeout(1000)  # images and charts drawn
    found = violations(tab, text=presenting_, figure=presenting_)
    if size == "phone":
        whole_page(tab, artefacts / f"phone-{name}.png")
    else:
        tab.screenshot(path=artefacts / f"{'present' if presenting_ else size}-{name}.png")
    if presenting_:
        assert not tab.locator('[data-testid="stSidebar"]').is_visible()
        assert tab.get_by_role("switch", name="Present").is_checked()
        assert_inside(tab, tab.locator('[data-testid="stMain"] h1').first, "the title")
        settings = tab.get_by_role("button", name="Settings")
        if settings.count():  # the settings pop-over: every choice whole
            settings.click()
            tab.locator('[data-testid="stPopoverBody"]').wait_for()
            tab.wait_for_timeout(500)
            found += violations(tab, root='[data-testid="stPopoverBody"]')
    assert_no_sideways_scroll(tab)
    assert not found, f"{name} at {size}:\n" + "\n".join(found)


def test_the_convolution_board_and_its_sum_fill_the_projector(screen):
    tab = screen(presenting("convolution"), PROJECTOR)
    for title in ("Input", "Kernel", "Products", "Output 2 × 2"):
        grid = tab.locator(f'.cnnviz-grid[data-title="{title}"]')
        assert_inside(tab, grid, title)
        assert float(grid.get_attribute("data-cell")) >= 48, f"{title}: cells under 48 px"
    assert_inside(tab, tab.locator(".written-sum"), "the written sum")
    sizes = tab.locator(".cnnviz-number").evaluate_all(
        "nodes => nodes.map(n => parseFloat(getComputedStyle(n).fontSize))")
    assert sizes and min(sizes) >= 24, f"numbers as small as {min(sizes)} px"
    assert_inside(tab, tab.get_by_role("button", name="Play"), "the play button")


def test_the_padding_diagram_and_its_formula_fill_the_projector(screen):
    tab = screen(presenting("padding-stride"), PROJECTOR)
    assert_inside(tab, tab.locator(".cnnviz-board"), "the diagram")
    assert_inside(tab, tab.locator('[data-testid="stMain"] .katex-display').first,
                  "the formula")


def test_grad_cam_shows_the_photo_and_its_map_side_by_side(screen):
    tab = screen(presenting("grad-cam"), PROJECTOR)
    photo, heat = (tab.locator('[data-testid="stImage"]').nth(k) for k in (0, 1))
    a, b = assert_inside(tab, photo, "the photo"), assert_inside(tab, heat, "its map")
    assert abs(a["y"] - b["y"]) < 2 and b["x"] >= a["x"] + a["width"]  # side by side
    assert "Predicted:" in heat.inner_text()


def test_feature_maps_show_the_grid_and_the_large_map(screen):
    tab = screen(presenting("feature-maps"), PROJECTOR)
    charts = tab.locator('[data-testid="stPlotlyChart"]')
    assert_inside(tab, charts.filter(has_text="Channels 1–16"), "the channel grid")
    assert_inside(tab, tab.locator('[data-testid="stPlotlyChart"] .heatmaplayer').first,
                  "the large map")


def test_presentation_mode_follows_the_teacher_and_the_switch_drives_the_link(screen):
    tab = screen(presenting(""), PROJECTOR)
    tab.locator('[data-testid="stMain"]').get_by_role("link", name="Padding & stride").click()
    wait_for_app(tab)
    tab.wait_for_function("() => location.pathname.endsWith('/padding-stride') "
                          "&& location.search.includes('present=1')", timeout=30_000)
    assert tab.get_by_role("switch", name="Present").is_checked()
    tab.get_by_text("Present", exact=True).click()  # off: the sidebar and the link follow
    wait_for_app(tab)
    assert "present" not in tab.url
    assert tab.locator('[data-testid="stSidebar"]').is_visible()
    tab.get_by_text("Present", exact=True).click()
    wait_for_app(tab)
    assert "present=1" in tab.url


def test_on_a_phone_the_board_stacks_its_panels_and_scales_its_numbers(screen):
    tab = screen("convolution", PHONE)
    grids = tab.locator(".cnnviz-grid")
    tops = {round(grids.nth(k).bounding_box()["y"]) for k in range(grids.count())}
    assert len(tops) >= 2, "the panels should stack in rows on a phone"
    for k in range(grids.count()):
        box = grids.nth(k).bounding_box()
        assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"]
    # Every number fits its cell: the text scales with the cells.
    fits = tab.locator(".cnnviz-grid").evaluate_all("""groups => groups.every(g => {
        const cell = parseFloat(g.dataset.cell);
        return [...g.querySelectorAll('.cnnviz-number')].every(
            t => t.getBBox().width <= cell && parseFloat(t.getAttribute('font-size')) <= cell);
    })""")
    assert fits


# ---------------------------------------------------------------- keys and focus

def step_of(tab, k: int = 0) -> str:
    return tab.locator(".cnnviz-anim").nth(k).get_attribute("data-step")


def test_the_animation_in_view_takes_the_keys_without_a_click(screen):
    """← → and the space bar step and play the board as soon as the page shows it; a field
    with the focus keeps them."""
    tab = screen("convolution", LAPTOP)
    assert step_of(tab) == "0"
    tab.keyboard.press("ArrowRight")
    tab.keyboard.press("ArrowRight")
    assert step_of(tab) == "2"
    tab.keyboard.press("ArrowLeft")
    assert step_of(tab) == "1"
    tab.keyboard.press(" ")  # plays: the step moves on by itself
    tab.wait_for_function("() => document.querySelector('.cnnviz-anim').dataset.step !== '1'",
                          timeout=10_000)
    tab.keyboard.press(" ")  # and pauses
    paused = step_of(tab)
    tab.wait_for_timeout(2000)
    assert step_of(tab) == paused
    field = tab.get_by_role("spinbutton", name="Bias b")
    field.click()
    tab.keyboard.press("ArrowRight")
    tab.keyboard.press("ArrowLeft")
    assert step_of(tab) == paused, "the keys left the focused field for the animation"


def test_on_padding_and_stride_the_keys_step_the_open_tab_and_never_switch_tabs(screen):
    """Streamlit's tabs switch tab on ← → while one has the focus (as it has once clicked):
    the keys must step the diagram of the open tab instead."""
    tab = screen(presenting("padding-stride"), PROJECTOR)
    tab.get_by_role("tab", name="Transposed convolution").click()
    wait_for_app(tab)
    diagram = tab.locator(".cnnviz-anim").filter(has_text="spread 2 apart")
    assert diagram.get_attribute("data-step") == "0"
    tab.keyboard.press("ArrowRight")
    tab.keyboard.press("ArrowRight")
    tab.keyboard.press("ArrowLeft")
    tab.wait_for_timeout(1500)  # a tab switch would start a rerun
    wait_for_app(tab)
    assert tab.get_by_role("tab", selected=True).inner_text() == "Transposed convolution"
    assert diagram.get_attribute("data-step") == "1"
    assert "tpos=1" in tab.url


# ---------------------------------------------------------------- the figure first

def figure_top(tab, selector: str) -> float:
    box = tab.locator(selector).first.bounding_box()
    assert box is not None, f"no {selector} on the page"
    return box["y"]


@pytest.mark.parametrize("path, size, figure", [
    ("receptive-field", "projector", ".cnnviz-board"),
    ("architectures", "projector", '[data-testid="stPlotlyChart"]'),
    ("convolution", "phone", ".cnnviz-board"),
], ids=["receptive-field", "architectures", "convolution-on-a-phone"])
def test_the_page_opens_on_its_figure(path, size, figure, screen):
    """Its figure starts in the first screen and the tables wait one click away: the
    receptive field's animation and the architectures' chart on a projector, the convolution
    board (not its settings) on a phone."""
    tab = screen(presenting(path) if size == "projector" else path, SIZES[size])
    tab.wait_for_timeout(1000)
    top = figure_top(tab, figure)
    assert top < SIZES[size]["height"] * 0.6, f"the figure starts at {top} px"
    if size == "phone":  # above its settings
        assert top < figure_top(tab, '[data-testid="stMain"] [data-testid="stButtonGroup"]')
    if size == "projector":  # no table in the first screen
        tables = tab.locator('[data-testid="stDataFrame"]')
        tops = [box["y"] for k in range(tables.count())
                if (box := tables.nth(k).bounding_box()) and tables.nth(k).is_visible()]
        assert all(top >= PROJECTOR["height"] for top in tops), f"tables at {tops}"


def test_transposed_convolution_fits_a_projector(screen):
    """Its formula whole (to "+ 1"), its zeros legible, Play above the fold."""
    tab = screen(presenting("padding-stride?direction=Transposed+convolution"), PROJECTOR)
    formula = tab.locator('[data-testid="stMain"] .katex-display').first
    assert_inside(tab, formula, "the formula")
    assert formula.evaluate("k => k.scrollWidth <= k.clientWidth"), "the formula is cut"
    assert "outputpadding+1" in re.sub(r"\s", "", formula.inner_text())
    zeros = tab.locator(".cnnviz-number").evaluate_all(
        "nodes => nodes.filter(n => n.textContent === '0').map(n => "
        "parseFloat(n.getAttribute('font-size')) * n.getScreenCTM().a)")
    assert zeros and min(zeros) >= 14, f"zeros as small as {min(zeros):.1f} px"
    assert_inside(tab, tab.get_by_role("button", name="Play"), "Play")


# ---------------------------------------------------------------- right on a phone

LABELS_OVER_MAPS = """(chart, [gap, band]) => {
    // Every channel number of the grid lies in its own map's box: the map and the band under
    // it, in screen pixels, from the picture's coordinates through plotly's axes.
    const gd = chart.querySelector('.js-plotly-plot');
    const scatters = gd.data.filter(t => t.type === 'scatter');
    const targets = scatters.find(t => (t.mode || '').includes('markers'));  // one per map
    const labels = scatters.find(t => t.text);  // the channel numbers
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    const origin = gd.getBoundingClientRect();
    const sx = (x) => origin.left + xa._offset + xa.l2p(x);
    const sy = (y) => origin.top + ya._offset + ya.l2p(y);
    const xs = [...new Set(targets.x)].sort((a, b) => a - b);
    const ys = [...new Set(targets.y)].sort((a, b) => a - b);
    const tw = xs[1] - xs[0] - gap, th = ys[1] - ys[0] - band - gap;
    const texts = [...gd.querySelectorAll('.scatterlayer .trace text')];
    return labels.text.map((label, k) => {
        const i = targets.customdata.indexOf(labels.customdata[k]);
        const [cx, cy] = [targets.x[i], targets.y[i]];
        const xs2 = [sx(cx - tw / 2), sx(cx + tw / 2)];
        const ys2 = [sy(cy - th / 2), sy(cy + th / 2 + band)];
        const map = [Math.min(...xs2), Math.min(...ys2), Math.max(...xs2), Math.max(...ys2)];
        const b = texts.find(t => t.textContent === label).getBoundingClientRect();
        return {label, inside: b.left >= map[0] - 1 && b.right <= map[2] + 1
                               && b.top >= map[1] - 1 && b.bottom <= map[3] + 1,
                box: [b.left, b.top, b.right, b.bottom].map(Math.round), map: map.map(Math.round)};
    });
}"""


@pytest.mark.parametrize("size", ["phone", "projector"])
def test_every_channel_number_lies_over_its_own_map(size, screen):
    """On a phone the grid used to be drawn smaller than it was made, and each number slid
    onto the next row's maps: a mislabelled figure is a wrong answer."""
    tab = screen(presenting("feature-maps") if size == "projector" else "feature-maps",
                 SIZES[size])
    chart = tab.locator('[data-testid="stPlotlyChart"]').filter(has_text="Channels 1–16").first
    chart.scroll_into_view_if_needed()
    tab.wait_for_timeout(500)
    placed = chart.evaluate(LABELS_OVER_MAPS, [fm.GAP_PX, fm.LABEL_PX])
    assert len(placed) == 16
    wrong = [p for p in placed if not p["inside"]]
    assert not wrong, f"labels off their maps: {wrong}"
    # The layer is named in the grid's title.
    assert "stage 3 · block 2 · output" in chart.inner_text()


# ---------------------------------------------------------------- legibility

def test_a_trained_layers_channels_are_legible_on_the_convolution_page(screen):
    """The link "Open in Convolution by hand" (Train a CNN → the network seen whole → a
    channel) opens the page on 8 input channels with 3-decimal numbers: every channel gets a
    row a person can read, its numbers shown, and its sum is written at the page's size."""
    rng = np.random.default_rng(7)
    query = {"mode": "convolution", "source": "random grid", "size": "6",
             "grid": grid_text(rng.normal(0, 1, (8, 6, 6))),
             "kernel_preset": "custom (as typed)",
             "kernel": grid_text(rng.normal(0, 0.3, (8, 3, 3))),
             "bias": "0.123", "stride": "1", "padding": "0", "dilation": "1", "step": "1"}
    tab = screen("convolution?" + urllib.parse.urlencode(query), LAPTOP)
    grids = tab.locator(".cnnviz-grid").evaluate_all(
        "gs => gs.map(g => ({title: g.dataset.title, cell: parseFloat(g.dataset.cell),"
        " top: g.getBoundingClientRect().top,"
        " numbers: g.querySelectorAll('.cnnviz-number').length}))")
    inputs = [g for g in grids if g["title"].startswith("Input channel")]
    assert len(inputs) == 8
    assert all(a["top"] < b["top"] for a, b in zip(inputs, inputs[1:])), "a row per channel"
    for g in grids:
        if g["title"].startswith(("Input", "Kernel")):
            assert g["cell"] >= 36, f"{g['title']}: cells of {g['cell']} px"
            assert g["numbers"] > 0, f"{g['title']}: no numbers shown"
    sizes = tab.locator(".cnnviz-number").evaluate_all(
        "ns => ns.map(n => parseFloat(n.getAttribute('font-size')) * n.getScreenCTM().a)")
    assert min(sizes) >= 12, f"numbers as small as {min(sizes):.1f} px"
    body = tab.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    written = tab.locator(".written-sum").evaluate(
        "w => parseFloat(getComputedStyle(w).fontSize)")
    assert written <= 1.1 * body, f"the sum at {written} px, the page's text at {body} px"


def test_the_home_pages_lesson_links_look_like_links(screen):
    tab = screen("", LAPTOP)
    link = tab.locator('[data-testid="stMain"] [data-testid="stPageLink-NavLink"] p').first
    style = link.evaluate(
        "p => [getComputedStyle(p).color, getComputedStyle(p).textDecorationLine]")
    text = tab.locator('[data-testid="stMain"] [data-testid="stCaptionContainer"] p').first
    assert style[1] == "underline" and style[0] != text.evaluate("p => getComputedStyle(p).color")
