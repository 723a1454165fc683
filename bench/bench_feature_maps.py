"""The feature-map page on the CPU, in units of one forward pass of EfficientNet-Lite0, and the
choice between hooks under a lock and torchvision's FX feature extractor.

1. Another layer of a photo already seen (a cache hit): the capture, the channel ranking and
   the channel grid figure up to the JSON Streamlit sends. Target: below 0.2 forward passes.
   Also the whole layer view (grid, large map, overlay, histogram). For a deep layer of many
   small maps and an early one of few large maps.
2. The first view of a photo: the forward pass that stores every layer, and the same figures.
3. Hooks under the bundle's lock against ``create_feature_extractor``, for the stage outputs
   and for every layer: the trace a new set of layers costs, one capture each way, four
   threads capturing at once, and whether the extractor's outputs equal the hooks'.

Every time is the median of several runs, the contenders run alternately (load from other
processes on a shared machine falls on both alike), all in this one process. ``--threads 1``
sets torch's intra-op threads: on a machine that other processes keep busy, OpenMP's threads
wait for each other and multi-threaded times say more about the load than about the code.

    python bench/bench_feature_maps.py [--threads N]
"""

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import plotly.io
import plotly.tools
import torch
from torchvision.models.feature_extraction import create_feature_extractor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cnnviz import activations, images, models  # noqa: E402
from cnnviz.activations.cache import ActivationCache  # noqa: E402
from cnnviz.figures import feature_maps as fm  # noqa: E402

PHOTO = "Cat (Chelsea)"
FIRST_LAYER = "_blocks.4"  # the page's first layer: the middle stage's output, 40 × 28 × 28
# Layers to switch to: a deep one with many small maps, an early one with few large maps.
OTHER_LAYERS = {"_blocks.10._depthwise_conv": "672 × 14 × 14",
                "_blocks.1._expand_conv": "96 × 112 × 112"}
PER_PAGE = 16


def median_times(fns: dict, repeats: int, min_time: float = 1.0) -> dict:
    """Median seconds of each function, run in turn, after one warm-up each."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    start = time.perf_counter()
    while min(map(len, times.values())) < repeats or time.perf_counter() - start < min_time:
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(values) for name, values in times.items()}


def as_streamlit_sends(fig) -> str:
    """What ``st.plotly_chart`` does to a figure before sending it (streamlit 1.67,
    elements/plotly_chart.py): validate into a dict, then JSON."""
    figure = plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True)
    return plotly.io.to_json(figure, validate=False)


def show_layer(bundle, img, layer, cache, *, everything: bool) -> None:
    """The server-side work of the page for one layer: the grid, and with ``everything`` the
    selected channel's large map, overlay and histogram too."""
    fmap = activations.to_float32(activations.capture(bundle, img, layer, cache=cache)[layer])
    ranked = activations.rank_channels(fmap, "mean")
    channel = int(ranked[0])
    figures = [fm.channel_grid(fmap, ranked[:PER_PAGE], selected=channel)]
    if everything:
        values = fmap[channel]
        figures += [fm.channel_view(values, signed=bool(fmap.min() < 0)),
                    fm.overlay(activations.network_input(bundle, img), values),
                    fm.value_histogram(values)]
    for fig in figures:
        as_streamlit_sends(fig)


def page_ratios(bundle, img) -> None:
    batch = bundle.batch(img)
    warm = ActivationCache()
    activations.capture(bundle, img, FIRST_LAYER, cache=warm)

    def forward():
        with torch.inference_mode():
            bundle.model(batch)

    switches = {}
    for layer in OTHER_LAYERS:
        switches[f"grid {layer}"] = lambda layer=layer: show_layer(bundle, img, layer, warm,
                                                                   everything=False)
        switches[f"view {layer}"] = lambda layer=layer: show_layer(bundle, img, layer, warm,
                                                                   everything=True)
    t = median_times({
        "forward": forward,
        **switches,
        "first": lambda: show_layer(bundle, img, FIRST_LAYER, ActivationCache(),
                                    everything=True),
    }, repeats=15)
    f = t["forward"]
    print(f"one forward pass ({bundle.name}, 1 × 3 × 224 × 224):  {f * 1e3:7.1f} ms")
    for layer, shape in OTHER_LAYERS.items():
        print(f"another layer ({shape}), cache hit:")
        print(f"  the channel grid:                     {t[f'grid {layer}'] * 1e3:7.1f} ms  "
              f"ratio {t[f'grid {layer}'] / f:.3f}  (target < 0.2)")
        print(f"  grid, large map, overlay, histogram:  {t[f'view {layer}'] * 1e3:7.1f} ms  "
              f"ratio {t[f'view {layer}'] / f:.3f}")
    print(f"first view of the photo (all four):     {t['first'] * 1e3:7.1f} ms  "
          f"ratio {t['first'] / f:.3f}  (a pass that stores all "
          f"{len(activations.layer_names(bundle))} layers)")


def wrong_outputs(bundle, img) -> tuple[int, int, int]:
    """(missing, different, total) of an FX extractor of every layer, against the hooks."""
    names = activations.layer_names(bundle)
    batch = bundle.batch(img)
    extractor = create_feature_extractor(bundle.model, return_nodes=names)
    with torch.inference_mode():
        fx = extractor(batch)
    _, taps = activations.forward_with_taps(bundle, batch, names)
    missing = sum(name not in fx for name in names)
    different = sum(name in fx and (fx[name].shape != taps[name].shape
                                    or not torch.equal(fx[name], taps[name])) for name in names)
    return missing, different, len(names)


def threaded(fn, threads: int, calls: int) -> float:
    """Seconds for ``threads`` threads to make ``calls`` calls of ``fn`` each."""
    start = threading.Barrier(threads + 1)

    def work():
        start.wait()
        for _ in range(calls):
            fn()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    start.wait()
    t0 = time.perf_counter()
    for thread in pool:
        thread.join()
    return time.perf_counter() - t0


def hooks_against_fx(bundle, img, names: list[str], what: str, *, threads: int = 0) -> None:
    """One capture of ``names`` each way, the trace a new set costs, and optionally
    ``threads`` threads capturing at once (hooks take turns at the lock, FX needs none)."""
    batch = bundle.batch(img)
    extractor = create_feature_extractor(bundle.model, return_nodes=names)

    def fx_call():
        with torch.inference_mode():
            extractor(batch)

    t = median_times({
        "hooks": lambda: activations.forward_with_taps(bundle, batch, names),
        "fx_call": fx_call,
        "fx_build": lambda: create_feature_extractor(bundle.model, return_nodes=names),
    }, repeats=9)
    print(f"\n{what} of {bundle.name} ({len(names)} layers):")
    print(f"  hooks under the lock, one capture:   {t['hooks'] * 1e3:7.1f} ms")
    print(f"  FX extractor, one capture:           {t['fx_call'] * 1e3:7.1f} ms  "
          f"(hooks / FX {t['hooks'] / t['fx_call']:.2f})")
    print(f"  FX trace for a new set of layers:    {t['fx_build'] * 1e3:7.1f} ms  "
          f"(= {t['fx_build'] / t['fx_call']:.1f} captures)")
    if threads:
        calls = 4
        together = median_times({
            "hooks": lambda: threaded(
                lambda: activations.forward_with_taps(bundle, batch, names), threads, calls),
            "fx": lambda: threaded(fx_call, threads, calls),
        }, repeats=3, min_time=0)
        print(f"  {threads} threads × {calls} captures: hooks (taking turns at the lock) "
              f"{together['hooks']:.2f} s, FX (no lock) {together['fx']:.2f} s  "
              f"(hooks / FX {together['hooks'] / together['fx']:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, help="torch intra-op threads")
    threads = parser.parse_args().threads
    if threads:
        torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} "
          f"cores; load average at start {os.getloadavg()[0]:.1f}\n")
    lite0 = models.load_model()
    img = images.load_image(images.sample_images()[PHOTO])
    page_ratios(lite0, img)
    stages = [layer.name for layer in activations.stage_outputs(lite0)]
    hooks_against_fx(lite0, img, stages, "The stage outputs", threads=4)
    hooks_against_fx(lite0, img, activations.layer_names(lite0), "Every layer (what the page "
                     "stores on a photo's first view)")
    print("\nFX extractor of every listed layer against the hooks (missing, different, of):")
    for bundle in (lite0, models.load_model("resnet18", pretrained=False)):
        missing, different, total = wrong_outputs(bundle, img)
        print(f"  {bundle.label:28s} {missing:3d} missing, {different:3d} different, "
              f"of {total}")
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
