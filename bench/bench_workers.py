"""How a class's Grad-CAM work is best scheduled on a few cores: the model work of N sessions
that upload a photo at the same moment, without Streamlit or browsers (bench/bench_class.py
measures the whole app), so that several ways can be compared in one process, in alternating
rounds, as ratios that survive a busy machine.

Each session does what the Grad-CAM page asks for: the top 5, then the main maps (predicted
and second class at the default layer) and then the depth strip (the predicted class at the
last layer of each resolution). Seconds from the start to its main maps (*map*) and to its
strip (*complete*), p50 and p95 over the sessions, for:

- ``per layer, torch threads``: one thread per session, one pass per map, torch's default
  threads (the page before issue 12);
- ``one pass, torch threads``: the same with ``cam.grad_cams`` (one pass for the two main
  maps, one for the whole strip);
- ``one pass, 1 thread``: and torch limited to one thread per session;
- ``workers``: ``ModelWorkers`` (a worker per core, one torch thread each), every job first
  come first served;
- ``workers, map first``: the same, with every main map ahead of any strip (``priority``, as
  the app runs them).

Also whether a batch of photos costs less than single passes (it would make batching
requests of several sessions worthwhile).

    python bench/bench_workers.py [--sessions 30] [--rounds 3]
"""

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import torch
from PIL import ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnnviz import cam, images, models  # noqa: E402
from cnnviz.models.workers import ModelWorkers, cores  # noqa: E402

DEFAULT_THREADS = torch.get_num_threads()


def photos(count: int) -> list:
    """``count`` different photos: the samples, shifted, mirrored and rotated in turn."""
    samples = [images.load_image(p) for p in images.sample_images().values()]
    result = []
    for i in range(count):
        img = samples[i % len(samples)].rotate(3 * (i // len(samples)))
        result.append(ImageOps.mirror(img) if i % 2 else img)
    return result


def session_per_layer(bundle, img, layer, strip, run):
    top = run(bundle.classify, img)
    predicted, second = top[0][0], top[1][0]
    for target in (predicted, second):
        run(cam.grad_cam, bundle, img, target=target, layer=layer)
    mapped = time.perf_counter()
    for name in strip:
        if name != layer:
            run(cam.grad_cam, bundle, img, target=predicted, layer=name)
    return mapped


def session_one_pass(bundle, img, layer, strip, run, strip_priority=0):
    top = run(bundle.classify, img)
    predicted, second = top[0][0], top[1][0]
    run(cam.grad_cams, bundle, img, (predicted, second), (layer,))
    mapped = time.perf_counter()
    run(cam.grad_cams, bundle, img, (predicted,), strip, priority=strip_priority)
    return mapped


def direct(function, *args, priority=0, **kwargs):
    return function(*args, **kwargs)


def policies(workers: ModelWorkers) -> dict:
    """name -> (torch threads, session function, how a session runs model work)."""
    return {
        "per layer, torch threads": (DEFAULT_THREADS, session_per_layer, direct),
        "one pass, torch threads": (DEFAULT_THREADS, session_one_pass, direct),
        "one pass, 1 thread": (1, session_one_pass, direct),
        "workers": (1, session_one_pass, workers.run),
        "workers, map first": (1, lambda *a: session_one_pass(*a, strip_priority=1),
                               workers.run),
    }


def class_at_once(bundle, imgs, layer, strip, session, run) -> tuple[list, list]:
    """Every session on its own thread, started together; (map, complete) seconds each."""
    maps, complete = [0.0] * len(imgs), [0.0] * len(imgs)
    start = threading.Barrier(len(imgs) + 1)

    def one(i):
        start.wait()
        maps[i] = session(bundle, imgs[i], layer, strip, run) - t0
        complete[i] = time.perf_counter() - t0

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(imgs))]
    for thread in threads:
        thread.start()
    t0 = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    return maps, complete


def p95(values) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def batch_ratios(bundle, layer) -> dict[str, float]:
    """Time of one batch of 8 / time of 8 single passes, one torch thread."""
    torch.set_num_threads(1)
    x = torch.stack([bundle.preprocess(img) for img in photos(8)])
    cases = {
        "forward": lambda b: torch.inference_mode()(bundle.model)(b),
        "Grad-CAM at the default layer": lambda b: cam.grad_cam(bundle, b, layer=layer),
    }
    ratios = {}
    for name, call in cases.items():
        rounds = []
        for _ in range(5):
            t = time.perf_counter()
            for i in range(len(x)):
                call(x[i:i + 1])
            single = time.perf_counter() - t
            t = time.perf_counter()
            call(x)
            rounds.append((time.perf_counter() - t) / single)
        ratios[name] = statistics.median(rounds)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bundle = models.load_model()
    layer = cam.default_layer(bundle)
    strip = tuple(cam.depth_layers(bundle, layer))
    workers = ModelWorkers(idle_s=5)
    chosen = policies(workers)
    results = {name: [] for name in chosen}
    print(f"{args.sessions} sessions at once, {bundle.name}, {cores()} cores, torch default "
          f"{DEFAULT_THREADS} threads, {args.rounds} rounds; load average "
          f"{__import__('os').getloadavg()[0]:.1f}")
    for round_number in range(args.rounds):
        imgs = photos(args.sessions)  # the same photos for every policy of a round
        names = list(chosen)
        shift = round_number % len(names)  # each policy runs early in some rounds, late in others
        for name in names[shift:] + names[:shift]:
            threads, session, run = chosen[name]
            torch.set_num_threads(threads)
            results[name].append(class_at_once(bundle, imgs, layer, strip, session, run))
    reference = next(iter(results))
    print(f"{'':<26}{'map p50':>9}{'map p95':>9}{'complete p50':>14}{'complete p95':>14}"
          f"   complete p95 / {reference!r}")
    for name, runs in results.items():
        summary = [statistics.median(f(run[k]) for run in runs)
                   for k in (0, 1) for f in (statistics.median, p95)]
        ratio = statistics.median(p95(run[1]) / p95(ref[1])
                                  for run, ref in zip(runs, results[reference]))
        print(f"{name:<26}{summary[0]:8.1f}s{summary[1]:8.1f}s{summary[2]:13.1f}s"
              f"{summary[3]:13.1f}s   {ratio:.2f}")
    for name, ratio in batch_ratios(bundle, layer).items():
        print(f"a batch of 8 / 8 single passes, {name}: {ratio:.2f}")
    torch.set_num_threads(DEFAULT_THREADS)


if __name__ == "__main__":
    main()
