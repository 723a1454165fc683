"""Running one page headlessly with Streamlit's AppTest, as the page tests all do."""

import json
import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent

# AppTest's default of 3 s is shorter than importing torch and loading a model on a 2-core CPU.
TIMEOUT = 180


def open_page(path: str = "app.py", query: dict | None = None, *,
              via_app: bool | None = None) -> AppTest:
    """Run the page file at ``path`` (relative to the repository root; the whole app by
    default) once, optionally with URL query parameters, and fail on any exception it shows.
    ``via_app`` runs it as the app's navigation does; by default a page that links to
    others (``st.page_link``) is, as Streamlit finds linked pages only in the navigation."""
    if via_app is None:
        via_app = path != "app.py" and "page_link(" in (ROOT / path).read_text()
    at = AppTest.from_file(str(ROOT / ("app.py" if via_app else path)), default_timeout=TIMEOUT)
    if via_app:
        at.run()  # the home page, which sets up the navigation
        at.switch_page(path)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert_clean(at)
    return at


def assert_clean(at: AppTest) -> None:
    """Fail with the page's own error text when it raised."""
    assert not at.exception, [e.value for e in at.exception]


def shown(markdown: str) -> str:
    """The text a Markdown source shows: escapes resolved, and the invisible word joiners
    that ``formatting.plain`` puts in addresses dropped (AppTest gives element sources)."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def animations(at: AppTest) -> list[dict]:
    """The data each browser animation on the page was given (cnnviz.figures.animation),
    in page order: the frames, where it starts, its grids."""
    return [data for data in (json.loads(element.proto.json)
                              for element in at.get("bidi_component")) if "frames" in data]
