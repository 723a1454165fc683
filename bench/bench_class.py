"""A class on one machine: N real browser sessions upload N different photos to the Grad-CAM
page at the same moment, as a class does when the teacher says "now try your own photo".

For each N the script starts a fresh ``streamlit run app.py`` (of this checkout, or of
``--repo PATH``, e.g. an older commit checked out with ``git worktree add``), opens the page
once to load the model, then opens N sessions in one headless Chromium: one browser, one
context per session, since a context is one more renderer process (about 0.2 GB) where a
browser per session would add its own browser, GPU and network processes. It switches each
session to "Upload" and, once every session is idle, hands all N their photos at once. Each
photo is a different crop, mirror image and colour shift of a bundled sample, so no session
finds another's result in a cache. It prints, over the sessions:

- *map*: seconds from the upload to the main map (the "Predicted: …" overlay) drawn;
- *complete*: seconds to the whole page drawn (the script done, every image loaded, nothing
  changing for ``--quiet`` seconds; the time is the last change);
- the server's memory (resident set of its process tree, sampled every 0.1 s): after the
  warm-up, and its peak during the burst; the browser's peak (proportional set size);
- CPU seconds the server and the browser spent in the burst: browsers share the machine's
  cores with the server here, so a real class (each browser on its own laptop) is faster.

The goal of issue 12: 30 sessions, p95 under 10 s to the map and under 20 s to the complete
page, memory under Streamlit Community Cloud's limit (about 2.7 GB). Absolute times need a
quiet machine: the load average is printed before each run.

    python bench/bench_class.py --sessions 1 8 16 30 [--repo PATH] [--json out.json]
    python bench/bench_class.py --clients ...   # protocol clients instead of browsers
    python bench/bench_class.py --url http://host:8501 --server-pid PID   # a running server
"""

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: E402

from bench.streamlit_client import StreamlitClient  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, running_app  # noqa: E402

GOAL = {"sessions": 30, "map": 10.0, "complete": 20.0, "memory_gb": 2.7}
SAMPLES = sorted((ROOT / "assets" / "samples").glob("*.jpg"))
# Headless pages count as visible, but a busy machine must not throttle any of them either.
BROWSER_ARGS = CHROMIUM_ARGS + ["--disable-renderer-backgrounding",
                                "--disable-background-timer-throttling",
                                "--disable-backgrounding-occluded-windows"]
# Runs in every page: stamps (in ms since the epoch) when the main map is drawn and when the
# page last changed (a DOM mutation, an image loaded, Streamlit's "running" widget shown), so
# 30 pages are timed without 30 round trips. It looks at the DOM only after a change, at most
# every 100 ms: polling every 50 ms cost a page 0.7 s of CPU per upload, as much as the page.
PROBE = """
(() => {
  const b = window.__bench = {map: null, changed: Date.now(), images: 0, errors: 0};
  let dirty = true;
  const touch = () => { b.changed = Date.now(); dirty = true; };
  new MutationObserver(touch).observe(document, {subtree: true, childList: true,
                                                 attributes: true, characterData: true});
  document.addEventListener('load', touch, true);  // an image finished loading
  setInterval(() => {
    if (document.querySelector('[data-testid="stStatusWidget"]')) touch();  // still running
    if (!dirty) return;
    dirty = false;
    const main = document.querySelector('[data-testid="stMain"]');
    if (!main) return;
    b.images = main.querySelectorAll('img').length;
    b.errors = main.querySelectorAll('[data-testid="stException"]').length;
    if (b.map === null && [...main.querySelectorAll('[data-testid="stImage"]')].some(
        e => (e.querySelector('[data-testid="stImageCaption"]')?.textContent || '')
               .startsWith('Predicted:')
             && [...e.querySelectorAll('img')].some(i => i.complete && i.naturalWidth > 0)))
      b.map = Date.now();
  }, 100);
})();
"""


def photos(count: int, seed: int) -> list[bytes]:
    """``count`` different JPEGs: a crop (70–95 % of the sides, anywhere), a mirror image every
    other time and a colour shift of the bundled samples in turn."""
    rng = random.Random(seed)
    result, seen = [], set()
    for i in range(count):
        img = Image.open(SAMPLES[i % len(SAMPLES)]).convert("RGB")
        w, h = img.size
        cw, ch = int(w * rng.uniform(0.7, 0.95)), int(h * rng.uniform(0.7, 0.95))
        left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
        img = img.crop((left, top, left + cw, top + ch))
        if (i // len(SAMPLES)) % 2:
            img = ImageOps.mirror(img)
        gains = [rng.uniform(0.85, 1.15) for _ in range(3)]
        img = Image.merge("RGB", [band.point(lambda v, g=g: min(255, int(v * g)))
                                  for band, g in zip(img.split(), gains)])
        buffer = io.BytesIO()
        img.save(buffer, "JPEG", quality=90)
        seen.add(img.tobytes())
        result.append(buffer.getvalue())
    assert len(seen) == count, "two sessions got the same photo"
    return result


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc."""
    tree, queue = [], [pid]
    while queue:
        current = queue.pop()
        tree.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    queue.extend(int(child) for child in f.read().split())
    return tree


def memory_bytes(pids, shared: bool = False) -> int:
    """Resident memory of ``pids``: the sum of their RSS, or with ``shared`` their PSS (pages
    shared between processes counted once, split among them: Chromium's renderers share most
    of their code, which a sum of RSS would count once per renderer)."""
    path, field = ("smaps_rollup", "Pss:") if shared else ("status", "VmRSS:")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/{path}") as f:
            for line in f:
                if line.startswith(field):
                    total += int(line.split()[1]) * 1024
    return total


def cpu_seconds(pids) -> float:
    """User + system CPU time of ``pids`` so far (children already reaped included)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / ticks


def tree(pid: int | None, without: int | None = None) -> list[int] | None:
    """``pid``'s process tree, less ``without``'s (the clients' process is the parent of the
    server it starts); None for a process we do not know."""
    if pid is None:
        return None
    return sorted(set(process_tree(pid)) - set(process_tree(without) if without else ()))


def memory(pid: int | None, without: int | None = None) -> int | None:
    pids = tree(pid, without)
    return None if pids is None else memory_bytes(pids)


def cpu(pid: int | None, without: int | None = None) -> float | None:
    pids = tree(pid, without)
    return None if pids is None else cpu_seconds(pids)


class Sampler:
    """The peak resident memory of a process tree (``memory_bytes``, less ``without``'s tree),
    sampled every 0.1 s on a thread; None for a process we do not know."""

    def __init__(self, pid: int | None, shared: bool = False, without: int | None = None):
        self.pid, self.shared, self.without, self.peak = pid, shared, without, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak or 0,
                            memory_bytes(tree(self.pid, self.without), self.shared))
            self._stop.wait(0.1)

    def __enter__(self):
        if self.pid is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


async def open_session(browser, url: str, timeout_s: float):
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    await context.add_init_script(PROBE)
    page = await context.new_page()
    page.set_default_timeout(timeout_s * 1000)
    await page.goto(f"{url}/grad-cam")
    await page.wait_for_selector('[data-testid="stMain"] h1')
    await idle(page)
    await page.locator('[data-testid="stMain"]').get_by_text("Upload", exact=True).click()
    await page.wait_for_selector('[data-testid="stFileUploaderDropzoneInput"]', state="attached")
    await idle(page)
    return context, page


# The times come from the pages' own stamps, so checking on them once a second loses nothing
# and spares the browser 30 evaluations every few milliseconds.
POLL_MS = 1000


async def idle(page, quiet_s: float = 1.0) -> None:
    await page.wait_for_function(
        f"() => window.__bench && Date.now() - window.__bench.changed > {quiet_s * 1000}",
        polling=POLL_MS)


async def upload_and_time(page, photo: bytes, name: str, quiet_s: float) -> dict:
    """Upload ``photo``; seconds to the main map and to the complete page."""
    await page.evaluate("() => { window.__bench.map = null; }")
    start = time.time() * 1000
    await page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": name, "mimeType": "image/jpeg", "buffer": photo}])
    await page.wait_for_function("() => window.__bench.map !== null", polling=POLL_MS)
    await idle(page, quiet_s)
    stamps = await page.evaluate("() => window.__bench")
    return {"map": (stamps["map"] - start) / 1000,
            "complete": (max(stamps["changed"], stamps["map"]) - start) / 1000,
            "images": stamps["images"], "errors": stamps["errors"]}


async def burst(url: str, server_pid: int | None, count: int, quiet_s: float,
                timeout_s: float) -> dict:
    """Warm up, open ``count`` browser sessions, then upload in all of them at once."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        browser_pid = _browser_pid()
        warm, page = await open_session(browser, url, timeout_s)
        await upload_and_time(page, photos(1, seed=-1)[0], "warm-up.jpg", quiet_s)
        await warm.close()
        sessions = await asyncio.gather(*(open_session(browser, url, timeout_s)
                                          for _ in range(count)))
        result = await all_at_once(
            [lambda photo, name, page=page: upload_and_time(page, photo, name, quiet_s)
             for _, page in sessions], server_pid, browser_pid, shared=True)
        for context, _ in sessions:
            await context.close()
        await browser.close()
    return result


async def client_burst(url: str, server_pid: int | None, count: int, quiet_s: float,
                       timeout_s: float) -> dict:
    """``burst`` with protocol clients (``streamlit_client``) in place of browsers: the same
    uploads and images fetched, nothing drawn, so the server has the cores to itself."""
    warm = ClientSession(url)
    await asyncio.wait_for(warm.open(), timeout_s)
    await warm.upload_and_time(photos(1, seed=-1)[0], "warm-up.jpg")
    await warm.client.close()
    sessions = [ClientSession(url) for _ in range(count)]
    await asyncio.wait_for(asyncio.gather(*(s.open() for s in sessions)), timeout_s)
    result = await all_at_once([s.upload_and_time for s in sessions], server_pid, os.getpid(),
                               shared=False)
    for session in sessions:
        await session.client.close()
    return result


async def all_at_once(uploads, server_pid: int | None, viewer_pid: int | None, *,
                      shared: bool) -> dict:
    """Run every ``upload(photo, name)`` at once, each with its own photo; their times, and
    the memory and CPU of the server and of the viewers (browser or clients) meanwhile."""
    pictures = photos(len(uploads), seed=len(uploads))
    before = memory(server_pid)
    cpu_before = cpu(server_pid), cpu(viewer_pid, server_pid)
    with Sampler(server_pid) as server, \
            Sampler(viewer_pid, shared=shared, without=server_pid) as viewer:
        times = await asyncio.gather(*(upload(picture, f"student-{i + 1}.jpg")
                                       for i, (upload, picture) in enumerate(zip(uploads,
                                                                                 pictures))))
    used = [None if b is None else cpu(pid, without) - b
            for pid, without, b in zip((server_pid, viewer_pid), (None, server_pid), cpu_before)]
    return {"sessions": len(uploads), "times": times, "server_before": before,
            "server_peak": server.peak, "browser_peak": viewer.peak,
            "server_cpu": used[0], "browser_cpu": used[1]}


class ClientSession:
    """One student as a protocol client: the Grad-CAM page with the uploader open."""

    QUERY = "image_source=Upload"

    def __init__(self, url: str):
        self.client = StreamlitClient(url)
        self.uploader = None

    async def open(self) -> None:
        await self.client.connect()
        await self.client.run("grad-cam", self.QUERY)
        await self.client.finished.wait()
        self.uploader = self.client.widget_id("file_uploader", "Upload a photo")

    async def upload_and_time(self, photo: bytes, name: str) -> dict:
        """As the browser's ``upload_and_time``: the clock starts before the file is sent;
        the map counts once its image is fetched, the page once the script has finished
        and every image is fetched."""
        client, start = self.client, time.monotonic()
        seen = len(client.images)
        state = WidgetState(id=self.uploader)
        state.file_uploader_state_value.uploaded_file_info.append(
            await client.upload(name, photo))
        await client.run("grad-cam", self.QUERY, [state])
        await client.finished.wait()
        done = time.monotonic()
        await client.fetched()
        if client.error is not None:
            raise client.error
        shown = client.images[seen:]
        maps = [t for caption, t in shown if caption.startswith("Predicted:")]
        if not maps:
            raise RuntimeError(f"{name}: the page showed no map ({client.exceptions} "
                               f"exceptions)")
        return {"map": min(maps) - start,
                "complete": max([done, *(t for _, t in shown)]) - start,
                "images": len(shown), "errors": client.exceptions}


def _browser_pid() -> int | None:
    """The Chromium this process launched (through Playwright's driver): the chromium
    process among our descendants whose parent is not one."""
    for pid in process_tree(os.getpid())[1:]:
        if _name(pid).startswith("chromium") and not _name(_parent(pid)).startswith("chromium"):
            return pid
    return None


def _name(pid: int) -> str:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/comm") as f:
        return f.read().strip()
    return ""


def _parent(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])
    return 0


def summary(result: dict) -> str:
    times = result["times"]
    maps = [t["map"] for t in times]
    complete = [t["complete"] for t in times]
    gb = lambda b: "n/a" if b is None else f"{b / 1e9:.2f}"  # noqa: E731
    cpu = lambda s: "n/a" if s is None else f"{s:.1f}"  # noqa: E731
    per_session = (None if result["server_cpu"] is None
                   else result["server_cpu"] / result["sessions"])
    errors = sum(t["errors"] for t in times)
    images = sorted({t["images"] for t in times})
    return (f"{result['sessions']:>8} {np.median(maps):6.1f} {np.percentile(maps, 95):6.1f} "
            f"{np.median(complete):8.1f} {np.percentile(complete, 95):8.1f}  "
            f"{gb(result['server_before']):>5} → {gb(result['server_peak']):<5} "
            f"{gb(result['browser_peak']):>7} {cpu(result['server_cpu']):>6} "
            f"{'n/a' if per_session is None else f'{per_session:.2f}':>7} "
            f"{cpu(result['browser_cpu']):>7} {'/'.join(map(str, images)):>6} {errors:>6}")


HEADER = ("            map s         complete s    server GB     browser  server CPU s     "
          "browser\n"
          "sessions   p50    p95      p50      p95  warm → peak  GB peak   all   per one   "
          "CPU s  images errors")


def print_all(results: list[dict], header: str, summarise) -> None:
    """Every run's row again under one header, when there was more than one."""
    if len(results) > 1:
        print("\nAll runs:")
        print(header)
        for result in results:
            print(summarise(result))


def describe(repo: Path) -> str:
    commit = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%h %s"],
                            capture_output=True, text=True).stdout.strip()[:70]
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", "cnnviz",
                            "views", "app.py"], capture_output=True, text=True).stdout.strip()
    return f"{repo} at {commit or '?'}{' (with uncommitted changes)' if dirty else ''}"


def measure_own_server(repo: Path, count: int, args, run) -> dict:
    """``run`` (``burst`` or ``client_burst``) against a fresh server of ``repo``; its log is
    kept, and a traceback in it is reported without losing the times."""
    pid, result = {}, None
    log = Path(tempfile.gettempdir()) / f"bench-class-{os.getpid()}-{count}.log"
    try:
        with running_app(log, repo, on_start=lambda p: pid.setdefault("server", p)) as url:
            result = asyncio.run(run(url, pid["server"], count, args.quiet, args.timeout))
    except AssertionError:
        if result is None:
            raise
        print(f"the server logged a traceback: {log}")
    return result


def measure_all(repo: Path, args, run, header: str, summary) -> list[dict]:
    """Each number of sessions in ``args.sessions`` measured by ``run`` on a server of its
    own (or on ``args.url``), each result printed as it comes and all of them at the end."""
    results = []
    for count in args.sessions:
        load = os.getloadavg()[0]
        note = "" if load < 0.5 * os.cpu_count() else "  (a busy machine: times are inflated)"
        print(f"\n{count} session{'s' * (count != 1)}: load average {load:.1f} before{note}",
              flush=True)
        if getattr(args, "url", None):
            result = asyncio.run(run(args.url, args.server_pid, count, args.quiet,
                                     args.timeout))
        else:
            result = measure_own_server(repo, count, args, run)
        result["load_before"] = load
        results.append(result)
        print(header)
        print(summary(result), flush=True)
    print_all(results, header, summary)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 8, 16, 30])
    parser.add_argument("--repo", type=Path, default=ROOT,
                        help="the checkout whose app to start (default: this one)")
    parser.add_argument("--url", help="measure a server already running at this URL")
    parser.add_argument("--server-pid", type=int, help="its process id, for its memory")
    parser.add_argument("--quiet", type=float, default=2.0,
                        help="seconds without change that make a page complete")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per session")
    parser.add_argument("--json", type=Path, help="also write every session's times here")
    parser.add_argument("--clients", action="store_true",
                        help="protocol clients instead of browsers (bench/streamlit_client.py): "
                             "nothing is drawn, so the server has this machine's cores, as "
                             "with students on their own devices; the server starts without "
                             "XSRF protection, which these clients do not speak")
    args = parser.parse_args()
    repo = args.repo.resolve()
    run = client_burst if args.clients else burst
    if args.clients:  # read by the server started below (and ignored by one at --url)
        os.environ["STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION"] = "false"

    print(f"Grad-CAM page, every session uploading its own photo at the same moment; "
          f"{datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB")
    print(f"app: {args.url or describe(repo)}; "
          f"{'protocol clients (nothing drawn)' if args.clients else 'Chromium sessions'}")
    print(f"goal: {GOAL['sessions']} sessions with map p95 < {GOAL['map']:.0f} s, complete "
          f"p95 < {GOAL['complete']:.0f} s, server peak < {GOAL['memory_gb']} GB")
    print("map: seconds from the upload to the main map drawn; complete: to the whole page "
          "drawn; server GB: resident memory after the warm-up and its peak in the burst; "
          "CPU s: spent in the burst by the server (all sessions, and per session) and by the "
          "browser (or the clients), which shares this machine's cores with the server")
    results = measure_all(repo, args, run, HEADER, summary)
    if args.json:
        args.json.write_text(json.dumps({"app": args.url or describe(repo),
                                         "date": f"{datetime.now():%Y-%m-%d %H:%M}",
                                         "runs": results}, indent=1))


if __name__ == "__main__":
    main()
