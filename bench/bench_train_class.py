"""A class trains at once: N sessions press Start on a training page at the same moment, while
another student uploads photos to the Grad-CAM page, as in a lesson where half the class is
still on the previous page.

For each N the script starts a fresh ``streamlit run app.py`` (of this checkout, or of
``--repo PATH``, e.g. an older commit checked out with ``git worktree add``), opens N protocol
clients (``bench/streamlit_client.py``: they speak Streamlit's protocol, rerun the page's
live fragment every second as a browser does, and draw nothing, so the server has the cores)
and one more on the Grad-CAM page. All N press Start at once; meanwhile the Grad-CAM client
uploads a new photo every ``--every`` seconds and times each main map. It prints, over the N:

- *refused*: sessions that got a warning instead of a run (before issue 22: "4 trainings are
  already running"); *queued*: sessions whose page showed their place in the queue;
- *finished* (p50 / p95 / max): seconds from Start to the page's results (the test accuracy,
  or for the transfer lab its results header); a session still waiting after ``--timeout``
  counts as not finished;
- *Grad-CAM map* (p50 / p95, count): another session's seconds from upload to its main map,
  during the burst;
- the server's CPU seconds in the burst, its peak memory, the load average before.

Labs (``--lab``): ``numpy`` (the page's default run: the NumPy network, 3 epochs of the
offline subset), ``mnistconvnet`` (the chapter's MNISTConvNet, 3 epochs), ``transfer`` (the
transfer-learning page's default fine-tuning of the texture demo). The goal of issue 22:
30 sessions of the default NumPy run on 2 cores, none refused, p95 finished within 180 s,
Grad-CAM p95 within 3 s.

    python bench/bench_train_class.py --lab numpy --sessions 1 30
    python bench/bench_train_class.py --lab mnistconvnet --sessions 1 8 30
    python bench/bench_train_class.py --lab transfer --sessions 1 2 4 --timeout 1800
    python bench/bench_train_class.py --repo /tmp/before --sessions 6   # an older commit
"""

import argparse
import asyncio
import json
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: E402

from bench.bench_class import (  # noqa: E402
    ClientSession,
    Sampler,
    cpu,
    describe,
    measure_all,
    memory,
    photos,
)
from bench.streamlit_client import StreamlitClient  # noqa: E402

GOAL = {"sessions": 30, "finished": 180.0, "gradcam": 3.0}
LABS = {  # page, widgets set before Start (radio label -> option), what shows the run ended
    "numpy": ("train-cnn", {}, ("metric", "Test accuracy")),
    "mnistconvnet": ("train-cnn", {"Network": "Chapter's MNISTConvNet"},
                     ("metric", "Test accuracy")),
    "transfer": ("transfer-learning", {}, ("heading", "What the network learnt")),
}
REFUSALS = re.compile(r"already running|queue is full|already has a training|try again")
PLACE = re.compile(r"place (\d+) in the queue")


class Trainee:
    """One student on a training page: opens it, sets the lab's widgets, presses Start and
    watches (its client reruns the live fragment every second, as a browser does)."""

    def __init__(self, url: str, lab: str):
        self.client = StreamlitClient(url)
        self.page, self.widgets, self.done_when = LABS[lab]
        self.start_id = None

    async def open(self, timeout: float) -> None:
        client = self.client
        await client.connect()
        await client.run(self.page)
        await asyncio.wait_for(client.finished.wait(), timeout)
        states = []
        for label, option in self.widgets.items():
            state = WidgetState(id=client.widget_id("radio", label), string_value=option)
            states.append(state)
        if states:
            client.kept = states
            await client.run(self.page)
            await asyncio.wait_for(client.finished.wait(), timeout)
        self.start_id = next(e.button.id for e in reversed(client.elements)
                             if e.WhichOneof("type") == "button" and e.button.label == "Start")

    async def train(self, timeout: float) -> dict:
        """Press Start; seconds to the results, whether it was refused, the places shown."""
        client, seen = self.client, len(self.client.elements)
        start = time.monotonic()
        await client.run(self.page, widget_states=[WidgetState(id=self.start_id,
                                                               trigger_value=True)])
        places, refused, finished = [], False, None
        kind, text = self.done_when
        while time.monotonic() - start < timeout and finished is None and not refused:
            await asyncio.sleep(0.2)
            if client.error is not None:
                raise client.error
            shown = list(client.texts(seen))
            seen += len(client.elements) - seen
            for what, body in shown:
                if what == "alert" and REFUSALS.search(body):
                    refused = True
                if what == "progress" and PLACE.search(body):
                    places.append(int(PLACE.search(body).group(1)))
                if what == kind and text in body:
                    finished = time.monotonic() - start
        print(f"  {'refused' if refused else 'not finished' if finished is None else 'finished'}"
              f" after {time.monotonic() - start:.0f} s (first place shown: "
              f"{places[0] if places else 'none'})", flush=True)
        return {"finished": finished, "refused": refused,
                "first_place": places[0] if places else None, "exceptions": client.exceptions}


async def gradcam_while(url: str, busy: asyncio.Event, every: float, timeout: float) -> list:
    """Another student uploads a new photo every ``every`` seconds while ``busy`` is set;
    seconds to each main map."""
    session = ClientSession(url)
    await asyncio.wait_for(session.open(), timeout)
    times, k = [], 0
    pictures = photos(40, seed=7)
    while busy.is_set():
        began = time.monotonic()
        result = await asyncio.wait_for(
            session.upload_and_time(pictures[k % len(pictures)], f"gc-{k}.jpg"), timeout)
        times.append(result["map"])
        k += 1
        await asyncio.sleep(max(0.0, every - (time.monotonic() - began)))
    await session.client.close()
    return times


async def burst(url: str, server_pid: int | None, lab: str, count: int, args) -> dict:
    # Warm up: one Grad-CAM map and the training page (data, model) before the clock runs.
    warm = ClientSession(url)
    await asyncio.wait_for(warm.open(), args.timeout)
    await warm.upload_and_time(photos(1, seed=-1)[0], "warm-up.jpg")
    await warm.client.close()
    trainees = [Trainee(url, lab) for _ in range(count)]
    await asyncio.gather(*(t.open(args.timeout) for t in trainees))
    print(f"  {count} sessions open on the {lab} page; Start", flush=True)
    busy = asyncio.Event()
    busy.set()
    observer = asyncio.create_task(gradcam_while(url, busy, args.every, args.timeout))
    await asyncio.sleep(args.every)  # the Grad-CAM student's first map, alone: a reference
    cpu_before = cpu(server_pid)
    with Sampler(server_pid) as server:
        began = time.monotonic()
        runs = await asyncio.gather(*(t.train(args.timeout) for t in trainees))
        wall = time.monotonic() - began
    used = None if cpu_before is None else cpu(server_pid) - cpu_before
    busy.clear()
    maps = await observer
    for t in trainees:
        await t.client.close()
    return {"lab": lab, "sessions": count, "runs": runs, "gradcam": maps, "wall": wall,
            "server_cpu": used, "server_peak": server.peak, "server_before": memory(server_pid)}


def summary(result: dict) -> str:
    runs = result["runs"]
    finished = [r["finished"] for r in runs if r["finished"] is not None]
    refused = sum(r["refused"] for r in runs)
    queued = sum(r["first_place"] is not None for r in runs)
    maps = result["gradcam"][1:] or result["gradcam"]  # the first one ran before the burst
    alone = result["gradcam"][0] if result["gradcam"] else float("nan")
    pct = lambda v, q: f"{np.percentile(v, q):6.1f}" if v else "   n/a"  # noqa: E731
    server_cpu = "n/a" if result["server_cpu"] is None else f"{result['server_cpu']:.0f}"
    peak = "n/a" if result["server_peak"] is None else f"{result['server_peak'] / 1e9:.2f}"
    longest = f"{max(finished):6.1f}" if finished else "   n/a"
    return (f"{result['lab']:>12} {result['sessions']:>4} {refused:>7} {queued:>6} "
            f"{len(finished):>4} {pct(finished, 50)} {pct(finished, 95)} {longest}   "
            f"{alone:5.2f} {pct(maps, 50)} {pct(maps, 95)} {len(maps):>4}  "
            f"{server_cpu:>6} {peak:>5} {result['load_before']:5.1f}")


HEADER = ("                              finished (s)               Grad-CAM map (s)        server\n"
          "         lab   N refused queued done   p50    p95    max   alone    p50    p95    n"
          "   CPU s  GB  load")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", choices=tuple(LABS), default="numpy")
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 30])
    parser.add_argument("--repo", type=Path, default=ROOT,
                        help="the checkout whose app to start (default: this one)")
    parser.add_argument("--every", type=float, default=5.0,
                        help="seconds between the Grad-CAM student's uploads")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds a session may wait for its results")
    parser.add_argument("--json", type=Path, help="also write every session's times here")
    args = parser.parse_args()
    repo = args.repo.resolve()
    os.environ["STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION"] = "false"  # protocol clients
    print(f"{args.lab}: every session presses Start at once, another uploads to Grad-CAM every "
          f"{args.every:g} s; {datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores")
    print(f"app: {describe(repo)}")
    print(f"goal: {GOAL['sessions']} sessions of the default NumPy run, none refused, finished "
          f"p95 < {GOAL['finished']:.0f} s, Grad-CAM map p95 < {GOAL['gradcam']:.0f} s")
    args.quiet = None  # bench_class's runner passes it on; nothing here waits for quiet
    results = measure_all(
        repo, args, lambda url, pid, n, _quiet, _timeout: burst(url, pid, args.lab, n, args),
        HEADER, summary)
    if args.json:
        args.json.write_text(json.dumps({"app": describe(repo), "runs": results}, indent=1))


if __name__ == "__main__":
    main()
