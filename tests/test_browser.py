"""The real thing: `streamlit run app.py` in headless Chromium, every page, no exception box."""

import pytest

from cnnviz import images
from cnnviz.ui.navigation import all_pages
from tests.conftest import assert_no_exception, running_app, wait_for_app

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("spec", all_pages(), ids=lambda p: p.url_path or "home")
def test_page_opens_without_exception_or_a_request_beyond_localhost(
        spec, visit, page, outside_requests, artefacts):
    """Opening a page asks nothing of the internet (no font, icon or script from a CDN), so
    an offline classroom sees no broken requests."""
    visit(spec.url_path)
    assert page.locator("h1").first.inner_text().startswith(
        "cnnviz" if spec.path == "views/home.py" else spec.title.split()[0])
    page.wait_for_load_state("networkidle")  # the favicon and late images too
    assert outside_requests == []
    page.screenshot(path=artefacts / f"page-{spec.url_path or 'home'}.png", full_page=True)


def test_home_page_shows_where_models_run_and_links_every_page(visit, page):
    visit()
    assert page.get_by_text("Models run on").first.is_visible()
    assert page.get_by_text("Without an internet connection").first.is_visible()
    icon = page.locator("link[rel~='icon']").first.get_attribute("href")
    assert icon.startswith("data:image/svg+xml")  # assets/icon.svg, inlined by Streamlit
    main = page.locator('[data-testid="stMain"]')
    for spec in all_pages()[1:]:
        assert main.get_by_text(spec.title, exact=True).count() >= 1, spec.title


def test_upload_a_photo_and_classify_it(visit, page, artefacts):
    visit("classify")
    page.locator('[data-testid="stMain"]').get_by_text("Upload", exact=True).click()
    wait_for_app(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        str(images.sample_images()["Espresso cup"]))
    page.get_by_text("Top 5 of 1,000 classes").wait_for(timeout=120_000)
    wait_for_app(page)
    assert_no_exception(page)
    assert page.get_by_text("espresso").first.is_visible()
    page.screenshot(path=artefacts / "classify-upload.png", full_page=True)


def test_a_deep_link_works_on_a_fresh_server(page, artefacts):
    """The first request a server ever gets runs app.py's navigation, not an old-style
    multipage app (which Streamlit makes of a folder named pages/ beside the entry point)."""
    with running_app(artefacts / "streamlit-fresh-server.log") as url:
        page.goto(f"{url}/grad-cam")
        wait_for_app(page)
        assert_no_exception(page)
        assert page.locator("h1").first.inner_text().startswith("Grad-CAM")
        sidebar = page.locator('[data-testid="stSidebarNav"]')
        assert sidebar.get_by_text("Classify a photo").count() == 1
