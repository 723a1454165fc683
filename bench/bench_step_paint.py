"""From a click on "Forward" to the new frame painted, on the convolution page in Chromium.

Starts ``streamlit run app.py`` of a checkout (this one by default; ``--app-dir`` another, for
example an export of an older commit: ``git archive main | tar -x -C /tmp/old``), opens the
page in Debian's headless Chromium, and clicks "Forward" ``--clicks`` times. Each time, a
script in the page notes the time of the click, watches for the written sum (the element of
class ``written-sum``) to change, and stops the clock at the first frame after that change
(a requestAnimationFrame, then a task: the change has been painted). Between clicks it waits
until Streamlit is idle, so no rerun of an earlier click is still going on.

The page used to rerun the script on the server for every step; now every frame is in the
browser. Both are measured the same way, so the numbers compare. They depend on the load
of the machine: the load average is printed with them.

    python bench/bench_step_paint.py [--app-dir DIR] [--clicks N]
"""

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, running_app, wait_for_app  # noqa: E402

# A random 8 × 8 grid and a 3 × 3 kernel: 36 steps, enough for every click to move on.
PAGE = "convolution?source=random+grid&size=8&seed=3"
READY = """() => [...document.querySelectorAll('button')]
    .some((b) => b.innerText.includes('Forward') && !b.disabled)"""
CLICK_TO_PAINT = """() => new Promise((resolve, reject) => {
  const text = () => document.querySelector('.written-sum')?.innerText;
  const before = text();
  const forward = [...document.querySelectorAll('button')]
    .find((b) => b.innerText.includes('Forward') && !b.disabled);
  if (!forward) { reject(new Error('no enabled Forward button')); return; }
  const start = performance.now();
  const watch = () => {
    const now = text();
    if (now && now !== before) {
      requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - start), 0));
    } else if (performance.now() - start > 30000) {
      reject(new Error('the written sum did not change within 30 s'));
    } else {
      requestAnimationFrame(watch);
    }
  };
  forward.click();
  requestAnimationFrame(watch);
})"""


def measure(url: str, clicks: int) -> list[float]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/{PAGE}")
        wait_for_app(page)
        page.wait_for_selector(".written-sum", timeout=60_000)
        times = []
        for _ in range(clicks):
            page.wait_for_function(READY, timeout=60_000)
            times.append(page.evaluate(CLICK_TO_PAINT))
            wait_for_app(page)
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--app-dir", type=Path, default=ROOT,
                        help="the checkout whose app.py to run (default: this one)")
    parser.add_argument("--clicks", type=int, default=15)
    args = parser.parse_args()
    print(f"{args.app_dir}: load average at start {os.getloadavg()[0]:.1f} "
          f"({os.cpu_count()} cores)")
    log = Path(tempfile.gettempdir()) / "bench-step-paint.log"
    with running_app(log, args.app_dir) as url:
        times = measure(url, args.clicks)
    ms = sorted(times)
    print(f"click on Forward -> new frame painted, {len(ms)} clicks: median "
          f"{statistics.median(ms):.0f} ms, fastest {ms[0]:.0f} ms, slowest {ms[-1]:.0f} ms")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
