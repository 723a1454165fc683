"""Two browser sessions train at once; does a third stay responsive?

Starts `streamlit run app.py`, opens "Convolution by hand" in a third tab and times how long a
change of a widget takes to redraw (the median of several), first with nothing training,
then while two other tabs each train the NumPy network on "Train a CNN". Prints one JSON
line: both trainings' test accuracy (both must finish), the redraw times with and without
training, and their ratio, with the machine's load.

    python bench/bench_training_sessions.py [--epochs N] [--net numpy|twin|mnistconvnet]
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from playwright.sync_api import sync_playwright  # noqa: E402

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, running_app, wait_for_app  # noqa: E402

PROBE_PAGE, PROBE_LABEL = "convolution", "Bias b"


def redraw_seconds(tab, repeats: int = 5) -> list[float]:
    """Time from changing a number input until the app has rerun and redrawn."""
    box = tab.locator('[data-testid="stMain"]').get_by_label(PROBE_LABEL).first
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        box.fill(str(0.5 + i % 2))
        box.press("Enter")
        tab.wait_for_timeout(50)
        wait_for_app(tab)
        times.append(time.perf_counter() - start - 1.0)  # wait_for_app idles 1 s by design
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--net", default="numpy")
    args = parser.parse_args()
    log = Path(tempfile.mkdtemp()) / "server.log"
    with running_app(log) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        probe = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        probe.goto(f"{url}/{PROBE_PAGE}")
        wait_for_app(probe)
        idle = redraw_seconds(probe)
        trainers = []
        for _ in range(2):
            tab = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            tab.goto(f"{url}/train-cnn")
            wait_for_app(tab)
            main = tab.locator('[data-testid="stMain"]')
            if args.net != "numpy":
                main.get_by_text({"twin": "PyTorch twin", "mnistconvnet":
                                  "Chapter's MNISTConvNet"}[args.net]).click()
                wait_for_app(tab)
            main.get_by_label("Epochs").fill(str(args.epochs))
            main.get_by_label("Epochs").press("Enter")
            wait_for_app(tab)
            trainers.append(tab)
        start = time.perf_counter()
        for tab in trainers:
            tab.locator('[data-testid="stMain"]').get_by_role("button", name="Start").click()
        for tab in trainers:
            tab.get_by_text("steps/s").first.wait_for(timeout=60_000)
        busy = redraw_seconds(probe)
        accuracies = []
        for tab in trainers:
            tab.get_by_text("Test accuracy").wait_for(timeout=600_000)
            value = tab.locator('[data-testid="stMetricValue"]').filter(has_text="%").last
            accuracies.append(float(value.inner_text().rstrip("%")) / 100)
        both = time.perf_counter() - start
        browser.close()
    print(json.dumps({
        "measure": "two_sessions_training", "net": args.net, "epochs": args.epochs,
        "test_accuracies": accuracies, "both_finished_seconds": round(both, 1),
        "redraw_idle_s": round(statistics.median(idle), 3),
        "redraw_while_training_s": round(statistics.median(busy), 3),
        "slowdown": round(statistics.median(busy) / max(statistics.median(idle), 1e-3), 2),
        "load": Path("/proc/loadavg").read_text().split()[0]}))


if __name__ == "__main__":
    main()
