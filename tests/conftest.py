"""Fixtures shared by the tests: a real `streamlit run app.py` server and a headless Chromium."""

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import torch

# On a GPU the tests compare float32 results with references to float32 precision; TF32, which
# PyTorch may use for convolutions on recent GPUs, rounds to 10-bit mantissas.
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

ROOT = Path(__file__).resolve().parent.parent
ARTEFACTS = ROOT / "test-artifacts"
# Fine-tuned models the tests finish are kept there, not in the user's cache (servers inherit it).
os.environ.setdefault("CNNVIZ_KEPT_MODELS_DIR", str(ARTEFACTS / "kept-models"))
CHROMIUM = os.environ.get("CNNVIZ_CHROMIUM", "/usr/bin/chromium")
# Without these, Chromium keeps trying to reach Google's services and, on a machine with no
# network, stalls on refused connections.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def lite0():
    """The offline, pretrained default model (shared, as every page shares it)."""
    from cnnviz import models

    return models.load_model()


@pytest.fixture(scope="session")
def resnet18():
    """A torchvision architecture with random weights: no download needed."""
    from cnnviz import models

    return models.load_model("resnet18", pretrained=False)


@pytest.fixture(scope="session")
def artefacts() -> Path:
    ARTEFACTS.mkdir(exist_ok=True)
    return ARTEFACTS


@contextlib.contextmanager
def running_app(log_path: Path, root: Path = ROOT, on_start=None, extra_args=()):
    """`streamlit run app.py` exactly as the README starts it (with ``extra_args``, options
    such as ``--server.disconnectedSessionTTL 2``), in the checkout ``root``, on a free
    localhost port; yields its URL once it answers (``on_start`` hears the server's process id
    first), and fails if its log holds a traceback when it stops."""
    port = _free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true", *extra_args],
            cwd=root, stdout=log, stderr=subprocess.STDOUT,
        )
        if on_start is not None:
            on_start(proc.pid)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("streamlit did not start:\n" + log_path.read_text())
            time.sleep(0.5)
        try:
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert "Traceback" not in log_path.read_text(), f"the server logged a traceback: {log_path}"


@pytest.fixture(scope="session")
def streamlit_server(artefacts):
    """One server for the whole test session: yields its URL and the path of its log."""
    log_path = artefacts / "streamlit-server.log"
    with running_app(log_path) as url:
        yield url, log_path


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM}: apt-get install chromium (or set CNNVIZ_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it, so its absence there is a real failure
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    yield tab
    context.close()


LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture
def outside_requests(page) -> list[str]:
    """The URLs of every request and WebSocket the test's tab opens to a host other than this
    machine, as they happen (an offline classroom would see each one fail). data: and blob:
    URLs never leave the browser."""
    seen: list[str] = []

    def record(url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL_HOSTS:
            seen.append(url)

    page.on("request", lambda request: record(request.url))
    page.on("websocket", lambda socket: record(socket.url))
    return seen


@pytest.fixture
def visit(streamlit_server, page):
    """``visit(path)`` opens a path of the running app in the test's tab (query string
    allowed), waits for it to finish running, checks it shows no exception and returns the tab."""
    url, _ = streamlit_server

    def go(path: str = ""):
        page.goto(f"{url}/{path}")
        wait_for_app(page)
        assert_no_exception(page)
        return page

    return go


def wait_for_app(tab, timeout_ms: int = 180_000) -> None:
    """Wait until the page's title is drawn and Streamlit has finished running the script
    (its 'running' status widget gone for half a second), and on a phone until the page has
    run again for the width its probe reported (cnnviz.ui.viewport)."""
    tab.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout_ms)
    idle = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
    settled = "() => document.documentElement.dataset.cnnvizViewport !== 'asked'"
    for _ in range(2):
        tab.wait_for_function(idle, timeout=timeout_ms)
        tab.wait_for_timeout(500)
    tab.wait_for_function(settled, timeout=timeout_ms)
    tab.wait_for_function(idle, timeout=timeout_ms)


def choose(tab, label: str, option: str, *, exact: bool = True) -> None:
    """Pick ``option`` in the main area's first select box whose label starts with ``label``,
    by typing it, as a person searches. Typing narrows the list, so the option is drawn even when the list is
    longer than its virtualised window, and a click cannot land on a redrawn list."""
    box = tab.locator('[data-testid="stMain"]').get_by_role(
        "combobox", name=re.compile("^" + re.escape(label))).first
    box.click()
    box.fill(option)
    tab.get_by_role("option", name=option, exact=exact).first.click()
    wait_for_app(tab)


def assert_no_exception(tab) -> None:
    """No exception box, and no 'Page not found' dialog (a wrong link silently shows home)."""
    boxes = tab.locator('[data-testid="stException"]')
    assert boxes.count() == 0, boxes.first.inner_text()
    assert tab.get_by_text("Page not found").count() == 0, f"{tab.url} does not exist"


class ServerMessages:
    """Counts the messages a tab sends to the Streamlit server over its websocket (a rerun
    request is one), so a test can tell that something happened in the browser alone.
    Create it before the page opens: only sockets opened afterwards are seen."""

    def __init__(self, tab):
        self.count = 0
        tab.on("websocket", lambda ws: ws.on("framesent", self._sent))

    def _sent(self, _frame) -> None:
        self.count += 1
