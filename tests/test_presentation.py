"""Presentation mode on a projector (1024 × 768) and the pages on a phone (390 × 844), in
Chromium: what the class must see lies inside the screen, nothing scrolls sideways, and
presentation mode follows the teacher from page to page. Screenshots of every page in
presentation mode go to test-artifacts/."""

import pytest

from cnnviz.ui.navigation import all_pages
from tests.conftest import assert_no_exception, wait_for_app

pytestmark = pytest.mark.browser

PROJECTOR = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}
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


@pytest.mark.parametrize("spec", all_pages(), ids=lambda p: p.url_path or "home")
def test_every_page_presents_on_a_projector(spec, screen, artefacts):
    tab = screen(presenting(spec.url_path), PROJECTOR)
    tab.wait_for_timeout(1000)  # images and charts drawn
    assert tab.locator('[data-testid="stSidebar"]').count() == 0 or not tab.locator(
        '[data-testid="stSidebar"]').is_visible()
    assert tab.get_by_role("switch", name="Present").is_checked()
    assert_inside(tab, tab.locator('[data-testid="stMain"] h1').first, "the title")
    assert_no_sideways_scroll(tab)
    tab.screenshot(path=artefacts / f"present-{spec.url_path or 'home'}.png")


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


@pytest.mark.parametrize("path", ["convolution", "padding-stride", "feature-maps",
                                  "grad-cam", "architectures", "receptive-field", "practice"])
def test_on_a_phone_nothing_scrolls_sideways(path, screen, artefacts):
    tab = screen(path, PHONE)
    tab.wait_for_timeout(1000)
    assert_no_sideways_scroll(tab)
    tab.screenshot(path=artefacts / f"phone-{path}.png")


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
